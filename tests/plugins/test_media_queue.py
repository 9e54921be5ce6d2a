"""media_queue (SPEC §3.7, issue 15): search → pick → YES → held, queued at the robot's word and
charged; refusals and silence refunded; prices, limits, blackouts, force-play approvals, the
now-playing credit and every bad input of the issue — each a clear reply, no Z moved."""

from __future__ import annotations

from datetime import UTC, datetime

from economy_plugins.media_queue import MediaQueue

from economy_core import hookimpl
from economy_core.testing import MakeApp

from .media_kit import (
    ADMIN_RANK,
    CHANNEL,
    PRICE,
    FakeMediaCms,
    addvideos,
    check_books,
    media_app,
    mediacms,
    moved,
    queues_used,
)
from .test_social_kit import discount

__all__ = ["mediacms"]

MANIFEST = "{url}/api/v1/media/cytube/{token}.json?format=json"


# -- the happy path -------------------------------------------------------------------------------


async def test_search_pick_yes_queues_and_charges(make_app: MakeApp,
                                                  mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms)
    [listing] = await app.pm("alice", "search big buck")
    assert "2 results" in listing
    assert "1. Big Buck Bunny [9:56] id bunny01 — 250 Z" in listing
    assert "2. Big Buck Bunny Returns [10:00] id bunny02 — 250 Z" in listing
    assert "Reply with a number (1–2)" in listing
    [question] = await app.pm("alice", "1")
    assert "Big Buck Bunny" in question and "[9:56]" in question and "250 Z" in question
    assert "YES" in question
    assert await moved(app, "alice") == []
    [held] = await app.pm("alice", "yes")
    assert "250 Z held" in held
    assert addvideos(app) == [{"type": "cm", "id": MANIFEST.format(url=mediacms.url,
                                                                   token="bunny01"),
                               "pos": "end", "temp": True}]
    assert await moved(app, "alice") == [("media_purchase", -250)]
    assert await app.balance("alice") == 9_750
    assert any("is in the playlist (at the end). −250 Z. Balance: 9,750 Z" in m
               for m in app.pms_to("alice"))
    assert app.chat_lines() == ["🎬 alice queued Big Buck Bunny (250 Z-Coins)"]
    assert await queues_used(app, "alice") == 1
    await check_books(app)


async def test_search_asks_the_search_route_with_the_query(make_app: MakeApp,
                                                           mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms, mediacms={"api_token": "s3cret"})
    await app.pm("alice", "search space show")
    path, query, auth = mediacms.requests[0]
    assert path == "/api/v1/search" and query == "q=space%20show"
    assert auth == "Token s3cret"


async def test_queue_and_playnext_by_id_and_the_tiers(make_app: MakeApp,
                                                      mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms, balance=100_000, max_queues_per_day=10)
    for token in ("ep30min", "ep60min", "movie01"):
        [question] = await app.pm("alice", f"queue {token}")
        assert f"{PRICE[token]:,} Z" in question
        await app.pm("alice", "YES")
    [question] = await app.pm("alice", "playnext bunny01")
    assert "Play next" in question and "10,000 Z" in question
    await app.pm("alice", "Yes")
    assert [c["pos"] for c in addvideos(app)] == ["end", "end", "end", "next"]
    assert await moved(app, "alice") == [("media_purchase", -500), ("media_purchase", -750),
                                         ("media_purchase", -1000),
                                         ("media_purchase", -10_000)]
    assert await queues_used(app, "alice") == 4
    await check_books(app)


async def test_file_urls_when_configured(make_app: MakeApp, mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms, mediacms={"item_source": "fi"})
    await app.pm("alice", "queue bunny01")
    await app.pm("alice", "yes")
    assert addvideos(app)[0]["type"] == "fi"
    assert addvideos(app)[0]["id"] == f"{mediacms.url}/media/original/bunny01.mp4"


async def test_discount_shows_in_list_and_confirmation(make_app: MakeApp,
                                                       mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms, plugins=[MediaQueue, discount(10.0)])
    [listing] = await app.pm("alice", "search movie")
    assert "900 Z (was 1,000 Z, −10%)" in listing
    [question] = await app.pm("alice", "1")
    assert "900 Z, discount 10%" in question
    await app.pm("alice", "yes")
    assert await moved(app, "alice") == [("media_purchase", -900)]


# -- the robot's word -----------------------------------------------------------------------------


async def test_refused_is_refunded_in_full(make_app: MakeApp, mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms)
    app.transport.media_answer = "refused"
    await app.pm("alice", "queue bunny01")
    await app.pm("alice", "yes")
    assert await app.balance("alice") == 10_000
    assert await moved(app, "alice") == [("media_purchase", -250), ("refund", 250)]
    notice = app.pms_to("alice")[-1]
    assert "was not queued" in notice and "already on the playlist" in notice
    assert "250 Z refunded. Balance: 10,000 Z" in notice
    assert app.chat_lines() == [] and await queues_used(app, "alice") == 0
    await check_books(app)


async def test_silence_and_unconfirmed_are_refunded(make_app: MakeApp,
                                                    mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms)
    for answer, why in (("silent", "did not answer"), ("unconfirmed", "did not confirm"),
                        ("down", "not connected")):
        app.transport.media_answer = answer
        await app.pm("alice", "queue bunny01")
        await app.pm("alice", "yes")
        assert why in app.pms_to("alice")[-1]
        assert await app.balance("alice") == 10_000
    await check_books(app)


async def test_catalogue_down_charges_nothing(make_app: MakeApp,
                                              mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms)
    mediacms.mode = "500"
    for text in ("search bunny", "queue bunny01", "playnext bunny01"):
        [reply] = await app.pm("alice", text)
        assert "catalogue is unavailable" in reply and "Nothing was charged" in reply
    assert len(mediacms.requests) == 9  # three tries each, the backoff on the fake clock
    assert await moved(app, "alice") == [] and addvideos(app) == []


async def test_catalogue_fails_between_question_and_yes(make_app: MakeApp,
                                                        mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms, mediacms={"cache_seconds": 0})
    await app.pm("alice", "queue bunny01")
    mediacms.mode = "garbage"
    [reply] = await app.pm("alice", "yes")
    assert "catalogue is unavailable" in reply
    assert await moved(app, "alice") == [] and addvideos(app) == []


async def test_not_configured(make_app: MakeApp) -> None:
    app = await media_app(make_app, None)
    for text in ("search cats", "queue bunny01", "forcenow bunny01", "status"):
        assert (await app.pm("alice", text)) == ["🎬 Media queueing is not configured here."]


# -- bad input (the list) -----------------------------------------------------------------


async def test_bad_input_gets_clear_replies_and_moves_nothing(make_app: MakeApp,
                                                              mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms)
    [reply] = await app.pm("alice", "queue")
    assert reply.startswith("Usage: queue <id>")
    [reply] = await app.pm("alice", "queue ../../etc")
    assert "is not a catalogue id" in reply
    [reply] = await app.pm("alice", "search " + "x" * 2000)
    assert "too long" in reply
    [reply] = await app.pm("alice", "search " + "y" * 300)
    assert "That search is too long (300 characters; at most 200)" in reply
    assert (await app.pm("alice", "YES")) == ["There is nothing to confirm right now. Nothing "
                                              "was charged."]
    [reply] = await app.pm("alice", "3")
    assert "no list to pick from" in reply
    [reply] = await app.pm("alice", "queue nosuchid")
    assert "is not in the catalogue" in reply
    [reply] = await app.pm("alice", "queue a b")
    assert "too many words" in reply
    assert await moved(app, "alice") == [] and addvideos(app) == []


async def test_two_yes_in_a_row_buy_once(make_app: MakeApp, mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms)
    await app.pm("alice", "queue bunny01")
    await app.pm("alice", "YES")
    [second] = await app.pm("alice", "YES")
    assert "nothing to confirm" in second
    assert await moved(app, "alice") == [("media_purchase", -250)]
    assert len(addvideos(app)) == 1


async def test_anything_but_yes_cancels_and_confirmations_expire(
        make_app: MakeApp, mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms)
    await app.pm("alice", "queue bunny01")
    assert (await app.pm("alice", "nope")) == ["Cancelled. Nothing was charged."]
    await app.pm("alice", "queue bunny01")
    await app.advance(seconds=121)
    assert "nothing to confirm" in (await app.pm("alice", "yes"))[0]
    assert await moved(app, "alice") == []


async def test_picking_out_of_range_and_dropping_the_list(make_app: MakeApp,
                                                          mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms)
    await app.pm("alice", "search big")
    [reply] = await app.pm("alice", "9")
    assert reply.startswith("Enter 1–3")
    [question] = await app.pm("alice", "2")
    assert "The Big Movie" in question
    await app.pm("alice", "no")
    await app.pm("alice", "search big")
    await app.pm("alice", "status")  # another command drops the list
    assert "no list to pick from" in (await app.pm("alice", "1"))[0]
    assert await moved(app, "alice") == []


async def test_too_poor_is_refused_before_asking(make_app: MakeApp,
                                                 mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms, balance=100)
    [reply] = await app.pm("alice", "queue bunny01")
    assert "Not enough coins" in reply and "you have 100 Z" in reply
    assert await moved(app, "alice") == []


async def test_spent_between_question_and_yes(make_app: MakeApp,
                                              mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms, balance=300)
    await app.pm("alice", "queue bunny01")
    await app.ledger.debit(CHANNEL, "alice", 100, type="admin_deduct")
    [reply] = await app.pm("alice", "yes")
    assert "Not enough coins" in reply and "Balance: 200 Z" in reply
    assert await moved(app, "alice") == [("admin_deduct", -100)] and addvideos(app) == []


async def test_help_lists_the_media_commands(make_app: MakeApp, mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms)
    listing = "\n".join(await app.pm("alice", "help"))
    assert "forcenow, playnext, queue, search, status" in listing
    assert "pick" not in listing and "yes" not in listing
    assert "queue <id>" in "\n".join(await app.pm("alice", "help queue"))


# -- limits ---------------------------------------------------------------------------------------


class ExtraQueue:
    """A stand-in for the ranks plugin's extra-queue perk."""

    name = "perk"

    def __init__(self, ctx: object) -> None:
        self.ctx = ctx

    @hookimpl
    def economy_allowance_bonus(self, channel: str, username: str,
                                allowance: str) -> int | None:
        return 1 if allowance == "queue" and username == "bob" else None


async def test_daily_limit_with_the_rank_perk(make_app: MakeApp, mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms, plugins=[MediaQueue, ExtraQueue])
    for user, allowed in (("alice", 3), ("bob", 4)):
        for _ in range(allowed):
            await app.pm(user, "queue bunny01")
            await app.pm(user, "yes")
            assert app.transport.play_next(CHANNEL) is not None  # it played and left
        [reply] = await app.pm(user, "queue bunny01")
        assert f"used your {allowed} queues for today" in reply
        assert await queues_used(app, user) == allowed
    app.transport.media_answer = "refused"  # a refund gives no queue back... nor takes one
    await app.advance(hours=5)  # the next (UTC) day
    await app.pm("alice", "queue bunny01")
    await app.pm("alice", "yes")
    assert await queues_used(app, "alice") == 0
    await check_books(app)


async def test_cooldown_minutes_left_rounded_up(make_app: MakeApp,
                                                mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms, queue_cooldown_minutes=30)
    await app.pm("alice", "queue bunny01")
    await app.pm("alice", "yes")
    [reply] = await app.pm("alice", "queue bunny02")
    assert "you can queue again in 30 minutes" in reply
    await app.advance(minutes=29, seconds=30)
    [reply] = await app.pm("alice", "queue bunny02")
    assert "in 1 minute." in reply
    await app.advance(seconds=30)
    assert "YES" in (await app.pm("alice", "queue bunny02"))[0]


# -- blackouts ------------------------------------------------------------------------------------


async def test_blackout_refuses_and_forcenow_is_exempt(make_app: MakeApp,
                                                       mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms, force_play_requires_admin=False,
                          balance=200_000)
    await app.clock.set(datetime(2026, 3, 5, 0, 30, tzinfo=UTC))  # Thursday 00:30
    for text in ("search bunny", "queue bunny01", "playnext bunny01"):
        [reply] = await app.pm("alice", text)
        assert "closed during Wednesday Prime Event (×3 earnings) until Thu 03:00" in reply
    [status] = await app.pm("alice", "eventstatus")
    assert "closed: Wednesday Prime Event runs until Thu 03:00" in status
    assert "Next window: Friday Night Event, Fri 22:00–Sat 09:00" in status
    [question] = await app.pm("alice", "forcenow bunny01")
    assert "100,000 Z" in question
    await app.pm("alice", "yes")
    assert addvideos(app)[0]["pos"] == "next"
    assert await moved(app, "alice") == [("media_purchase", -100_000)]


async def test_blackout_closes_an_hour_before_and_yes_rechecks(make_app: MakeApp,
                                                               mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms, confirm_timeout_seconds=3600)
    await app.clock.set(datetime(2026, 3, 4, 22, 50, tzinfo=UTC))  # Wed 22:50, 70 min before
    [status] = await app.pm("alice", "status")
    assert status.startswith("✅ Queueing is open.")
    await app.pm("alice", "queue bunny01")
    await app.advance(minutes=11)  # 59 minutes before the window
    [reply] = await app.pm("alice", "yes")
    assert "Wednesday Prime Event (×3 earnings) starts at Thu 00:00" in reply
    assert await moved(app, "alice") == [] and addvideos(app) == []


# -- force-play -----------------------------------------------------------------------------------


async def test_forcenow_by_a_user_waits_for_an_admin(make_app: MakeApp,
                                                     mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms, balance=100_000)
    [question] = await app.pm("alice", "forcenow bunny01")
    assert "An admin must approve it" in question
    [reply] = await app.pm("alice", "yes")
    assert "Force-play request #1 sent to the admins: 100,000 Z held" in reply
    assert any("approve 1" in m for m in app.pms_to("boss"))
    assert addvideos(app) == []
    [done] = await app.pm("boss", "reject 1 not tonight", rank=ADMIN_RANK)
    assert "#1" in done or "ejected" in done
    assert await app.balance("alice") == 100_000
    assert any("not approved" in m for m in app.pms_to("alice"))
    assert addvideos(app) == []
    # again, approved this time: sent at "next" right after the approval, charged once
    await app.pm("alice", "forcenow bunny01")
    await app.pm("alice", "yes")
    [waiting] = await app.pm("alice", "forcenow bunny02")  # one waiting request at a time
    assert "Your force-play #2 is still waiting" in waiting
    await app.pm("boss", "approve 2", rank=ADMIN_RANK)
    await app.settle()
    assert [c["pos"] for c in addvideos(app)] == ["next"]
    assert await app.balance("alice") == 0
    assert any("plays next" in m for m in app.pms_to("alice"))
    assert "🎬 alice queued Big Buck Bunny (100,000 Z-Coins)" in app.chat_lines()
    await check_books(app)


async def test_forcenow_approved_but_refused_is_given_back(make_app: MakeApp,
                                                           mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms, balance=100_000)
    app.transport.media_answer = "refused"
    await app.pm("alice", "forcenow bunny01")
    await app.pm("alice", "yes")
    await app.pm("boss", "approve 1", rank=ADMIN_RANK)
    await app.settle()
    assert await app.balance("alice") == 100_000
    assert await moved(app, "alice") == [("media_purchase", -100_000),
                                         ("media_refund", 100_000)]
    assert any("could not be queued" in m for m in app.pms_to("alice"))


async def test_an_admins_forcenow_needs_no_approval(make_app: MakeApp,
                                                    mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms)
    await app.ledger.credit(CHANNEL, "boss", 100_000, type="admin_grant")
    [question] = await app.pm("boss", "forcenow bunny01", rank=ADMIN_RANK)
    assert "approve" not in question
    await app.pm("boss", "yes", rank=ADMIN_RANK)
    assert addvideos(app)[0]["pos"] == "next"
    assert await app.balance("boss") == 0


# -- now playing ----------------------------------------------------------------------------------


async def test_now_playing_credit_once(make_app: MakeApp, mediacms: FakeMediaCms) -> None:
    app = await media_app(make_app, mediacms)
    await app.pm("alice", "queue bunny01")
    await app.pm("alice", "yes")
    app.clear()
    url = MANIFEST.format(url=mediacms.url, token="bunny01")
    await app.media("Big Buck Bunny", media_type="cm", media_id=url)
    assert app.chat_lines() == ["▶️ Now playing Big Buck Bunny, brought to you by alice"]
    await app.media("Something else", media_id="zzz")
    await app.media("Big Buck Bunny", media_type="cm", media_id=url)
    assert len(app.chat_lines()) == 1


# -- the endpoint ---------------------------------------------------------------------------------


async def test_spend_queue_endpoint_is_idempotent(make_app: MakeApp,
                                                  mediacms: FakeMediaCms) -> None:
    from economy_core import ApiError, ApiRequest

    app = await media_app(make_app, mediacms)
    plugin = app.plugin("media_queue")
    request = ApiRequest("spend.queue", CHANNEL, "web",
                         {"username": "alice", "id": "bunny01", "position": "next"},
                         request_id="r-1")
    first = await plugin.spend_queue(request)
    again = await plugin.spend_queue(request)
    assert first["status"] == "queued" and first["cost"] == 10_000 and not first["replayed"]
    assert again["replayed"] and again["status"] == "queued" and again["cost"] == 10_000
    assert await moved(app, "alice") == [("media_purchase", -10_000)]
    assert len(addvideos(app)) == 1
    try:  # on the playlist now: refused before anything is held
        await plugin.spend_queue(ApiRequest("spend.queue", CHANNEL, "web",
                                            {"username": "bob", "id": "bunny01"}))
        raise AssertionError("a duplicate was accepted")
    except ApiError as error:
        assert "already on the playlist. Nothing was charged" in str(error)
    app.transport.media_answer = "refused"
    app.transport.media_error = "Video exceeds the maximum length"
    refused = await plugin.spend_queue(ApiRequest(
        "spend.queue", CHANNEL, "web", {"username": "bob", "id": "bunny02"}, request_id="r-2"))
    assert refused["status"] == "refunded" and "maximum length" in refused["note"]
    assert await moved(app, "bob") == [("media_purchase", -250), ("refund", 250)]
    await app.app.identity.ban(CHANNEL, "carol", by="boss", reason="test", at=app.clock.now())
    for args in ({"username": "carol", "id": "bunny01"},
                 {"username": "bob"}, {"username": "bob", "id": "../x"},
                 {"username": "bob", "id": "bunny01", "position": "top"}):
        try:
            await plugin.spend_queue(ApiRequest("spend.queue", CHANNEL, "web", args))
        except ApiError:
            continue
        raise AssertionError(f"accepted {args}")
    await check_books(app)
