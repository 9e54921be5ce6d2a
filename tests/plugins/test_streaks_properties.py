"""Property: over random visits, day changes and bot restarts (also in the middle of a visit, on
either side of the moment a day qualifies; clean, or the process killed at a random commit), in
UTC or Europe/Berlin across the March DST change:

- each (user, day) is paid at most one streak bonus and each (user, ISO week) one bridge;
- what was paid is exactly what an independent model derives from the ledger's own
  ``minutes_present`` counters (every day with enough minutes qualifies, none twice, none lost);
- every balance equals the sum of its transactions.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from economy_plugins.streaks import Streaks
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from economy_core.clock import FakeClock
from economy_core.testing import AppHarness, MakeApp

CHANNEL = "testchan"
USERS = ["alice", "bob"]
START = datetime(2026, 3, 27, 20, 0, tzinfo=UTC)  # Friday before the Berlin DST change
THRESHOLD = 15
DB = itertools.count()
REWARDS = {2: 10, 3: 20, 4: 30, 5: 50, 6: 75, 7: 100}
BRIDGE = 500
QUIET_PRESENCE = {"base_rate_per_minute": 0, "hourly_milestones": {},
                  "welcome_wallet": {"enabled": False}, "welcome_back": {"enabled": False},
                  "night_watch": {"enabled": False}}

ACTIONS = st.one_of(
    st.tuples(st.just("visit"), st.sampled_from(USERS), st.integers(1, 40)),
    # join, stay m1 minutes, the bot restarts, stay m2 more, leave
    st.tuples(st.just("visit_restart"), st.sampled_from(USERS),
              st.tuples(st.integers(0, 25), st.integers(0, 25))),
    st.tuples(st.just("wait"), st.none(), st.integers(1, 90)),
    st.tuples(st.just("restart"), st.none(), st.none()),
    # the process is killed at the k-th commit from here (in whatever action it falls) and
    # restarted by its supervisor after that action
    st.tuples(st.just("crash"), st.none(), st.integers(0, 6)),
)
DAYS = st.lists(st.tuples(st.tuples(st.integers(0, 23), st.integers(0, 59)),
                          st.lists(ACTIONS, max_size=4)), min_size=1, max_size=10)
"""Local days in a row: the local time the day starts at (the first day starts at START) and
what happens then (a wait may run into the next day)."""


def model(days: list[date]) -> Counter[tuple[str, str, int]]:
    """What the SPEC pays for these qualifying days: (trigger, day or week, amount)."""
    paid: Counter[tuple[str, str, int]] = Counter()
    current, last = 0, None
    week, weekday, weekend, claimed = "", False, False, False
    for day in sorted(days):
        current = current + 1 if last is not None and day - last == timedelta(days=1) else 1
        last = day
        reached = [d for d in REWARDS if d <= current]
        if current >= 2 and reached:
            paid[(f"streak.day{current}", day.isoformat(), REWARDS[max(reached)])] += 1
        if current in (7, 30):
            paid[(f"streak.milestone.{current}", day.isoformat(),
                  200 if current == 7 else 2000)] += 1
        year, number, _ = day.isocalendar()
        this_week = f"{year}-W{number:02d}"
        if this_week != week:
            week, weekday, weekend, claimed = this_week, False, False, False
        if day.weekday() >= 5:
            weekend = True
        else:
            weekday = True
        if weekday and weekend and not claimed:
            claimed = True
            paid[("bridge.weekly", week, BRIDGE)] += 1
    return paid


async def run_plan(app: AppHarness, days: list[Any], tz: ZoneInfo) -> AppHarness:
    present: set[str] = set()

    async def restart() -> AppHarness:
        new = await app.restart()
        await new.seed(sorted(present))
        return new

    for number, ((hour, minute), actions) in enumerate(days):
        if number:
            local = app.clock.now().astimezone(tz)
            nxt = datetime.combine(local.date() + timedelta(days=1),
                                   datetime.min.time()).replace(hour=hour, minute=minute)
            await app.clock.set(nxt.replace(tzinfo=tz).astimezone(UTC))
        for action, user, arg in actions:
            if action == "visit":
                await app.join(user)
                await app.advance(minutes=arg)
                await app.leave(user)
            elif action == "visit_restart":
                await app.join(user)
                present.add(user)
                await app.advance(minutes=arg[0])
                app = await restart()
                await app.advance(minutes=arg[1])
                await app.leave(user)
                present.discard(user)
            elif action == "wait":
                await app.advance(minutes=arg)
            elif action == "crash":
                if app.breaker is None:
                    app.arm_crash(arg)
            else:
                app = await restart()
            if app.breaker is not None and app.breaker.tripped:
                event("killed at a commit")
                app = await restart()
    if app.breaker is not None:  # a kill still pending happens now; the supervisor restarts
        app = await restart()
    # let the last day be checked, and yesterday be caught up after the next midnight
    await app.advance(minutes=2)
    local = app.clock.now().astimezone(tz)
    after_midnight = datetime.combine(local.date() + timedelta(days=1),
                                      datetime.min.time()).replace(minute=5, tzinfo=tz)
    await app.clock.set(after_midnight.astimezone(UTC))
    await app.settle()
    return app


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=DAYS, zone=st.sampled_from(["UTC", "Europe/Berlin"]))
async def test_days_and_bridges_paid_once_and_as_modelled(make_app: MakeApp, plan: list[Any],
                                                          zone: str) -> None:
    app = await make_app(plugins=["presence", Streaks], clock=FakeClock(START),
                         channel=CHANNEL, db=f"prop-{next(DB)}.db",
                         config={"clock": {"timezone": zone},
                                 "plugins": {"presence": QUIET_PRESENCE}})
    tz = ZoneInfo(zone)
    app = await run_plan(app, plan, tz)
    first = START.astimezone(tz).date()
    last = app.clock.now().astimezone(tz).date()
    for user in USERS:
        postings = [p for p in await app.ledger.history(CHANNEL, user, limit=100_000)
                    if p.source == "streaks"]
        bonus_days = Counter(p.metadata["day"] for p in postings if p.type == "streak_bonus")
        assert all(n == 1 for n in bonus_days.values()), bonus_days
        weeks = Counter(p.metadata["week"] for p in postings if p.trigger_id == "bridge.weekly")
        assert all(n == 1 for n in weeks.values()), weeks
        qualifying = []
        day = first
        while day <= last:
            minutes = (await app.ledger.daily(CHANNEL, user, day)).get("minutes_present", 0)
            if minutes >= THRESHOLD:
                qualifying.append(day)
            day += timedelta(days=1)
        actual = Counter((p.trigger_id or "", p.metadata.get("week") or p.metadata["day"],
                          p.amount) for p in postings)
        assert actual == model(qualifying), (user, qualifying)
        event(f"{user}: {min(len(qualifying), 3)}+ qualifying day(s), "
              f"{'a' if weeks else 'no'} bridge")
        reminders = [p for p in app.pms_to(user) if "Weekend visit counted" in p]
        assert len(reminders) <= len({d.isocalendar()[:2] for d in qualifying
                                      if d.weekday() == 5})
    assert await app.ledger.verify() == []
    await app.app.stop()
