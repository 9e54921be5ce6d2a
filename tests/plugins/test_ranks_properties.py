"""Property: over random earnings, spending, admin ``set_rank``s, clean restarts and kills at a
random commit:

- a stored rank only rises, and only to the tier the user's lifetime earnings reach when that
  is above both their rank and the tier they had earned when an admin last set it; only an
  admin's set lowers it (promote only, SPEC §3.10);
- without a kill in between, the stored rank is exactly what that rule gives after every step
  (a kill may delay a promotion until the user's next earning, never lose or invent one);
- no promotion is told (PM or public line) twice;
- every balance equals the sum of its transactions.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from economy_plugins.ranks.store import Standing
from economy_plugins.ranks.tiers import promoted_to, tier_of
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from economy_core.ledger import Kind
from economy_core.testing import AppHarness, MakeApp

CHANNEL = "testchan"
USERS = ["alice", "bob"]
DB = itertools.count()
TIERS = [{"name": "Extra", "min_lifetime_earned": 0},
         {"name": "Grip", "min_lifetime_earned": 100},
         {"name": "Key Grip", "min_lifetime_earned": 500},
         {"name": "Gaffer", "min_lifetime_earned": 1_500},
         {"name": "Best Boy", "min_lifetime_earned": 4_000}]
NAMES = [t["name"] for t in TIERS]

ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("earn"), st.sampled_from(USERS), st.integers(1, 2_500)),
    st.tuples(st.just("spend"), st.sampled_from(USERS), st.integers(1, 1_000)),
    st.tuples(st.just("set"), st.sampled_from(USERS), st.integers(0, len(TIERS) - 1)),
    st.tuples(st.just("restart"), st.none(), st.none()),
    st.tuples(st.just("crash"), st.none(), st.integers(0, 3)),
), min_size=1, max_size=25)


def thresholds() -> list[Any]:
    from economy_plugins.ranks.config import Tier

    return [Tier(t["name"], t["min_lifetime_earned"]) for t in TIERS]


async def standing(app: AppHarness, user: str) -> tuple[Standing, int]:
    """The user's stored rank (as the restarted plugin would load it) and lifetime earned."""
    account = await app.ledger.account(CHANNEL, user)
    return (app.plugin("ranks").store.get(CHANNEL, user),
            account.lifetime_earned if account is not None else 0)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
async def test_ranks_only_rise_by_earnings_and_admins_sets_hold(make_app: MakeApp,
                                                               actions: list[Any]) -> None:
    app = await make_app(plugins=["ranks"], channel=CHANNEL, db=f"ranks-{next(DB)}.db",
                         config={"plugins": {"ranks": {
                             "tiers": TIERS, "announce_interval_minutes": 0,
                             "cytube_promotion": {"min_rank": "Grip"}}}})
    tiers = thresholds()
    lagging: set[str] = set()
    """Users a kill may have left with a promotion not stored yet (until their next earning)."""
    for kind, user, arg in actions:
        before = {u: await standing(app, u) for u in USERS}
        if kind == "earn":
            with app.unless_dead():
                await app.ledger.credit(CHANNEL, user, arg, type="earn", kind=Kind.EARN)
                await app.settle()
        elif kind == "spend":
            with app.unless_dead():
                await app.ledger.debit(CHANNEL, user, arg)
                await app.settle()
        elif kind == "set":
            await app.pm("boss", f"set_rank @{user} {NAMES[arg]}", rank=5)
        elif kind == "restart":
            app = await app.restart()
        elif app.breaker is None:
            app.arm_crash(arg)
        killed = app.breaker is not None and app.breaker.tripped
        if killed:
            event("killed at a commit")
            app = await app.restart()
            lagging.update(USERS)
        for u in USERS:
            (old, _), (now, lifetime) = before[u], await standing(app, u)
            if kind == "set" and u == user:
                assert now.tier in (arg, old.tier)
                if now.tier != old.tier or now.held != old.held:
                    assert now.held == tier_of(tiers, lifetime)
                continue
            assert now.tier >= old.tier and now.held == old.held  # promote only
            if now.tier > old.tier:
                assert now.tier == tier_of(tiers, lifetime)
                assert now.tier > max(old.tier, -1 if old.held is None else old.held)
            if kind == "earn" and u == user and not killed:
                lagging.discard(u)
            if u not in lagging:
                expected = promoted_to(tiers, lifetime, old.tier, old.held)
                assert now.tier == (old.tier if expected is None else expected), (u, kind)
    if app.breaker is not None:  # a kill still pending happens now
        app = await app.restart()
    assert await app.ledger.verify() == []
    told = Counter((s.to, s.text.splitlines()[0]) for s in app.transport.sent
                   if s.to is not None and "You are now" in s.text)
    lines = Counter(s.text for s in app.transport.sent if s.to is None)
    assert all(n == 1 for n in lines.values()), lines
    assert all(n == 1 for n in told.values()), told  # lifetime earnings never fall
    await app.app.stop()
