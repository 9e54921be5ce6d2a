"""Property: over random join/leave/tick/restart sequences — restarts both clean and as a process
killed at a random commit — each one-shot reward is paid at most once per its period, and every
balance equals the sum of its transactions."""

from __future__ import annotations

import itertools
from collections import Counter

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from economy_core.testing import MakeApp

USERS = ["alice", "bob", "carol"]
DB = itertools.count()
steps = st.lists(st.one_of(
    st.tuples(st.just("join"), st.sampled_from(USERS)),
    st.tuples(st.just("leave"), st.sampled_from(USERS)),
    st.tuples(st.just("wait"), st.integers(1, 400)),
    st.tuples(st.just("restart"), st.none()),
    # the process is killed at the k-th commit from here (in whatever action it falls)
    st.tuples(st.just("crash"), st.integers(0, 8)),
), min_size=1, max_size=25)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
async def test_one_shot_rewards_paid_at_most_once(make_app: MakeApp, plan: list) -> None:  # type: ignore[type-arg]
    app = await make_app(plugins=["presence"], db=f"prop-{next(DB)}.db", config={
        "plugins": {"presence": {"hourly_milestones": {"1": 10, "2": 20, "5": 50},
                                 "welcome_back": {"days_absent": 1}}}})
    present: set[str] = set()
    for action, arg in plan:
        if action == "join":
            await app.join(arg)
            present.add(arg)
        elif action == "leave":
            await app.leave(arg)
            present.discard(arg)
        elif action == "wait":
            await app.advance(minutes=arg)
        elif action == "crash":
            if app.breaker is None:
                app.arm_crash(arg)
        else:
            app = await app.restart()
            await app.seed(sorted(present))
        if app.breaker is not None and app.breaker.tripped:  # died: restarted by its supervisor
            event("killed at a commit")
            app = await app.restart()
            await app.seed(sorted(present))
    if app.breaker is not None:  # a kill still pending happens now; the supervisor restarts
        app = await app.restart()
        await app.seed(sorted(present))
    await app.advance(minutes=1)
    tz = app.app.tz
    for user in USERS:
        postings = await app.ledger.history("testroom", user, limit=100_000)
        wallets = [p for p in postings if p.type == "welcome_wallet"]
        assert len(wallets) <= 1
        milestones = Counter((p.at.astimezone(tz).date(), p.trigger_id) for p in postings
                             if p.type == "milestone")
        assert all(n == 1 for n in milestones.values()), milestones
        backs = Counter(p.metadata.get("for_last_seen") for p in postings
                        if p.type == "welcome_back")
        assert all(n == 1 for n in backs.values())
    assert await app.ledger.verify() == []
    await app.app.stop()
