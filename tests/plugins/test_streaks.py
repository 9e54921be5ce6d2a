"""Streaks: SPEC §3.2 and the streak parts of acceptance scenarios 7 and 8 (SPEC §8), through the
real presence plugin (which books ``minutes_present``), router, ledger, outbox and scheduler on a
SQLite file, time driven by the FakeClock.

Presence pays nothing here (rate 0, no milestones, wallet or welcome-back) so every balance change
is a streak reward; the streaks config is the SPEC default unless a test says otherwise. The
streak job polls half-way between presence minutes, so a user reaching the threshold at a minute
is counted 30 s later: :func:`visit` stays ``minutes`` and a half.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from economy_plugins.streaks import Streaks
from economy_plugins.streaks.plugin import StreakState, day_reward, iso_week, qualify

from economy_core.clock import FakeClock
from economy_core.config import ConfigError
from economy_core.ledger import Posting
from economy_core.testing import AppHarness, MakeApp, merge_config

CHANNEL = "testchan"
BERLIN = ZoneInfo("Europe/Berlin")
QUIET_PRESENCE = {"base_rate_per_minute": 0, "hourly_milestones": {},
                  "welcome_wallet": {"enabled": False}, "welcome_back": {"enabled": False},
                  "night_watch": {"enabled": False}}


async def streak_app(make_app: MakeApp, streaks: dict[str, Any] | None = None, *,
                     start: datetime | None = None, tz: str = "UTC",
                     extra: dict[str, Any] | None = None, db: str = "economy.db") -> AppHarness:
    config = merge_config({"clock": {"timezone": tz},
                           "plugins": {"presence": QUIET_PRESENCE, "streaks": streaks or {}}},
                          extra or {})
    kwargs: dict[str, Any] = {"clock": FakeClock(start)} if start is not None else {}
    return await make_app(plugins=["presence", "wallet", Streaks], config=config,
                          channel=CHANNEL, db=db, **kwargs)


async def visit(app: AppHarness, user: str, minutes: int = 15) -> None:
    """``user`` joins, stays ``minutes`` (and the half minute until the next streak poll),
    leaves."""
    await app.join(user)
    await app.advance(minutes=minutes, seconds=30)
    await app.leave(user)


async def goto(app: AppHarness, when: datetime) -> None:
    await app.clock.set(when)
    await app.settle()


async def streak_postings(app: AppHarness, user: str) -> list[Posting]:
    postings = await app.ledger.history(CHANNEL, user, limit=100_000)
    return [p for p in reversed(postings) if p.source == "streaks"]


async def paid(app: AppHarness, user: str) -> list[tuple[str, str | None, int]]:
    return [(p.type, p.trigger_id, p.amount) for p in await streak_postings(app, user)]


async def daily_visits(app: AppHarness, user: str, days: int, *,
                       start: datetime | None = None) -> None:
    """``user`` visits on ``days`` consecutive days at the start time of day."""
    first = start or app.clock.now()
    for d in range(days):
        await goto(app, max(app.clock.now(), first + timedelta(days=d)))
        await visit(app, user)


# -- acceptance scenarios -------------------------------------------------------------------------


async def test_scenario_7_streak_six_to_day_seven(make_app: MakeApp) -> None:
    app = await streak_app(make_app)
    await daily_visits(app, "alice", 6)
    state = await app.plugin("streaks").state_of(CHANNEL, "alice")
    assert state.current == 6
    before = await app.balance("alice")
    app.clear()
    await goto(app, datetime(2026, 3, 9, 20, 0, tzinfo=UTC))
    await visit(app, "alice")
    assert await app.balance("alice") - before == 100 + 200
    assert (await paid(app, "alice"))[-2:] == [("streak_bonus", "streak.day7", 100),
                                               ("streak_milestone", "streak.milestone.7", 200)]
    [line] = app.chat_lines()
    assert "alice" in line and "7" in line
    pms = app.pms_to("alice")
    assert any("Day 7" in m and "100" in m for m in pms)
    assert any("200" in m for m in pms)
    assert await app.ledger.verify() == []


async def test_scenario_8_bridge_weekday_then_weekend_once(make_app: MakeApp) -> None:
    app = await streak_app(make_app, start=datetime(2026, 3, 2, 20, 0, tzinfo=UTC))  # Mon
    await visit(app, "alice")
    assert await app.balance("alice") == 0
    await goto(app, datetime(2026, 3, 7, 20, 0, tzinfo=UTC))  # Sat, same ISO week
    await visit(app, "alice")
    assert await app.balance("alice") == 500
    assert await paid(app, "alice") == [("earn", "bridge.weekly", 500)]
    assert any("500" in m and "bridge" in m for m in app.pms_to("alice"))
    await goto(app, datetime(2026, 3, 8, 20, 0, tzinfo=UTC))  # Sun
    await visit(app, "alice")
    bridges = [p for p in await streak_postings(app, "alice") if p.trigger_id == "bridge.weekly"]
    assert len(bridges) == 1  # no second bridge; Sat→Sun is a 2-day streak (+10) only
    assert await app.balance("alice") == 500 + 10


# -- qualifying days ------------------------------------------------------------------------------


async def test_day_needs_the_threshold_and_counts_once(make_app: MakeApp) -> None:
    app = await streak_app(make_app)
    await app.join("alice")
    await app.advance(minutes=14, seconds=30)
    assert await app.plugin("streaks").state_of(CHANNEL, "alice") is None
    assert "Today: 14/15 min (1 to go)" in (await app.pm("alice", "streak"))[0]
    await app.advance(seconds=40)  # the 15th minute is booked; the next poll counts it
    assert "Today: 15/15 min, counted within a minute" in (await app.pm("alice", "streak"))[0]
    await app.advance(seconds=20)
    state = await app.plugin("streaks").state_of(CHANNEL, "alice")
    assert state is not None and state.last_date == date(2026, 3, 3) and state.current == 1
    assert "Today: counted" in (await app.pm("alice", "streak"))[0]
    await app.advance(hours=2)  # more minutes the same day change nothing
    assert await app.plugin("streaks").state_of(CHANNEL, "alice") == state
    assert await paid(app, "alice") == []


async def test_min_presence_minutes_sets_the_threshold(make_app: MakeApp) -> None:
    app = await streak_app(make_app, {"daily": {"min_presence_minutes": 5}})
    await visit(app, "alice", 5)
    await goto(app, datetime(2026, 3, 4, 20, 0, tzinfo=UTC))
    await visit(app, "alice", 4)
    assert await app.balance("alice") == 0
    await visit(app, "alice", 1)  # 5 minutes today in two visits
    assert await paid(app, "alice") == [("streak_bonus", "streak.day2", 10)]


async def test_streak_rewards_follow_the_table_and_stay_at_its_end(make_app: MakeApp) -> None:
    app = await streak_app(make_app)
    await daily_visits(app, "alice", 9)
    bonuses = [(t, a) for typ, t, a in await paid(app, "alice") if typ == "streak_bonus"]
    assert bonuses == [("streak.day2", 10), ("streak.day3", 20), ("streak.day4", 30),
                       ("streak.day5", 50), ("streak.day6", 75), ("streak.day7", 100),
                       ("streak.day8", 100), ("streak.day9", 100)]
    postings = await streak_postings(app, "alice")
    assert [p.metadata["day"] for p in postings if p.type == "streak_bonus"] == [
        (date(2026, 3, 4) + timedelta(days=i)).isoformat() for i in range(8)]


async def test_rewards_config_gaps_take_the_latest_entry(make_app: MakeApp) -> None:
    app = await streak_app(make_app, {"daily": {"rewards": {"2": 5, "4": 40}},
                                      "weekend_weekday_bridge": {"enabled": False}})
    await daily_visits(app, "alice", 5)
    assert [a for typ, _, a in await paid(app, "alice") if typ == "streak_bonus"] == [
        5, 5, 40, 40]


async def test_a_missed_day_restarts_the_streak_and_keeps_the_best(make_app: MakeApp) -> None:
    app = await streak_app(make_app)
    await daily_visits(app, "alice", 3)  # Tue-Thu
    assert (await app.pm("alice", "balance"))[0].endswith("Streak: 3 days 🔥 (best 3)")
    await goto(app, datetime(2026, 3, 6, 21, 0, tzinfo=UTC))  # Friday, not here
    assert "Streak: 3 days" in (await app.pm("alice", "balance"))[0]  # can still continue
    await goto(app, datetime(2026, 3, 7, 20, 0, tzinfo=UTC))  # Saturday
    assert "Streak: 0 days (best 3)" in (await app.pm("alice", "balance"))[0]
    before = [p for p in await streak_postings(app, "alice") if p.type == "streak_bonus"]
    await visit(app, "alice")
    state = await app.plugin("streaks").state_of(CHANNEL, "alice")
    assert (state.current, state.longest) == (1, 3)
    assert [p for p in await streak_postings(app, "alice") if p.type == "streak_bonus"] == before
    profile = (await app.pm("alice", "profile"))[0]
    assert "Streak: 1 day (best 3)" in profile


async def test_users_qualify_together_in_one_poll(make_app: MakeApp) -> None:
    app = await streak_app(make_app)
    for day in range(2):
        await goto(app, datetime(2026, 3, 3 + day, 20, 0, tzinfo=UTC))
        await app.join("alice")
        await app.join("Bob")
        await app.advance(minutes=15, seconds=30)
        await app.leave("alice")
        await app.leave("Bob")
    assert await app.balance("alice") == 10
    assert await app.balance("bob") == 10


async def test_leaving_right_after_the_threshold_still_counts(make_app: MakeApp) -> None:
    app = await streak_app(make_app)
    await app.join("alice")
    await app.advance(minutes=15, seconds=10)  # the 15th minute is booked, the poll not yet
    await app.leave("alice")
    await app.advance(minutes=1)
    state = await app.plugin("streaks").state_of(CHANNEL, "alice")
    assert state is not None and state.last_date == date(2026, 3, 3)


async def test_banned_users_do_not_qualify(make_app: MakeApp) -> None:
    app = await streak_app(make_app)
    await app.seed(["mallory"])
    await app.app.identity.ban(CHANNEL, "mallory", by="admin", reason="test", at=app.clock.now())
    await app.ledger.bump_daily(CHANNEL, "mallory", date(2026, 3, 3), "minutes_present", 30)
    await app.advance(minutes=3)
    assert await app.plugin("streaks").state_of(CHANNEL, "mallory") is None


# -- the day boundary -----------------------------------------------------------------------------


async def test_catch_up_after_midnight_counts_yesterday(make_app: MakeApp) -> None:
    # The bot stops right after alice's 15th minute is booked, before it is checked; she
    # leaves while it is down. After midnight yesterday is caught up, so today continues it.
    app = await streak_app(make_app, start=datetime(2026, 3, 3, 23, 40, tzinfo=UTC))
    await app.join("alice")
    await app.advance(minutes=15, seconds=10)
    app = await app.restart()
    await app.seed([])
    await goto(app, datetime(2026, 3, 4, 0, 1, 50, tzinfo=UTC))
    assert await app.plugin("streaks").state_of(CHANNEL, "alice") is None  # grace minutes
    await app.advance(minutes=1)
    state = await app.plugin("streaks").state_of(CHANNEL, "alice")
    assert state is not None and state.last_date == date(2026, 3, 3)
    await goto(app, datetime(2026, 3, 4, 20, 0, tzinfo=UTC))
    await visit(app, "alice")
    assert await paid(app, "alice") == [("streak_bonus", "streak.day2", 10)]


async def test_channel_timezone_sets_the_day_boundary(make_app: MakeApp) -> None:
    # 23:30 and 00:05 Berlin time are two local days but one UTC date.
    visits = [datetime(2026, 3, 3, 22, 30, tzinfo=UTC), datetime(2026, 3, 3, 23, 5, tzinfo=UTC)]
    berlin = await streak_app(make_app, tz="Europe/Berlin", start=visits[0] - timedelta(hours=1),
                              db="berlin.db")
    for when in visits:
        await goto(berlin, when)
        await visit(berlin, "alice")
    postings = await streak_postings(berlin, "alice")
    assert [(p.trigger_id, p.amount, p.metadata["day"]) for p in postings] == [
        ("streak.day2", 10, "2026-03-04")]
    await berlin.app.stop()

    utc = await streak_app(make_app, start=visits[0] - timedelta(hours=1), db="utc.db")
    for when in visits:
        await goto(utc, when)
        await visit(utc, "alice")
    assert await paid(utc, "alice") == []


@pytest.mark.parametrize("local_visits", [
    # spring forward: Sunday 2026-03-29 has 23 hours in Berlin
    [datetime(2026, 3, 28, 23, 30), datetime(2026, 3, 29, 10, 0), datetime(2026, 3, 30, 0, 10)],
    # fall back: Sunday 2026-10-25 has 25 hours in Berlin
    [datetime(2026, 10, 24, 23, 30), datetime(2026, 10, 25, 23, 30),
     datetime(2026, 10, 26, 0, 10)],
], ids=["march", "october"])
async def test_consecutive_local_days_across_a_dst_change(make_app: MakeApp,
                                                          local_visits: list[datetime]) -> None:
    instants = [v.replace(tzinfo=BERLIN).astimezone(UTC) for v in local_visits]
    app = await streak_app(make_app, tz="Europe/Berlin", start=instants[0] - timedelta(hours=1))
    for when in instants:
        await goto(app, when)
        await visit(app, "alice")
    postings = [p for p in await streak_postings(app, "alice") if p.type == "streak_bonus"]
    assert [(p.trigger_id, p.metadata["day"]) for p in postings] == [
        ("streak.day2", local_visits[1].date().isoformat()),
        ("streak.day3", local_visits[2].date().isoformat())]
    state = await app.plugin("streaks").state_of(CHANNEL, "alice")
    assert state.current == 3 and state.last_date == local_visits[2].date()


# -- restarts and replays -------------------------------------------------------------------------


async def test_restart_mid_day_never_pays_a_day_twice(make_app: MakeApp) -> None:
    app = await streak_app(make_app)
    await visit(app, "alice")
    await goto(app, datetime(2026, 3, 4, 20, 0, tzinfo=UTC))
    await app.join("alice")
    await app.advance(minutes=10)
    app = await app.restart()  # before today counts
    await app.seed(["alice"])
    await app.advance(minutes=6)
    assert await paid(app, "alice") == [("streak_bonus", "streak.day2", 10)]
    for _ in range(2):  # after it counted
        app = await app.restart()
        await app.seed(["alice"])
        await app.advance(minutes=30)
    assert await paid(app, "alice") == [("streak_bonus", "streak.day2", 10)]
    assert len([m for m in app.pms_to("alice") if "Day 2" in m]) == 1
    assert await app.ledger.verify() == []


async def test_replayed_qualification_pays_nothing(make_app: MakeApp) -> None:
    app = await streak_app(make_app, start=datetime(2026, 3, 6, 20, 0, tzinfo=UTC))  # Fri
    await daily_visits(app, "alice", 7)  # Fri..Thu: bridge, day 7 milestone
    before = await paid(app, "alice")
    plugin = app.plugin("streaks")
    plugin.days.clear()  # forget what memory knew
    for day in range(6, 13):
        assert await plugin.qualify(CHANNEL, date(2026, 3, day), ["alice"]) == []
    await app.advance(minutes=5)
    assert await paid(app, "alice") == before
    assert await app.ledger.verify() == []


# -- the bridge and the weekend reminder ----------------------------------------------------------


async def test_bridge_config_bonus_message_and_switch(make_app: MakeApp) -> None:
    app = await streak_app(make_app, {"weekend_weekday_bridge": {
        "bonus": 123, "bonus_message": "bridge {amount} {currency} for {user}"}},
        start=datetime(2026, 3, 6, 20, 0, tzinfo=UTC), db="on.db")
    await daily_visits(app, "alice", 2)  # Fri, Sat
    assert ("earn", "bridge.weekly", 123) in await paid(app, "alice")
    assert any(m.startswith("bridge 123 Z-Coins for alice") for m in app.pms_to("alice"))
    await app.app.stop()

    off = await streak_app(make_app, {"weekend_weekday_bridge": {"enabled": False}},
                           start=datetime(2026, 3, 6, 20, 0, tzinfo=UTC), db="off.db")
    await daily_visits(off, "alice", 2)
    assert await paid(off, "alice") == [("streak_bonus", "streak.day2", 10)]
    assert "Bridge" not in (await off.pm("alice", "streak"))[0]
    assert not any("Weekday + weekend" in line for line in await off.pm("alice", "rewards"))


async def test_weekend_reminder_once_a_week(make_app: MakeApp) -> None:
    app = await streak_app(make_app, {"weekend_weekday_bridge": {
        "message": "remind {user}: {amount} {currency}"}},
        start=datetime(2026, 3, 7, 20, 0, tzinfo=UTC))  # Sat
    await daily_visits(app, "alice", 2)  # Sat, Sun
    reminders = [m for m in app.pms_to("alice") if m.startswith("remind")]
    assert reminders == ["remind alice: 500 Z-Coins\n(PM 'quiet' to mute these)"]
    assert "no weekday this week" in (await app.pm("alice", "streak"))[0]
    app = await app.restart()
    plugin = app.plugin("streaks")
    assert await plugin.qualify(CHANNEL, date(2026, 3, 7), ["alice"]) == []  # replay: nothing
    await daily_visits(app, "alice", 2, start=datetime(2026, 3, 14, 20, 0, tzinfo=UTC))
    assert len([m for m in app.pms_to("alice") if m.startswith("remind")]) == 2  # next week


async def test_no_reminder_when_switched_off_or_weekday_seen(make_app: MakeApp) -> None:
    off = await streak_app(make_app, {"weekend_weekday_bridge": {"announce_on_weekend": False}},
                           start=datetime(2026, 3, 7, 20, 0, tzinfo=UTC), db="off.db")
    await visit(off, "alice")
    assert off.pms_to("alice") == []
    await off.app.stop()

    seen = await streak_app(make_app, start=datetime(2026, 3, 6, 20, 0, tzinfo=UTC),
                            db="seen.db")
    await daily_visits(seen, "alice", 2)  # Fri then Sat: bridge, no reminder
    assert not any("Weekend visit" in m for m in seen.pms_to("alice"))
    assert "Bridge this week: paid" in (await seen.pm("alice", "streak"))[0]


# -- every other config key -----------------------------------------------------------------------


async def test_milestone_bonuses_and_messages_are_configurable(make_app: MakeApp) -> None:
    app = await streak_app(make_app, {"daily": {
        "milestone_7_bonus": 77, "milestone_30_bonus": 3030,
        "bonus_message": "B{days}:{amount}", "milestone_message": "M{days}:{amount} {currency}",
        "announce_message": "{user} streak {days}!"}})
    await daily_visits(app, "alice", 30)
    milestones = [(t, a) for typ, t, a in await paid(app, "alice") if typ == "streak_milestone"]
    assert milestones == [("streak.milestone.7", 77), ("streak.milestone.30", 3030)]
    assert app.chat_lines() == ["alice streak 7!", "alice streak 30!"]
    pms = app.pms_to("alice")
    assert "B30:100\n(PM 'quiet' to mute these)" in pms
    assert any(m.startswith("M30:3030 Z-Coins") for m in pms)
    assert sum(1 for m in pms if m.startswith("M")) == 2


async def test_announcement_switch(make_app: MakeApp) -> None:
    app = await streak_app(make_app, {"daily": {"announce_milestones": False}})
    await daily_visits(app, "alice", 7)
    assert ("streak_milestone", "streak.milestone.7", 200) in await paid(app, "alice")
    assert app.chat_lines() == []


async def test_daily_disabled_pays_and_shows_no_streak_but_bridge_counts(
        make_app: MakeApp) -> None:
    app = await streak_app(make_app, {"daily": {"enabled": False}},
                           start=datetime(2026, 3, 6, 20, 0, tzinfo=UTC))
    await daily_visits(app, "alice", 7)
    assert await paid(app, "alice") == [("earn", "bridge.weekly", 500)]
    assert app.chat_lines() == []
    assert "Streak" not in (await app.pm("alice", "balance"))[0]
    reply = (await app.pm("alice", "streak"))[0]
    assert "🔥" not in reply and "Bridge this week" in reply
    assert not any("Daily streak" in line for line in await app.pm("alice", "rewards"))


async def test_everything_off(make_app: MakeApp) -> None:
    app = await streak_app(make_app, {"daily": {"enabled": False},
                                      "weekend_weekday_bridge": {"enabled": False}})
    await daily_visits(app, "alice", 2)
    assert await app.plugin("streaks").state_of(CHANNEL, "alice") is None
    assert await app.pm("alice", "streak") == ["Streaks are switched off here."]


# -- people and messages --------------------------------------------------------------------------


async def test_quiet_users_are_paid_without_a_pm(make_app: MakeApp) -> None:
    app = await streak_app(make_app)
    await app.pm("alice", "quiet")
    app.clear()
    await daily_visits(app, "alice", 2)
    assert await app.balance("alice") == 10
    assert app.pms_to("alice") == []


async def test_withheld_accounts_keep_counting_without_pay_or_announcement(
        make_app: MakeApp) -> None:
    app = await streak_app(make_app, extra={"onboarding": {"min_messages_to_earn": 3}})
    await daily_visits(app, "alice", 7)
    assert await app.balance("alice") == 0
    assert app.pms_to("alice") == [] and app.chat_lines() == []
    state = await app.plugin("streaks").state_of(CHANNEL, "alice")
    assert state.current == 7
    for _ in range(3):
        await app.chat("alice", "hello")
    await goto(app, datetime(2026, 3, 10, 20, 0, tzinfo=UTC))
    await visit(app, "alice")
    assert await paid(app, "alice") == [("streak_bonus", "streak.day8", 100)]


async def test_streak_command_and_reward_lines(make_app: MakeApp) -> None:
    app = await streak_app(make_app)
    [reply] = await app.pm("alice", "streak")
    assert reply == ("🔥 Streak: 0 days (best 0)\nToday: 0/15 min (15 to go)\n"
                     "Bridge this week: weekday ✗ · weekend ✗ → a weekday and a weekend day "
                     "pay 500 Z")
    await visit(app, "alice")
    [reply] = await app.pm("alice", "streak")
    assert reply.startswith("🔥 Streak: 1 day (best 1)\nToday: counted ✓\n")
    assert "weekday ✓ · weekend ✗ → a weekend day pays 500 Z" in reply
    assert await app.pm("alice", "streak now") != []  # extra words: the usage line
    [rewards] = await app.pm("alice", "rewards")
    assert ("Daily streak (15+ min here a day): day 2 10 Z, day 3 20 Z, day 4 30 Z, "
            "day 5 50 Z, day 6 75 Z, day 7+ 100 Z") in rewards
    assert "Streak milestones: 7 days 200 Z, 30 days 2,000 Z" in rewards
    assert "Weekday + weekend day in one week" in rewards and "500 Z" in rewards


@pytest.mark.parametrize("streaks", [
    {"daily": {"rewards": {"1": 5}}},
    {"daily": {"min_presence_minutes": 0}},
    {"daily": {"milestone_7_bonus": -1}},
    {"daily": {"announce_message": "{user} {amount}"}},
    {"weekend_weekday_bridge": {"message": "{oops}"}},
    {"weekend_weekday_bridge": {"bonus": "500"}},
])
async def test_bad_config_is_refused(make_app: MakeApp, streaks: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        await streak_app(make_app, streaks)


# -- the pure rules -------------------------------------------------------------------------------


def test_rules() -> None:
    mon = date(2026, 3, 2)
    first = qualify(None, mon)
    assert (first.current, first.longest, first.weekday_seen, first.weekend_seen) == (
        1, 1, True, False)
    sat = qualify(first, date(2026, 3, 7))
    assert (sat.current, sat.weekend_seen, sat.weekday_seen) == (1, True, True)
    next_mon = qualify(StreakState(4, 9, date(2026, 3, 8), "2026-W10", True, True, True),
                       date(2026, 3, 9))
    assert (next_mon.current, next_mon.longest, next_mon.iso_week, next_mon.bridge_claimed) == (
        5, 9, "2026-W11", False)
    assert iso_week(date(2027, 1, 1)) == "2026-W53"
    assert day_reward({2: 10, 7: 100}, 1) == 0
    assert day_reward({2: 10, 7: 100}, 6) == 10
    assert day_reward({2: 10, 7: 100}, 40) == 100
