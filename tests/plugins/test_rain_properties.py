"""Property: over random join/leave/wait/restart sequences (restarts clean, or the process killed
at a random commit), rain never doubles — drops are at least 0.7 intervals apart (no double
firing, no catch-up burst after a restart), each drop is one transaction paying each present
user once, nobody absent is paid — and every balance equals the sum of its transactions."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from economy_plugins.rain import Rain
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from economy_core.testing import MakeApp

CHANNEL = "testroom"
USERS = ["alice", "bob", "carol"]
INTERVAL_MINUTES = 5
DB = itertools.count()

steps = st.lists(st.one_of(
    st.tuples(st.just("join"), st.sampled_from(USERS)),
    st.tuples(st.just("leave"), st.sampled_from(USERS)),
    st.tuples(st.just("wait"), st.integers(1, 40)),
    st.tuples(st.just("restart"), st.none()),
    # the process is killed at the k-th commit from here (in whatever action it falls)
    st.tuples(st.just("crash"), st.integers(0, 8)),
), min_size=1, max_size=25)


def seeded_rain(seed: int) -> type[Rain]:
    class SeededRain(Rain):
        def __init__(self, ctx: Any) -> None:
            super().__init__(ctx)
            self.random = random.Random(seed)

    return SeededRain


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps, seed=st.integers(0, 2**32 - 1))
async def test_rain_never_doubles(make_app: MakeApp, plan: list[tuple[str, Any]],
                                  seed: int) -> None:
    app = await make_app(plugins=[seeded_rain(seed)], db=f"rain-prop-{next(DB)}.db",
                         config={"plugins": {"rain": {"interval_minutes": INTERVAL_MINUTES}}})
    present: set[str] = set()
    seen: set[int] = set()
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
            app = await app.restart()
            await app.seed(sorted(present))
        for user in USERS:  # whoever got rain since the last step was present during it
            for p in await app.ledger.history(CHANNEL, user, limit=100_000):
                if p.type == "rain" and p.id not in seen:
                    seen.add(p.id)
                    assert user in present, (user, p.at)
    drops: dict[datetime, list[Any]] = defaultdict(list)
    for user in USERS:
        for p in await app.ledger.history(CHANNEL, user, limit=100_000):
            if p.type == "rain":
                drops[p.at].append(p)
    for postings in drops.values():
        assert len({p.user_key for p in postings}) == len(postings)  # once per user per drop
        assert len({p.tx_id for p in postings}) == 1  # one transaction per drop
        assert len({p.metadata["base"] for p in postings}) == 1  # one draw per drop
        assert all(5 <= p.amount <= 25 for p in postings)
    times = sorted(drops)
    least = timedelta(minutes=0.7 * INTERVAL_MINUTES)
    assert all(b - a >= least for a, b in itertools.pairwise(times)), times
    assert await app.ledger.verify() == []
    await app.app.stop()
