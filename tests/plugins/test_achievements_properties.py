"""Property: over random chat lines, earnings, spending, clean restarts and kills at a random
commit, every achievement is paid at most once per user (also its PM and public line); after
one more event of each kind (a line, an earning, a spend: a crash may leave an achievement to
the next event that shows it), exactly the achievements whose condition the owners' own figures
reach are paid; every balance equals the sum of its transactions."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from economy_core.ledger import Kind
from economy_core.testing import AppHarness, MakeApp

from .test_chat_triggers_kit import SILENT_PRESENCE

CHANNEL = "testchan"
USERS = ["alice", "bob"]
DB = itertools.count()
ACHIEVEMENTS = [
    ("chat_2", "lifetime_messages", 2), ("chat_5", "lifetime_messages", 5),
    ("earn_100", "lifetime_earned", 100), ("earn_1500", "lifetime_earned", 1_500),
    ("spend_150", "lifetime_spent", 150),
]
CONFIG = [{"id": i, "description": i, "condition": {"type": t, "threshold": n},
           "reward": 7, "hidden": False} for i, t, n in ACHIEVEMENTS]

ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("chat"), st.sampled_from(USERS), st.integers(1, 4)),
    st.tuples(st.just("earn"), st.sampled_from(USERS), st.integers(1, 800)),
    st.tuples(st.just("spend"), st.sampled_from(USERS), st.integers(1, 200)),
    st.tuples(st.just("restart"), st.none(), st.none()),
    st.tuples(st.just("crash"), st.none(), st.integers(0, 4)),
), min_size=4, max_size=25)


async def reached(app: AppHarness, user: str) -> set[str]:
    """The achievements the owners' figures say the user reached."""
    account = await app.ledger.account(CHANNEL, user)
    lines = (await app.ledger.counter_totals(CHANNEL, "messages_sent", [user])).get(user, 0)
    values = {"lifetime_messages": lines,
              "lifetime_earned": account.lifetime_earned if account else 0,
              "lifetime_spent": account.lifetime_spent if account else 0}
    return {i for i, t, n in ACHIEVEMENTS if values[t] >= n}


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
async def test_every_achievement_is_paid_at_most_once_and_never_lost(
        make_app: MakeApp, actions: list[Any]) -> None:
    app = await make_app(plugins=["chat_triggers", "presence", "achievements"],
                         channel=CHANNEL, db=f"ach-{next(DB)}.db",
                         config={"plugins": {"presence": SILENT_PRESENCE,
                                             "achievements": {"achievements": CONFIG}}})
    await app.seed(USERS)
    await app.ledger.credit(CHANNEL, "alice", 1_000, type="seed", kind=Kind.CORRECTION)
    await app.ledger.credit(CHANNEL, "bob", 1_000, type="seed", kind=Kind.CORRECTION)
    line = itertools.count()
    for kind, user, arg in actions:
        if kind == "chat":
            for _ in range(arg):
                await app.chat(user, f"line {next(line)}")
        elif kind in ("earn", "spend"):
            with app.unless_dead():
                if kind == "earn":
                    await app.ledger.credit(CHANNEL, user, arg, type="earn", kind=Kind.EARN)
                else:
                    await app.ledger.debit(CHANNEL, user, arg)
                await app.settle()
        elif kind == "restart":
            app = await app.restart()
            await app.seed(USERS)
        elif app.breaker is None:
            app.arm_crash(arg)
        if app.breaker is not None and app.breaker.tripped:
            event("killed at a commit")
            app = await app.restart()
            await app.seed(USERS)
    if app.breaker is not None:  # a kill still pending happens now
        app = await app.restart()
        await app.seed(USERS)
    for user in USERS:  # the next event of each kind shows a threshold again
        await app.chat(user, f"line {next(line)}")
        await app.ledger.credit(CHANNEL, user, 1, type="earn", kind=Kind.EARN)
        await app.ledger.debit(CHANNEL, user, 1)
        await app.settle()
    assert await app.ledger.verify() == []
    for user in USERS:
        paid = Counter(p.trigger_id for p in await app.ledger.history(CHANNEL, user, 10_000)
                       if p.type == "achievement")
        assert all(n == 1 for n in paid.values()), (user, paid)
        assert {t.removeprefix("achievement.") for t in paid if t} == await reached(app, user)
        told = Counter(s.text for s in app.transport.sent if s.to == user and "unlocked" in s.text)
        assert all(n == 1 for n in told.values()), told
        event(f"{user}: {len(paid)} achievement(s)")
    lines = Counter(s.text for s in app.transport.sent if s.to is None)
    assert all(n == 1 for n in lines.values()), lines
    await app.app.stop()
