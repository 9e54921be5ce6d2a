"""Property: over random tips, purchases, GIF requests, approvals and rejections, with clean
restarts and the process killed at random commits, every balance equals the sum of its
postings, no Z appears or vanishes (funds = balances + open escrows + what the shop kept), every
pending approval holds exactly its escrow and every resolved one none, each approved GIF was
delivered once — and once every approval is resolved no escrow is left open."""

from __future__ import annotations

import itertools
import json
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from economy_core.approvals import core_approvals
from economy_core.testing import AppHarness, MakeApp

from .test_social_kit import ADMIN_RANK, CHANNEL, social_app

USERS = ["alice", "bob", "carol"]
FUNDS = 8000
DB = itertools.count()
CONFIG = {"plugins": {"tipping": {"max_per_day": 3000},
                      "vanity_shop": {"shoutout": {"cooldown_minutes": 1}}}}

BUYS = ["buy title Boss", "buy greeting hello", "buy color gold", "buy color #ffd700",
        "buy rename Bucks", "shoutout hi there", "fortune", "buy gif https://x.test/{n}.gif"]

steps = st.lists(st.one_of(
    st.tuples(st.just("tip"), st.sampled_from(USERS), st.sampled_from(USERS),
              st.integers(-5, 4000)),
    st.tuples(st.just("buy"), st.sampled_from(USERS), st.sampled_from(BUYS), st.integers(0, 9)),
    st.tuples(st.just("buy"), st.sampled_from(USERS), st.just(BUYS[-1]), st.integers(0, 9)),
    st.tuples(st.just("decide"), st.sampled_from(USERS), st.booleans(), st.none()),
    st.tuples(st.just("decide"), st.sampled_from(USERS), st.booleans(), st.none()),
    st.tuples(st.just("wait"), st.integers(1, 120), st.none(), st.none()),
    st.tuples(st.just("restart"), st.none(), st.none(), st.none()),
    # the process is killed at the k-th commit from here (in whatever action it falls)
    st.tuples(st.just("crash"), st.integers(0, 6), st.none(), st.none()),
), min_size=3, max_size=30)


async def approvals(app: AppHarness) -> list[Any]:
    async with app.app.engine.connect() as conn:
        return list((await conn.execute(sa.select(core_approvals)
                                        .order_by(core_approvals.c.id))).all())


async def shop_kept(app: AppHarness) -> int:
    """Z the shop kept: its postings (purchases and held GIFs) net of refunds."""
    total = 0
    for user in USERS:
        for p in await app.ledger.history(CHANNEL, user, limit=100_000):
            if p.type == "vanity" or p.type == "refund":
                total -= p.amount
    return total


async def check(app: AppHarness) -> None:
    assert await app.ledger.verify() == []
    escrows = {e.id: e for e in await app.ledger.open_escrows(CHANNEL)}
    rows = await approvals(app)
    held = 0
    for row in rows:
        if row.status == "pending":
            escrow = escrows.pop(int(row.escrow_id))  # open, and held for this approval only
            assert escrow.amount == row.cost and escrow.username.casefold() == row.requester
            held += escrow.amount
        else:
            assert int(row.escrow_id) not in escrows
            found = await app.ledger.escrow_by_id(int(row.escrow_id))
            assert found is not None
            assert found.status == ("released" if row.status == "approved" else "refunded")
    assert escrows == {}  # no escrow without its pending approval
    circulation = await app.ledger.circulation(CHANNEL)
    kept = await shop_kept(app)
    # funds = balances + what the shop kept (a held GIF is kept until its refund)
    assert circulation + kept == FUNDS * len(USERS), (circulation, kept, held)
    for user in USERS:  # delivered iff approved: the latest approved GIF is the one owned
        owned = await app.plugin("vanity_shop").owned.everything(CHANNEL, user)
        approved = [r for r in rows if r.status == "approved" and r.requester == user]
        if approved:
            assert owned.get("gif") == json.loads(approved[-1].data)["url"], user
        else:
            assert "gif" not in owned, user


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
async def test_money_and_approvals_hold_across_restarts_and_kills(
        make_app: MakeApp, plan: list[tuple[Any, ...]]) -> None:
    app = await social_app(make_app, CONFIG, users=USERS, balance=FUNDS,
                           db=f"social-prop-{next(DB)}.db")
    for action, a, b, c in plan:
        if action == "tip":
            await app.pm(a, f"tip @{b} {c}")
        elif action == "buy":
            await app.pm(a, b.format(n=c))
        elif action == "decide":  # an admin decides what waits (the shop's or the core's way)
            waiting = [] if app.breaker is not None and app.breaker.tripped else \
                await app.app.approvals.pending(CHANNEL)
            if waiting:
                row = waiting[USERS.index(a) % len(waiting)]
                word = "approve" if b else "reject"
                await app.pm("boss", f"{word}_gif @{row.requester}" if USERS.index(a) % 2
                             else f"{word} {row.id}", rank=ADMIN_RANK)
        elif action == "wait":
            await app.advance(minutes=a)
        elif action == "crash":
            if app.breaker is None:
                app.arm_crash(a)
        else:
            app = await app.restart()
        if app.breaker is not None and app.breaker.tripped:  # died: restarted by its supervisor
            app = await app.restart()
        if app.breaker is None:
            await check(app)
    if app.breaker is not None:
        app = await app.restart()  # end a still-pending kill before the final checks
    await check(app)
    rows = await approvals(app)
    event(f"approvals: {min(len(rows), 3)}+, resolved: "
          f"{min(sum(r.status != 'pending' for r in rows), 2)}+")
    for row in rows:  # resolve what is left: nothing stays in escrow
        if row.status == "pending":
            done = await app.app.approvals.resolve(int(row.id), approve=int(row.id) % 2 == 0,
                                                   by="boss")
            assert done.ok
    await check(app)
    assert await app.ledger.open_escrows(CHANNEL) == []
