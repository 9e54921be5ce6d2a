"""media_queue money under crashes and at random: the bot's process killed at every commit of a
whole purchase scenario (tests/crash.py), and a hypothesis property over random searches, picks,
confirmations, refusals, silences, late acceptances, items played off the playlist, approvals,
restarts and kills. Whatever happens: every balance equals its postings, no Z appears or
vanishes (funds = balances + open escrows + what was spent on items), every escrow is settled
once and matches its purchase row, nothing stays pending or sent after a restart, and — the
robot's playlist being readable — the items charged are exactly the items CyTube took (on the
playlist or played off it): neither a charge without an item nor an item without a charge."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from economy_plugins.media_queue import MediaQueue
from economy_plugins.media_queue.settlement import PLAYLIST_LOOKS
from economy_plugins.media_queue.tables import purchases
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from economy_core.approvals import core_approvals
from economy_core.testing import AppHarness, MakeApp, merge_config

from ..crash import at_every_commit
from .media_kit import CHANNEL, FakeMediaCms, addvideos, media_config, mediacms
from .test_social_kit import social_app

__all__ = ["mediacms"]

USERS = ["alice", "bob", "carol"]
FUNDS = 30_000
DB = itertools.count()
SPENT = ("queued", "played", "approved", "sending")
"""Purchase states whose price has left the buyer for good."""


def config(fake: FakeMediaCms) -> dict[str, Any]:
    return {"admin": {"owner_level": 1},  # boss joins at rank 1; the buyers are not present
            "plugins": {"media_queue": media_config(
                fake, max_queues_per_day=100, interrupt_play_next=1000, force_play_now=2000,
                confirm_timeout_seconds=3600)}}


async def build_app(make_app: MakeApp, fake: FakeMediaCms, db: str) -> AppHarness:
    app = await social_app(make_app, merge_config({}, config(fake)), users=USERS,
                           balance=FUNDS, db=db, plugins=[MediaQueue])
    return app


async def rows_of(app: AppHarness, table: Any) -> list[Any]:
    async with app.app.engine.connect() as conn:
        return list((await conn.execute(sa.select(table).order_by(table.c.id))).all())


async def check(app: AppHarness, *, settled: bool = True) -> None:
    assert await app.ledger.verify() == []
    escrows = {e.id: e for e in await app.ledger.open_escrows(CHANNEL)}
    rows = await rows_of(app, purchases)
    approvals = await rows_of(app, core_approvals)
    spent = 0
    for row in rows:
        if row.status == "pending":
            assert not settled, f"purchase {row.id} still pending"
            escrow = escrows.pop(int(row.escrow_id))
            assert escrow.amount == row.cost
            continue
        assert row.status in ("queued", "played", "refunded", "approved", "sending",
                              "compensated"), row.status
        if settled:
            assert row.status not in ("sending", "sent"), (row.id, row.status)
        found = await app.ledger.escrow_by_id(int(row.escrow_id))
        assert found is not None and found.amount == row.cost
        assert found.status == ("refunded" if row.status == "refunded" else "released")
        if row.status in SPENT:
            spent += row.cost
    for approval in approvals:
        if approval.status == "pending":
            escrow = escrows.pop(int(approval.escrow_id))
            assert escrow.amount == approval.cost
    assert escrows == {}, escrows  # no escrow without its pending purchase or approval
    held = sum(a.cost for a in approvals if a.status == "pending") + \
        sum(r.cost for r in rows if r.status == "pending")
    circulation = await app.ledger.circulation(CHANNEL)
    assert circulation + held + spent == FUNDS * len(USERS), (circulation, held, spent)
    for user in USERS:  # each escrow moved money once: one hold, at most one refund
        history = await app.ledger.history(CHANNEL, user, limit=100_000)
        mine = [r for r in rows if r.username == user]
        mine_approvals = [a for a in approvals if a.requester == user]
        holds = [p for p in history if p.type == "media_purchase"]
        refunds = [p for p in history if p.type == "refund"]
        given_back = [p for p in history if p.type == "media_refund"]
        assert len(holds) == len([r for r in mine if r.approval_id is None]) + \
            len(mine_approvals)
        assert len(refunds) == len([r for r in mine if r.status == "refunded"]) + \
            len([a for a in mine_approvals if a.status == "rejected"])
        assert len(given_back) == len([r for r in mine if r.status == "compensated"])
    confirmed = [r for r in rows if r.status in ("queued", "played")]
    assert len(confirmed) <= len(addvideos(app))
    if settled:  # exactly the items CyTube took are charged, each once
        charged = Counter((r.media_type, r.media_id) for r in confirmed)
        transport = app.transport
        in_room = Counter(transport.on_playlist(CHANNEL)) + Counter(
            (i["media"]["type"], i["media"]["id"]) for i in transport.played)
        assert charged == in_room, (charged, in_room)


ROBOT_MODES = {
    "confirmed": ("queued", False),
    "unconfirmed, taken late": ("unconfirmed", True),
    "silent, taken late": ("silent", True),
    "silent, never taken": ("silent", False),
}
"""How the robot answers every purchase of the crash scenario, and whether CyTube took the
unanswered ones anyway (then only the playlist tells)."""


@pytest.mark.parametrize("mode", list(ROBOT_MODES))
async def test_a_crash_at_any_commit_of_the_whole_flow(make_app: MakeApp,
                                                       mediacms: FakeMediaCms,
                                                       mode: str) -> None:
    """Killed at each commit (the hold, "sent", the answer's settlement, the approval …) and
    restarted: with the playlist readable, the charged items are exactly those in the room."""
    answer, late = ROBOT_MODES[mode]

    async def build(db: str) -> AppHarness:
        app = await build_app(make_app, mediacms, db)
        app.transport.media_answer = answer
        app.transport.accepted_late = late
        return app

    steps = [("join", "boss"),
             ("pm", "alice", "search big buck"), ("pm", "alice", "1"), ("pm", "alice", "YES"),
             ("pm", "bob", "playnext bunny02"), ("pm", "bob", "yes"),
             ("pm", "carol", "forcenow movie01"), ("pm", "carol", "yes"),
             ("pm", "boss", "approve 1"),
             ("pm", "alice", "queue ep30min"), ("pm", "alice", "yes"),
             ("wait", 2)]
    taken = answer == "queued" or late

    async def verify(app: AppHarness, point: int | None) -> None:
        await check(app)  # charged items == items in the room, whatever the crash point
        rows = await rows_of(app, purchases)
        if point is None:  # the clean run: every purchase went through (or none did)
            assert [(r.username, r.kind, r.status) for r in rows] == [
                ("alice", "queue", "queued" if taken else "refunded"),
                ("bob", "playnext", "queued" if taken else "refunded"),
                ("carol", "forcenow", "queued" if taken else "compensated"),
                ("alice", "queue", "queued" if taken else "refunded")]
            assert len(app.transport.on_playlist(CHANNEL)) == (4 if taken else 0)

    commits = await at_every_commit(build, steps, verify, at_least=12)
    assert commits >= 12, commits


TOKENS = ["bunny01", "bunny02", "ep30min", "movie01", "nosuch", "../x"]
buys = st.tuples(st.just("buy"), st.sampled_from(USERS),
                 st.tuples(st.sampled_from(["queue", "playnext", "forcenow"]),
                           st.sampled_from(TOKENS), st.booleans()))
plans = st.lists(st.one_of(
    st.tuples(st.just("search"), st.sampled_from(USERS), st.sampled_from(["big", "space",
                                                                          "zzz"])),
    st.tuples(st.just("pick"), st.sampled_from(USERS), st.integers(0, 4)),
    *[buys] * 4,  # purchases are what this is about: drawn as often as the rest together
    st.tuples(st.just("yes"), st.sampled_from(USERS), st.sampled_from(["YES", "yes"])),
    st.tuples(st.just("yes"), st.sampled_from(USERS), st.just("YES")),
    st.tuples(st.just("no"), st.sampled_from(USERS), st.none()),
    st.tuples(st.just("robot"), st.sampled_from(["queued", "refused", "silent",
                                                 "unconfirmed", "down"]), st.none()),
    st.tuples(st.just("late"), st.booleans(), st.integers(0, PLAYLIST_LOOKS - 1)),
    st.tuples(st.just("played"), st.none(), st.none()),
    st.tuples(st.just("decide"), st.booleans(), st.none()),
    st.tuples(st.just("wait"), st.integers(1, 90), st.none()),
    st.tuples(st.just("restart"), st.none(), st.none()),
    st.tuples(st.just("crash"), st.integers(0, 4), st.none()),
), min_size=3, max_size=30)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans, robot=st.tuples(st.sampled_from(["queued", "unconfirmed", "silent"]),
                                   st.booleans()))
async def test_money_holds_over_random_purchases_restarts_and_kills(
        make_app: MakeApp, mediacms: FakeMediaCms, plan: list[tuple[Any, ...]],
        robot: tuple[str, bool]) -> None:
    app = await build_app(make_app, mediacms, f"media-prop-{next(DB)}.db")
    app.transport.media_answer, app.transport.accepted_late = robot
    await app.join("boss", rank=2)
    for action, a, b in plan:
        if action == "search":
            await app.pm(a, f"search {b}")
        elif action == "pick":
            await app.pm(a, str(b))
        elif action == "buy":  # the question, and often the YES at once
            await app.pm(a, f"{b[0]} {b[1]}")
            if b[2] and not (app.breaker is not None and app.breaker.tripped):
                await app.pm(a, "YES")
        elif action == "yes":
            await app.pm(a, b)
        elif action == "no":
            await app.pm(a, "no thanks")
        elif action == "robot":
            app.transport.media_answer = a
        elif action == "late":  # CyTube takes unconfirmed items; the robot's state trails
            app.transport.accepted_late = a
            app.transport.playlist_lag = b
        elif action == "played":  # the first item played and left the playlist
            app.transport.play_next(CHANNEL)
        elif action == "decide":
            dead = app.breaker is not None and app.breaker.tripped
            waiting = [] if dead else await app.app.approvals.pending(CHANNEL)
            if waiting:
                await app.pm("boss", f"{'approve' if a else 'reject'} {waiting[0].id}",
                             rank=2)
        elif action == "wait":
            await app.advance(minutes=a)
        elif action == "crash":
            if app.breaker is None:
                app.arm_crash(a)
        else:
            app = await app.restart()
            await app.seed(["boss"])
        if app.breaker is not None and app.breaker.tripped:  # died: its supervisor restarts it
            app = await app.restart()
            await app.seed(["boss"])
        if app.breaker is None:
            await check(app)
    if app.breaker is not None:
        app = await app.restart()
    await app.settle()
    await check(app)
    rows = await rows_of(app, purchases)
    event(f"purchases: {min(len(rows), 3)}+, refunded: "
          f"{min(sum(r.status == 'refunded' for r in rows), 2)}+")
    app.transport.media_answer = "queued"
    for approval in await app.app.approvals.pending(CHANNEL):  # nothing stays in escrow
        done = await app.app.approvals.resolve(int(approval.id), approve=approval.id % 2 == 0,
                                               by="boss")
        assert done.ok
    await app.settle()
    await check(app)
    assert await app.ledger.open_escrows(CHANNEL) == []


purchases_plan = st.lists(st.tuples(
    st.sampled_from(USERS),
    st.sampled_from(["queue", "playnext", "forcenow"]),
    st.sampled_from(TOKENS[:4]),
    st.sampled_from(["queued", "refused", "unconfirmed", "silent", "down"]),
    st.booleans(),                                 # CyTube takes an unanswered item anyway
    st.integers(0, PLAYLIST_LOOKS - 1),            # reads the robot's state trails by
    st.one_of(st.none(), st.integers(0, 6)),       # the process dies after this many commits
    st.booleans(),                                 # then the first item plays and leaves
), min_size=1, max_size=8)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=purchases_plan)
async def test_charged_items_are_the_items_in_the_room(make_app: MakeApp,
                                                       mediacms: FakeMediaCms,
                                                       plan: list[tuple[Any, ...]]) -> None:
    """Purchase after purchase, each with its own robot answer, late acceptance, state lag and
    perhaps a kill at any commit of it (the supervisor restarts the bot at once); force-plays
    approved by boss. After each: the books balance and the charged items are exactly the
    items CyTube took."""
    app = await build_app(make_app, mediacms, f"media-room-{next(DB)}.db")
    await app.join("boss", rank=2)
    for user, kind, token, answer, late, lag, crash_at, played in plan:
        transport = app.transport
        transport.media_answer, transport.accepted_late, transport.playlist_lag = \
            answer, late, lag
        await app.pm(user, f"{kind} {token}")
        if crash_at is not None:
            app.arm_crash(crash_at)
        await app.pm(user, "YES")
        if not (app.breaker is not None and app.breaker.tripped):
            waiting = await app.app.approvals.pending(CHANNEL)
            if waiting:
                await app.pm("boss", f"approve {waiting[0].id}", rank=2)
        if app.breaker is not None:  # died (or would have): its supervisor restarts it
            app = await app.restart()
            await app.seed(["boss"])
        await app.settle()
        await check(app)
        if played:
            app.transport.play_next(CHANNEL)
    rows = await rows_of(app, purchases)
    event(f"charged: {min(sum(r.status in ('queued', 'played') for r in rows), 3)}+, "
          f"refunded: {min(sum(r.status in ('refunded', 'compensated') for r in rows), 3)}+")
