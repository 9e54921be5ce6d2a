"""Property: over random admin event starts and stops, scheduled fires, presence minutes,
bounties posted, claimed and expired, competitions at 23:59, clean restarts, downtime and kills
at a random commit — every balance equals its postings (and Σ balances = Σ postings), no fixed
award (event pot, competition prize, bounty) is ever multiplied, each event start pays its pot
once, and every competition and bounty is settled at most once (a bounty exactly once: open
with its escrow held, or claimed, or expired with its refund and burn)."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from economy_core.clock import FakeClock
from economy_core.ledger import Posting
from economy_core.testing import AppHarness, MakeApp

from .test_events_kit import grant

CHANNEL = "testchan"
USERS = ["alice", "bob", "carol"]
DB = itertools.count()
CONFIG = {
    "presence": {"base_rate_per_minute": 1, "hourly_milestones": {},
                 "welcome_wallet": {"enabled": False}, "welcome_back": {"enabled": False},
                 "night_watch": {"enabled": False}},
    "events": {"off_peak": {"enabled": True, "days": [0, 1, 2, 3, 4, 5, 6], "hours": [22]},
               "high_population": {"enabled": True, "min_users": 3},
               "holidays": {"enabled": False}, "adhoc_presence_bonus": 10,
               "scheduled_events": [{"name": "Every Third Hour", "cron": "0 */3 * * *",
                                     "duration_hours": 1, "multiplier": 2.0,
                                     "presence_bonus": 30}]},
    "competitions": {"daily": [
        {"id": "busy", "description": "Busy", "reward": 5,
         "condition": {"type": "daily_threshold", "field": "z_earned", "threshold": 30}},
        {"id": "top", "description": "Top", "reward_percent_of_earnings": 10,
         "condition": {"type": "daily_top", "field": "z_earned"}}]},
    "bounties": {"default_expiry_hours": 2, "min_amount": 10, "max_open_per_user": 2},
}
FIXED = ("event_bonus", "competition", "bounty_claim")

steps = st.lists(st.one_of(
    st.tuples(st.just("wait"), st.integers(1, 180)),
    st.tuples(st.just("wait"), st.integers(1, 30)),
    st.tuples(st.just("claim"), st.tuples(st.integers(1, 3), st.sampled_from(USERS))),
    st.tuples(st.just("down"), st.integers(1, 300)),
    st.tuples(st.just("restart"), st.none()),
    st.tuples(st.just("crash"), st.integers(0, 6)),  # killed at the k-th commit from here
    st.tuples(st.just("start"), st.tuples(st.sampled_from(["1.5", "2", "3"]),
                                          st.integers(1, 120), st.sampled_from(["A", "B"]))),
    st.tuples(st.just("stop"), st.none()),
    st.tuples(st.just("bounty"), st.tuples(st.sampled_from(USERS), st.integers(10, 60))),
    st.tuples(st.just("claim"), st.tuples(st.integers(1, 6), st.sampled_from(USERS))),
    st.tuples(st.just("sweep"), st.none()),
    st.tuples(st.just("leave"), st.sampled_from(USERS)),
), min_size=1, max_size=25)


async def revive(app: AppHarness, present: set[str]) -> AppHarness:
    if app.breaker is not None and app.breaker.tripped:
        app = await app.restart()
        await app.seed(sorted(present))
    return app


async def everything(app: AppHarness) -> list[Posting]:
    out: list[Posting] = []
    for user in USERS:
        out += await app.ledger.history(CHANNEL, user, limit=1_000_000)
    return out


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps, start_hour=st.sampled_from([20, 21, 23]))
async def test_events_competitions_and_bounties_keep_the_books(
        make_app: MakeApp, plan: list[tuple[str, Any]], start_hour: int) -> None:
    app = await make_app(plugins=["presence", "wallet", "events", "competitions", "bounties"],
                         config={"plugins": CONFIG}, channel=CHANNEL,
                         db=f"events-prop-{next(DB)}.db",
                         clock=FakeClock(datetime(2026, 3, 3, start_hour, 50, tzinfo=UTC)))
    for user in USERS:
        await grant(app, user, 200)
    present = set(USERS)
    await app.seed(USERS)
    for action, arg in plan:
        if action == "wait":
            await app.advance(minutes=arg)
        elif action == "down":
            await app.app.stop()
            await app.clock.advance(minutes=arg)
            app = await app.restart()
            await app.seed(sorted(present))
        elif action == "restart":
            app = await app.restart()
            await app.seed(sorted(present))
        elif action == "crash":
            if app.breaker is None:
                app.arm_crash(arg)
        elif action == "start":
            await app.pm("alice", f'event start {arg[0]} {arg[1]} "{arg[2]}"', rank=4)
        elif action == "stop":
            await app.pm("alice", "event stop", rank=4)
        elif action == "bounty":
            await app.pm(arg[0], f"bounty {arg[1]} job for anyone")
        elif action == "claim":
            await app.pm("alice", f"claim_bounty {arg[0]} @{arg[1]}", rank=4)
        elif action == "sweep":
            with app.unless_dead():
                await app.plugin("bounties").expire_due()
        elif action == "leave":
            await app.leave(arg)
            present.discard(arg)
        app = await revive(app, present)
    await app.advance(seconds=1)
    app = await revive(app, present)
    await check(app)
    await app.app.stop()


async def check(app: AppHarness) -> None:
    assert await app.ledger.verify() == []
    postings = await everything(app)
    assert sum(p.amount for p in postings) == await app.ledger.circulation(CHANNEL)
    for p in postings:
        if p.type in FIXED:  # never multiplied
            assert "factor" not in p.metadata, p
        if p.type == "event_bonus":
            assert p.amount == max(1, p.metadata["pot"] // p.metadata["present"]), p
        if p.type == "competition" and p.trigger_id == "competition.busy":
            assert p.amount == 5, p
        if p.type == "competition" and p.trigger_id == "competition.top":
            assert p.amount == max(1, p.metadata["value"] * 10 // 100), p
    # each start pays its pot once: one transaction per start, each user in it once
    pots = Counter((p.tx_id, p.user_key) for p in postings if p.type == "event_bonus")
    assert all(n == 1 for n in pots.values())
    async with app.app.engine.connect() as conn:
        starts = (await conn.execute(sa.text(
            "SELECT COUNT(*) FROM events_occurrences WHERE paid_users > 0"))).scalar_one()
        runs = {(r.day, r.competition): int(r.winners) for r in await conn.execute(sa.text(
            "SELECT day, competition, winners FROM competitions_runs"))}
        rows = (await conn.execute(sa.text(
            "SELECT id, amount, escrow_id, status, winner FROM bounties_bounties"))).all()
    assert len({p.tx_id for p in postings if p.type == "event_bonus"}) == starts
    # each competition once per day: its prizes are exactly its run's winners
    prizes = Counter((p.metadata["day"], (p.trigger_id or "").split(".", 1)[1])
                     for p in postings if p.type == "competition")
    assert all(n <= 1 for n in Counter((p.metadata["day"], p.trigger_id, p.user_key)
                                       for p in postings if p.type == "competition").values())
    for key, n in prizes.items():
        assert runs[key] == n, (key, runs)
    # each bounty settled exactly once, or still open with its escrow held
    open_escrows = {e.id for e in await app.ledger.open_escrows(CHANNEL)}
    for bounty_id, amount, escrow_id, status, winner in rows:
        claims = [p for p in postings if p.trigger_id == f"bounty.claim.{bounty_id}"]
        refunds = [p for p in postings if p.type == "refund"
                   and p.metadata.get("escrow_id") == escrow_id]
        burns = [p for p in postings if p.type == "bounty_expired"
                 and p.metadata.get("escrow_id") == escrow_id]
        if status == "open":
            assert escrow_id in open_escrows and not claims and not refunds, bounty_id
        elif status == "claimed":
            assert escrow_id not in open_escrows and not refunds and not burns
            assert [(p.user_key, p.amount) for p in claims] == [(winner.lower(), amount)]
        else:
            assert status == "expired" and escrow_id not in open_escrows and not claims
            assert [p.amount for p in refunds] == [amount]
            assert [p.amount for p in burns] == ([-(amount - amount // 2)] if amount > 1
                                                 else [])
