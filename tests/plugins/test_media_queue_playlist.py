"""media_queue and the room's playlist (issue 15's last money gap): an item already on the
playlist is refused before anything is held; an unconfirmed or silent answer is settled by the
playlist (there → spent, absent → refunded, unknown → refunded and logged at WARNING); at
start-up a purchase never sent is refunded and one sent is settled by the playlist, the user
told either way. Everything through PMs, the real router and the real ledger; the robot's side
is the test transport, whose playlist is what CyTube holds."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from economy_plugins.media_queue.settlement import ORPHAN_GRACE_SECONDS
from economy_plugins.media_queue.tables import purchases

from economy_core import RoomUser
from economy_core.testing import AppHarness, MakeApp, wait_until

from .media_kit import (
    ADMIN_RANK,
    CHANNEL,
    FakeMediaCms,
    addvideos,
    check_books,
    media_app,
    mediacms,
    moved,
    queues_used,
)

__all__ = ["mediacms"]

MANIFEST = "{url}/api/v1/media/cytube/{token}.json?format=json"


def entry(fake: FakeMediaCms, token: str) -> tuple[str, str]:
    return ("cm", MANIFEST.format(url=fake.url, token=token))


async def statuses(app: AppHarness) -> list[str]:
    async with app.app.engine.connect() as conn:
        return [r.status for r in (await conn.execute(
            sa.select(purchases).order_by(purchases.c.id))).all()]


def spent(pms: list[str]) -> bool:
    return any("is in the playlist" in m and "−250 Z" in m for m in pms)


def refunded(pms: list[str], why: str = "") -> bool:
    return any("was not queued" in m and why in m and "250 Z refunded" in m for m in pms)


# -- (a) already on the playlist: nothing held ---------------------------------------------------


async def test_yes_refuses_an_item_already_on_the_playlist(make_app: MakeApp,
                                                           mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms, balance=100_000)
    await app.pm("alice", "queue bunny01")
    await app.pm("alice", "yes")
    assert app.transport.on_playlist(CHANNEL) == [entry(mediacms, "bunny01")]
    for kind in ("queue", "playnext", "forcenow"):
        [question] = await app.pm("bob", f"{kind} bunny01")
        assert "YES" in question
        assert await app.pm("bob", "YES") == [
            "🎬 “Big Buck Bunny” is already on the playlist. Nothing was charged."]
    assert await moved(app, "bob") == [] and len(addvideos(app)) == 1
    assert await app.app.approvals.pending(CHANNEL) == []
    # once it played and left the playlist, it can be bought again
    app.transport.play_next(CHANNEL)
    await app.pm("bob", "queue bunny01")
    await app.pm("bob", "yes")
    assert await moved(app, "bob") == [("media_purchase", -250)]
    await check_books(app)


@pytest.mark.parametrize("state", ["unknown", "malformed"])
async def test_an_unknown_playlist_does_not_block_and_cytube_refuses_duplicates(
        make_app: MakeApp, mediacms: FakeMediaCms, state: str) -> None:
    app = await media_app(make_app, mediacms)
    await app.pm("alice", "queue bunny01")
    await app.pm("alice", "yes")
    app.transport.playlist_state = state
    await app.pm("bob", "queue bunny01")
    [held] = await app.pm("bob", "yes")
    assert "250 Z held" in held  # the bot could not tell; CyTube refuses it
    assert len(addvideos(app)) == 2
    assert await moved(app, "bob") == [("media_purchase", -250), ("refund", 250)]
    assert refunded(app.pms_to("bob"), "already on the playlist")
    await check_books(app)


# -- (c) an unconfirmed or silent answer: the playlist decides -----------------------------------


@pytest.mark.parametrize("answer", ["unconfirmed", "silent"])
async def test_unanswered_but_on_the_playlist_is_spent(make_app: MakeApp,
                                                       mediacms: FakeMediaCms,
                                                       answer: str) -> None:
    app = await media_app(make_app, mediacms)
    app.transport.media_answer = answer
    app.transport.accepted_late = True
    started = app.clock.now()
    await app.pm("alice", "queue bunny01")
    await app.pm("alice", "yes")
    assert await moved(app, "alice") == [("media_purchase", -250)]
    assert await app.balance("alice") == 9_750
    assert spent(app.pms_to("alice")) and not refunded(app.pms_to("alice"))
    assert await queues_used(app, "alice") == 1
    assert app.chat_lines() == ["🎬 alice queued Big Buck Bunny (250 Z-Coins)"]
    assert await statuses(app) == ["queued"]
    assert app.clock.now() == started  # seen on the first look: no wait
    await check_books(app)


async def test_the_playlist_is_looked_at_again_after_a_short_wait(
        make_app: MakeApp, mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms)
    app.transport.media_answer = "unconfirmed"
    app.transport.accepted_late = True
    app.transport.playlist_lag = 1  # the robot's state shows it only on the second read
    started = app.clock.now()
    await app.pm("alice", "queue bunny01")
    await app.pm("alice", "yes")
    assert spent(app.pms_to("alice"))
    assert await moved(app, "alice") == [("media_purchase", -250)]
    assert (app.clock.now() - started).total_seconds() == 2  # one wait on the bot's clock


@pytest.mark.parametrize("answer", ["unconfirmed", "silent"])
async def test_unanswered_and_not_on_the_playlist_is_refunded(make_app: MakeApp,
                                                              mediacms: FakeMediaCms,
                                                              answer: str) -> None:
    app = await media_app(make_app, mediacms)
    app.transport.media_answer = answer
    started = app.clock.now()
    await app.pm("alice", "queue bunny01")
    await app.pm("alice", "yes")
    assert await moved(app, "alice") == [("media_purchase", -250), ("refund", 250)]
    assert await app.balance("alice") == 10_000 and await queues_used(app, "alice") == 0
    assert refunded(app.pms_to("alice")) and not spent(app.pms_to("alice"))
    assert app.transport.on_playlist(CHANNEL) == []
    assert (app.clock.now() - started).total_seconds() == 4  # three looks, bounded
    await check_books(app)


@pytest.mark.parametrize("state", ["unknown", "malformed"])
async def test_unanswered_with_the_playlist_unknown_is_refunded_and_logged(
        make_app: MakeApp, mediacms: FakeMediaCms, caplog: pytest.LogCaptureFixture,
        state: str) -> None:
    app = await media_app(make_app, mediacms)
    app.transport.media_answer = "unconfirmed"
    app.transport.accepted_late = True  # in the room, but the bot cannot see it
    app.transport.playlist_state = state
    with caplog.at_level(logging.WARNING):
        await app.pm("alice", "queue bunny01")
        await app.pm("alice", "yes")
    assert await moved(app, "alice") == [("media_purchase", -250), ("refund", 250)]
    assert refunded(app.pms_to("alice"), "did not confirm")
    assert any(r.levelno == logging.WARNING and "playlist is unknown" in r.getMessage()
               for r in caplog.records)
    await check_books(app)


async def test_a_confirmed_item_needs_no_look(make_app: MakeApp,
                                              mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms)
    app.transport.playlist_state = "unknown"  # irrelevant: CyTube confirmed it
    await app.pm("alice", "queue bunny01")
    await app.pm("alice", "yes")
    assert spent(app.pms_to("alice"))
    assert await moved(app, "alice") == [("media_purchase", -250)]


# -- (d) start-up: never sent → refund; sent → the playlist decides ------------------------------


async def crash_during_purchase(app: AppHarness, *, commits: int) -> AppHarness:
    """alice buys bunny01; the process dies after ``commits`` more commits; then restarts."""
    await app.pm("alice", "queue bunny01")
    app.arm_crash(commits)
    await app.pm("alice", "yes")
    assert app.breaker is not None and app.breaker.tripped
    return await app.restart()


async def test_a_purchase_never_sent_is_refunded_at_start_up(make_app: MakeApp,
                                                             mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms)
    app = await crash_during_purchase(app, commits=1)  # the hold commits, "sent" does not
    await app.settle()
    assert addvideos(app) == []
    assert await moved(app, "alice") == [("media_purchase", -250), ("refund", 250)]
    assert refunded(app.pms_to("alice"), "the bot restarted before sending it")
    assert await statuses(app) == ["refunded"]
    await check_books(app)


async def test_sent_and_in_the_room_is_spent_at_start_up(make_app: MakeApp,
                                                         mediacms: FakeMediaCms) -> None:
    """CyTube took the item; the process died before the answer was stored."""
    app = await media_app(make_app, mediacms)
    app = await crash_during_purchase(app, commits=2)  # hold, sent; the answer is lost
    await app.settle()
    assert len(addvideos(app)) == 1
    assert app.transport.on_playlist(CHANNEL) == [entry(mediacms, "bunny01")]
    assert await moved(app, "alice") == [("media_purchase", -250)]
    assert await app.balance("alice") == 9_750 and await queues_used(app, "alice") == 1
    assert spent(app.pms_to("alice"))
    assert await statuses(app) == ["queued"]
    await check_books(app)


async def test_sent_and_not_in_the_room_is_refunded_at_start_up(make_app: MakeApp,
                                                                mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms)
    app.transport.media_answer = "silent"  # CyTube never took it
    app = await crash_during_purchase(app, commits=2)
    await app.settle()
    assert len(addvideos(app)) == 1 and app.transport.on_playlist(CHANNEL) == []
    assert await moved(app, "alice") == [("media_purchase", -250), ("refund", 250)]
    assert refunded(app.pms_to("alice"), "not on the playlist")
    await check_books(app)


async def test_sent_with_the_playlist_unknown_waits_for_the_room(
        make_app: MakeApp, mediacms: FakeMediaCms) -> None:
    """Unknown at start-up (the bus is not up yet in production): decided when the room is
    seeded from the robot — here the playlist is readable again by then: spent."""
    app = await media_app(make_app, mediacms)
    app.transport.playlist_state = "unknown"
    app = await crash_during_purchase(app, commits=2)
    await app.settle()
    assert await statuses(app) == ["sent"] and await app.balance("alice") == 9_750
    app.transport.playlist_state = "known"
    await app.seed([RoomUser("boss", ADMIN_RANK)])
    assert await statuses(app) == ["queued"]
    assert spent(app.pms_to("alice"))
    assert await moved(app, "alice") == [("media_purchase", -250)]
    await check_books(app)


async def test_sent_with_the_playlist_still_unknown_is_refunded_and_logged(
        make_app: MakeApp, mediacms: FakeMediaCms, caplog: pytest.LogCaptureFixture) -> None:
    app = await media_app(make_app, mediacms)
    app.transport.playlist_state = "unknown"
    app = await crash_during_purchase(app, commits=2)
    with caplog.at_level(logging.WARNING):
        await app.seed([RoomUser("boss", ADMIN_RANK)])
    assert await statuses(app) == ["refunded"]
    assert await moved(app, "alice") == [("media_purchase", -250), ("refund", 250)]
    assert refunded(app.pms_to("alice"), "could not see the playlist")
    assert any(r.levelno == logging.WARNING and "playlist is unknown" in r.getMessage()
               for r in caplog.records)
    await check_books(app)


async def test_sent_and_never_seeded_is_refunded_after_the_grace(
        make_app: MakeApp, mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms)
    app.transport.playlist_state = "unknown"
    app = await crash_during_purchase(app, commits=2)
    await app.advance(seconds=ORPHAN_GRACE_SECONDS - 60)
    assert await statuses(app) == ["sent"]
    await app.advance(seconds=60)
    assert await statuses(app) == ["refunded"]
    assert await moved(app, "alice") == [("media_purchase", -250), ("refund", 250)]
    await check_books(app)


@pytest.mark.parametrize(("answer", "in_room"), [("queued", True), ("silent", False)])
async def test_an_approved_force_play_sent_before_a_crash(make_app: MakeApp,
                                                          mediacms: FakeMediaCms, answer: str,
                                                          in_room: bool) -> None:
    """In the room → the approved charge stands; not in the room → its price is given back."""
    if True:
        app = await media_app(make_app, mediacms, balance=100_000)
        app.transport.media_answer = answer
        await app.pm("alice", "forcenow bunny01")
        await app.pm("alice", "yes")
        app.arm_crash(3)  # the approval, the read of approved rows, "sending"; the answer is lost
        await app.pm("boss", "approve 1", rank=ADMIN_RANK)
        breaker = app.breaker
        assert breaker is not None
        await wait_until(lambda: breaker.tripped, 10)  # the send runs after the approval
        assert len(addvideos(app)) == 1  # it went out before the process died
        app = await app.restart()
        await app.settle()
        assert len(addvideos(app)) == 1  # sent once, before the crash: not again
        assert (app.transport.on_playlist(CHANNEL) != []) is in_room
        expected: list[tuple[str, int]] = [("media_purchase", -100_000)]
        if not in_room:
            expected.append(("media_refund", 100_000))
        assert await moved(app, "alice") == expected
        assert await statuses(app) == ["queued" if in_room else "compensated"]
        await check_books(app)
