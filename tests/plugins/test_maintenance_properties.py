"""Property: over random sequences of waiting, restarts (also with the bot down for hours, or
killed at a random commit), running the job again by hand, grants and spends, the nightly rule
moves each account at most once per date, never drives a balance below 0, and every balance
equals the sum of its transactions."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from economy_plugins.maintenance import Maintenance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from economy_core.ledger import Kind
from economy_core.testing import MakeApp

CHANNEL = "testroom"
USERS = ["alice", "bob", "carol"]
DB = itertools.count()
CONFIG = {"interest": {"daily_rate": 0.01, "max_daily_interest": 50, "min_balance_to_earn": 100},
          "decay": {"daily_rate": 0.05, "exempt_below": 1_000}}

steps = st.lists(st.one_of(
    st.tuples(st.just("wait"), st.integers(1, 40 * 60)),
    st.tuples(st.just("down"), st.integers(1, 40 * 60)),
    st.tuples(st.just("restart"), st.none()),
    # the process is killed at the k-th commit from here (in whatever step it falls)
    st.tuples(st.just("crash"), st.integers(0, 4)),
    st.tuples(st.just("again"), st.none()),
    st.tuples(st.just("grant"), st.tuples(st.sampled_from(USERS), st.integers(1, 20_000))),
    st.tuples(st.just("spend"), st.tuples(st.sampled_from(USERS), st.integers(1, 20_000))),
), min_size=1, max_size=25)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps, mode=st.sampled_from(["interest", "decay"]))
async def test_nightly_rule_moves_each_account_at_most_once_per_date(
        make_app: MakeApp, plan: list[tuple[str, Any]], mode: str) -> None:
    app = await make_app(plugins=[Maintenance], db=f"maint-prop-{next(DB)}.db",
                         config={"plugins": {"maintenance": {"mode": mode, **CONFIG}}})
    for action, arg in plan:
        if action == "wait":
            await app.advance(minutes=arg)
        elif action == "down":
            await app.app.stop()
            await app.clock.advance(minutes=arg)
            app = await app.restart()
        elif action == "restart":
            app = await app.restart()
        elif action == "crash":
            if app.breaker is None:
                app.arm_crash(arg)
        else:
            with app.unless_dead():  # the process may die on this very write
                if action == "again":
                    await app.plugin("maintenance").run_all()
                elif action == "grant":
                    await app.ledger.credit(CHANNEL, arg[0], arg[1], type="admin_grant")
                else:
                    await app.ledger.debit(CHANNEL, arg[0], arg[1], type="spend",
                                           kind=Kind.SPEND)
        if app.breaker is not None and app.breaker.tripped:  # died: restarted by its supervisor
            app = await app.restart()
    await app.advance(0)
    tz = app.app.tz
    for user in USERS:
        postings = await app.ledger.history(CHANNEL, user, limit=100_000)
        nightly = Counter(p.at.astimezone(tz).date() for p in postings
                          if p.type in ("interest", "decay"))
        assert all(n == 1 for n in nightly.values()), (user, nightly)
        assert all(p.balance_after >= 0 for p in postings)
    assert await app.ledger.verify() == []
    await app.app.stop()
