"""Property: over random grants, tips, escrows and forgets (some of them racing each other),
every balance equals the sum of its postings, the circulation drops by exactly what forgotten
users held, a forgotten user owns no account and no posting under their name, and a user with
money held is refused and keeps it."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from economy_core.ledger import Kind
from economy_core.testing import MakeApp
from economy_core.userdata import ForgetRefused, UnknownUser, forget_user
from tests.support import Bank

CHANNEL = "testroom"
USERS = ["alice", "bob", "carol", "dave"]
DB = itertools.count()

steps = st.lists(st.one_of(
    st.tuples(st.just("grant"), st.sampled_from(USERS), st.integers(1, 500)),
    st.tuples(st.just("tip"), st.sampled_from(USERS),
              st.tuples(st.sampled_from(USERS), st.integers(1, 300))),
    st.tuples(st.just("hold"), st.sampled_from(USERS), st.integers(1, 100)),
    st.tuples(st.just("release"), st.sampled_from(USERS), st.none()),
    st.tuples(st.just("forget"), st.sampled_from(USERS), st.none()),
    st.tuples(st.just("race"), st.sampled_from(USERS), st.sampled_from(USERS)),
), min_size=1, max_size=20)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
async def test_forgetting_keeps_the_ledger_exact(make_app: MakeApp,
                                                 plan: list[tuple[Any, ...]]) -> None:
    app = await make_app(plugins=[Bank], db=f"forget-prop-{next(DB)}.db")
    ledger = app.ledger
    removed = 0
    held: dict[str, list[int]] = {u: [] for u in USERS}

    async def forget(user: str) -> int:
        try:
            done = await forget_user(app.app, CHANNEL, user)
        except UnknownUser:
            return 0
        except ForgetRefused:
            assert held[user], user  # refused only while money is held
            assert await ledger.account(CHANNEL, user) is not None
            return 0
        assert not held[user]
        assert await ledger.account(CHANNEL, user) is None
        assert await ledger.history(CHANNEL, user, 5) == []
        return done.balance_removed

    for action, user, arg in plan:
        if action == "grant":
            await ledger.credit(CHANNEL, user, arg, type="admin_grant", kind=Kind.EARN)
        elif action == "tip" and user != arg[0]:
            await ledger.transfer(CHANNEL, user, arg[0], arg[1], send_type="bank_tip_sent",
                                  receive_type="bank_tip_received")
        elif action == "hold":
            result = await ledger.escrow(CHANNEL, user, arg, purpose="test.hold")
            if result.ok:
                held[user].append(result.escrow_id)
        elif action == "release" and held[user]:
            await ledger.refund(held[user].pop())
        elif action == "forget":
            removed += await forget(user)
        elif action == "race":
            granted = ledger.credit(CHANNEL, user, 10, type="admin_grant", kind=Kind.EARN)
            results = await asyncio.gather(granted, forget(arg))
            removed += results[1]
        minted = await _sum_positive_minus_forgets(app)
        assert await ledger.verify() == []
        assert await ledger.circulation(CHANNEL) == minted - removed


async def _sum_positive_minus_forgets(app: Any) -> int:
    """Σ of every posting except the forget ones (what the circulation would be without
    forgetting)."""
    import sqlalchemy as sa

    from economy_core.ledger import transactions as t
    from economy_core.userdata import FORGET_TYPE

    async with app.app.engine.connect() as conn:
        total = await conn.scalar(sa.select(sa.func.coalesce(sa.func.sum(t.c.amount), 0))
                                  .where(t.c.channel == CHANNEL, t.c.type != FORGET_TYPE))
    return int(total)
