"""Events: SPEC §3.12 and acceptance scenarios 41 and 43 (SPEC §8), through the real presence
plugin (1 Z a minute), router, ledger, outbox and scheduler, time driven by the FakeClock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import pluggy
import pytest

from economy_core import AwardRequest, Multiplier, PluginContext, hookimpl
from economy_core.clock import FakeClock
from economy_core.testing import AppHarness, MakeApp

from .test_events_kit import (
    CHANNEL,
    events_app,
    minutes_paid,
    plugin,
    postings,
    pots,
)

FRIDAY_NIGHT = {"name": "Friday Night Event", "cron": "0 22 * * 5", "duration_hours": 11,
                "multiplier": 3.0, "presence_bonus": 0}


async def last_minute(app: AppHarness, user: str = "alice") -> int:
    return (await minutes_paid(app, user))[-1]


# -- scenario 41: the admin's ad-hoc event --------------------------------------------------------


async def test_scenario_41_an_admin_event_doubles_presence_pay(make_app: MakeApp) -> None:
    app = await events_app(make_app)
    await app.advance(minutes=1)
    assert await last_minute(app) == 1
    reply = await app.pm("alice", 'event start 2 60 "Double Time"', rank=4)
    assert reply == ["✅ Double Time is on: 2.0× on activity earnings for 60 min."]
    line = app.chat_lines()[-1]
    assert line == "🎉 alice started Double Time: ×2 on everything you earn here for 60 min!"
    await app.advance(minutes=1)
    assert await last_minute(app) == 2
    posting = (await postings(app, "alice"))[-1]
    assert posting.metadata == {"base": 1.0, "factor": 2.0, "factors": {"Double Time": 2.0}}
    assert await app.pm("bob", "events") == [
        "🎉 Multipliers now: Double Time 2.0× (until 21:01) — combined 2.0×"]
    assert await app.pm("bob", "multipliers") == await app.pm("bob", "events")
    assert await app.pm("bob", 'event start 2 60 "Mine"', rank=1) == ["⛔ Admin only."]
    out_of_range = await app.pm("alice", 'event start 20 60 "Huge"', rank=4)
    assert "at most 10" in out_of_range[0]
    assert await app.pm("alice", "event stop", rank=4) == ["⏹️ Stopped: Double Time."]
    assert "Double Time was ended early by alice" in app.chat_lines()[-1]
    await app.advance(minutes=1)
    assert await last_minute(app) == 1
    assert await app.pm("bob", "events") == ["🎉 Multipliers now: none, 1×"]
    assert await app.pm("alice", "event stop", rank=4) == ["No event is running: none active."]
    assert await app.ledger.verify() == []


async def test_an_admin_event_ends_by_itself_and_a_new_one_replaces_it(
        make_app: MakeApp) -> None:
    app = await events_app(make_app)
    await app.pm("alice", 'event start 1.5 3 "Short"', rank=4)
    reply = await app.pm("alice", 'event start 3 5 "Triple"', rank=4)
    assert reply == ["✅ Triple is on: 3.0× on activity earnings for 5 min (replaces Short)."]
    assert [m.name for m in plugin(app).active(CHANNEL, app.clock.now())] == ["Triple"]
    await app.advance(minutes=4)
    assert await minutes_paid(app, "bob") == [3, 3, 3, 3]
    app.clear()
    await app.advance(minutes=3)  # it ran 20:00-20:05: the 20:05 minute pays 1
    assert await minutes_paid(app, "bob") == [3, 3, 3, 3, 1, 1, 1]
    assert app.chat_lines() == ["⏰ Triple is over. Thanks for being here!"]  # once
    app = await app.restart()  # the ended event stays ended
    await app.seed(["alice", "bob", "carol"])
    await app.advance(minutes=1)
    assert (await minutes_paid(app, "bob"))[-1] == 1
    assert app.chat_lines() == ["⏰ Triple is over. Thanks for being here!"]


async def test_an_admin_event_survives_a_restart(make_app: MakeApp) -> None:
    app = await events_app(make_app)
    await app.pm("alice", 'event start 2 10 "Double Time"', rank=4)
    app = await app.restart()
    await app.seed(["alice", "bob", "carol"])
    await app.advance(minutes=1)
    assert await last_minute(app) == 2
    app.clear()
    await app.advance(minutes=10)
    assert app.chat_lines() == ["⏰ Double Time is over. Thanks for being here!"]
    assert await last_minute(app) == 1


@pytest.mark.parametrize(("text", "reply"), [
    ('event start 0.5 10 "x"', "The multiplier must be above 1 and at most 10, not 0.5."),
    ('event start 1 10 "x"', "The multiplier must be above 1 and at most 10, not 1."),
    ('event start 10.5 10 "x"', "The multiplier must be above 1 and at most 10, not 10.5."),
    ('event start two 10 "x"', "The multiplier must be a number above 1 and at most 10"),
    ('event start 2 99999 "x"', "The duration must be 1-1440 minutes, not '99999'."),
    ('event start 2 0 "x"', "The duration must be 1-1440 minutes, not '0'."),
    ("event start 2 10", "The event needs a name, in quotes"),
    ('event start 2 10 ""', "The event needs a name, in quotes"),
    ("event start 2", "Say how much and how long."),
    ("event start", "Say how much and how long."),
    ("event", "Usage: event start"),
    ("event begin 2 10 x", "Usage: event start"),
])
async def test_bad_event_starts_get_a_clear_reply_and_start_nothing(
        make_app: MakeApp, text: str, reply: str) -> None:
    app = await events_app(make_app)
    app.clear()
    answer = await app.pm("alice", text, rank=4)
    assert len(answer) == 1 and answer[0].startswith(reply)
    assert "Usage: event start" in answer[0]
    assert app.chat_lines() == []
    assert plugin(app).active(CHANNEL, app.clock.now()) == []
    assert plugin(app).live.get(CHANNEL, []) == []


# -- scenario 43: scheduled events ----------------------------------------------------------------


async def test_scenario_43_friday_night_event(make_app: MakeApp) -> None:
    start = datetime(2026, 3, 6, 21, 58, 30, tzinfo=UTC)  # Friday
    app = await events_app(make_app, {"scheduled_events": [FRIDAY_NIGHT]}, start=start)
    await app.advance(minutes=1)
    assert await last_minute(app) == 1
    await app.advance(minutes=1)  # 22:00:30
    assert app.chat_lines() == [
        "🎉 Friday Night Event has begun: ×3 on everything you earn here for 11 h "
        "(until 09:00)!"]
    assert await last_minute(app) == 3
    reply = await app.pm("bob", "events")
    assert reply == ["🎉 Multipliers now: Friday Night Event 3.0× (until 09:00) — combined 3.0×\n"
                     "Next: Friday Night Event Fri 13 Mar 22:00 (3.0× for 11 h)"]
    await app.clock.set(datetime(2026, 3, 7, 8, 59, 30, tzinfo=UTC))
    await app.settle()
    assert await last_minute(app) == 3
    app.clear()
    await app.advance(minutes=1)  # Sat 09:00:30
    assert app.chat_lines() == ["⏰ Friday Night Event is over. Thanks for being here!"]
    assert await last_minute(app) == 1
    assert await app.ledger.verify() == []


async def test_the_shipped_events_are_the_spec_windows(make_app: MakeApp) -> None:
    start = datetime(2026, 3, 6, 21, 59, tzinfo=UTC)
    app = await make_app(plugins=["events"], channel=CHANNEL, clock=FakeClock(start))
    events = plugin(app)
    assert [(e.name, e.cron, e.duration_hours, e.multiplier, e.presence_bonus)
            for e in events.cfg.scheduled_events] == [
        ("Wednesday Prime Event", "0 0 * * 4", 3, 3.0, 0),
        ("Friday Night Event", "0 22 * * 5", 11, 3.0, 0),
        ("Saturday Morning Event", "0 14 * * 6", 4, 3.0, 0),
        ("Saturday Night Event", "0 22 * * 6", 11, 3.0, 0)]
    reply = await app.pm("bob", "events")
    assert reply == ["🎉 Multipliers now: none, 1×\n"
                     "Next: Friday Night Event Fri 06 Mar 22:00 (3.0× for 11 h)"]


async def test_a_restart_inside_a_run_neither_restarts_it_nor_loses_its_end(
        make_app: MakeApp) -> None:
    start = datetime(2026, 3, 6, 21, 59, 30, tzinfo=UTC)
    app = await events_app(make_app, {"scheduled_events": [dict(FRIDAY_NIGHT,
                                                                 presence_bonus=90)]},
                           start=start)
    await app.advance(minutes=1)
    assert await pots(app, "alice") == [("event.Friday Night Event.presence", 30)]
    for _ in range(2):
        app = await app.restart()
        await app.seed(["alice", "bob", "carol"])
        await app.advance(minutes=2)
    assert await last_minute(app) == 3
    assert await pots(app, "alice") == [("event.Friday Night Event.presence", 30)]
    assert len([line for line in app.chat_lines() if "has begun" in line]) == 1
    await app.app.stop()  # down over the end: the next start announces it
    await app.clock.set(datetime(2026, 3, 7, 10, 0, tzinfo=UTC))
    app = await app.restart()
    await app.seed(["alice", "bob", "carol"])
    await app.advance(seconds=1)
    assert [line for line in app.chat_lines() if "is over" in line] == [
        "⏰ Friday Night Event is over. Thanks for being here!"]
    await app.advance(minutes=2)
    assert await last_minute(app) == 1
    assert len([line for line in app.chat_lines() if "is over" in line]) == 1
    assert await app.ledger.verify() == []


async def test_a_fire_missed_while_down_starts_late_once(make_app: MakeApp) -> None:
    start = datetime(2026, 3, 6, 21, 0, tzinfo=UTC)
    app = await events_app(make_app, {"scheduled_events": [FRIDAY_NIGHT]}, start=start)
    await app.app.stop()
    await app.clock.set(datetime(2026, 3, 6, 23, 0, tzinfo=UTC))
    app = await app.restart()
    await app.seed(["alice"])
    await app.advance(minutes=1)
    assert [line for line in app.chat_lines() if "has begun" in line] == [
        "🎉 Friday Night Event has begun: ×3 on everything you earn here for 11 h "
        "(until 09:00)!"]
    assert await last_minute(app) == 3


async def test_an_admin_can_stop_a_scheduled_run(make_app: MakeApp) -> None:
    start = datetime(2026, 3, 6, 22, 0, 30, tzinfo=UTC)
    app = await events_app(make_app, {"scheduled_events": [FRIDAY_NIGHT]}, start=start)
    assert await app.pm("alice", "event stop", rank=4) == ["⏹️ Stopped: Friday Night Event."]
    await app.advance(minutes=1)
    assert await last_minute(app) == 1
    app = await app.restart()  # stays stopped
    await app.seed(["alice", "bob", "carol"])
    await app.advance(minutes=1)
    assert await last_minute(app) == 1
    assert len([line for line in app.chat_lines() if "has begun" in line]) == 1


# -- the presence pot -----------------------------------------------------------------------------


async def test_the_pot_is_split_over_the_present_unbanned_users_once(make_app: MakeApp) -> None:
    start = datetime(2026, 3, 6, 21, 59, 30, tzinfo=UTC)
    app = await events_app(make_app, {"scheduled_events": [dict(FRIDAY_NIGHT,
                                                                 presence_bonus=100)]},
                           start=start, users=("alice", "bob", "carol", "ZCoinBot"))
    await app.app.identity.ban(CHANNEL, "carol", by="admin", reason="test", at=start)
    await app.advance(minutes=1)
    for user in ("alice", "bob"):
        assert await pots(app, user) == [("event.Friday Night Event.presence", 50)]
        posting = next(p for p in await postings(app, user) if p.type == "event_bonus")
        assert "factor" not in posting.metadata  # a fixed award: never multiplied
        assert posting.metadata == {"pot": 100, "present": 2}
        assert any("You were here when Friday Night Event began: +50" in pm
                   for pm in app.pms_to(user))
    assert await pots(app, "carol") == []


async def test_a_small_pot_still_pays_everyone_one(make_app: MakeApp) -> None:
    start = datetime(2026, 3, 6, 21, 59, 30, tzinfo=UTC)
    app = await events_app(make_app, {"scheduled_events": [dict(FRIDAY_NIGHT,
                                                                 presence_bonus=None)],
                                      "default_presence_bonus": 2}, start=start)
    await app.advance(minutes=1)
    for user in ("alice", "bob", "carol"):
        assert await pots(app, user) == [("event.Friday Night Event.presence", 1)]


async def test_an_admin_event_pays_the_adhoc_pot(make_app: MakeApp) -> None:
    app = await events_app(make_app, {"adhoc_presence_bonus": 30})
    await app.pm("alice", 'event start 2 10 "Party"', rank=4)
    for user in ("alice", "bob", "carol"):
        assert await pots(app, user) == [("event.Party.presence", 10)]


# -- the switching sources ------------------------------------------------------------------------


async def test_off_peak_switches_on_and_off_with_one_line_each(make_app: MakeApp) -> None:
    start = datetime(2026, 3, 4, 5, 58, 30, tzinfo=UTC)  # Wednesday (cron day 3)
    app = await events_app(make_app, {"off_peak": {"enabled": True}}, start=start)
    await app.advance(minutes=1)
    assert await last_minute(app) == 1 and app.chat_lines() == []
    await app.advance(minutes=1)  # 06:00:30
    assert await last_minute(app) == 2
    assert app.chat_lines() == ["🌙 Off-peak hours: ×2 on everything you earn by being here "
                                "and chatting!"]
    app = await app.restart()  # no second line
    await app.seed(["alice"])
    await app.advance(minutes=2)
    assert len(app.chat_lines()) == 1
    await app.clock.set(datetime(2026, 3, 4, 15, 59, 30, tzinfo=UTC))
    await app.settle()
    app.clear()
    await app.advance(minutes=1)
    assert app.chat_lines() == ["🌙 Off-peak hours are over."]
    assert await last_minute(app) == 1


async def test_holidays_and_sources_multiply(make_app: MakeApp) -> None:
    start = datetime(2026, 12, 24, 23, 59, tzinfo=UTC)  # Thursday: off-peak day 4
    config = {"off_peak": {"enabled": True, "hours": [0]},
              "holidays": {"enabled": True}}
    app = await events_app(make_app, config, start=start)
    await app.advance(minutes=2)  # Christmas 00:01
    assert app.chat_lines()[-1] == "🎉 Happy Christmas! ×3 on everything you earn today."
    await app.pm("alice", 'event start 2 10 "Double"', rank=4)  # Friday: off-peak is off
    await app.advance(minutes=1)
    posting = (await postings(app, "bob"))[-1]
    assert posting.amount == 6
    assert posting.metadata["factors"] == {"Christmas": 3.0, "Double": 2.0}
    reply = await app.pm("bob", "events")
    assert reply[0].startswith("🎉 Multipliers now: Christmas 3.0×, Double 2.0× (until ")
    assert reply[0].endswith("— combined 6.0×")
    await app.clock.set(datetime(2026, 12, 26, 0, 0, 30, tzinfo=UTC))
    await app.settle()
    assert "🎉 Christmas is over: thanks for celebrating with us!" in app.chat_lines()


async def test_a_full_room_multiplies_without_being_listed(make_app: MakeApp) -> None:
    users = [f"user{n}" for n in range(10)]
    config = {"high_population": {"enabled": True}}
    app = await events_app(make_app, config, users=users[:9])
    await app.advance(minutes=1)
    assert await last_minute(app, "user0") == 1
    await app.join("user9")
    await app.advance(minutes=1)
    posting = [p for p in await postings(app, "user0") if p.trigger_id == "presence.base"][-1]
    assert posting.amount == 1 and posting.metadata["factor"] == 1.5  # 1.5 accumulates
    assert posting.metadata["factors"] == {}  # hidden: applied, not listed
    await app.advance(minutes=1)
    assert await minutes_paid(app, "user0") == [1, 1, 2]
    assert await app.pm("user0", "events") == ["🎉 Multipliers now: none, 1×"]


# -- occasions: chat_triggers' present_at_event_start and the pot ---------------------------------


class Listener:
    """Records every occasion the events plugin broadcasts."""

    name = "listener"
    heard: ClassVar[list[tuple[str, str, datetime, int | None]]] = []

    def __init__(self, ctx: PluginContext[Any]) -> None:
        self.ctx = ctx

    @hookimpl(optionalhook=True)
    async def economy_occasion_started(self, channel: str, name: str, at: datetime,
                                       reward: int | None) -> None:
        Listener.heard.append((channel, name, at, reward))


async def test_each_start_is_broadcast_once_with_reward_zero(make_app: MakeApp) -> None:
    Listener.heard = []
    start = datetime(2026, 3, 6, 21, 59, 30, tzinfo=UTC)
    app = await events_app(make_app, {"scheduled_events": [FRIDAY_NIGHT]}, start=start,
                           plugins=[Listener])
    await app.advance(minutes=1)
    app = await app.restart()
    await app.seed(["alice"])
    await app.advance(minutes=1)
    await app.pm("alice", 'event start 2 5 "Bonus"', rank=4)
    assert Listener.heard == [
        (CHANNEL, "Friday Night Event", datetime(2026, 3, 6, 22, 0, tzinfo=UTC), 0),
        (CHANNEL, "Bonus", app.clock.now(), 0)]


async def test_chat_triggers_pays_nothing_more_for_presence_at_a_start(make_app: MakeApp) -> None:
    """Events pays the SPEC's pot (event_bonus) and broadcasts with reward 0: chat_triggers'
    per-user present_at_event_start pays only for a non-zero reward, so nobody is paid twice."""
    from economy_plugins.chat_triggers import ChatTriggers

    start = datetime(2026, 3, 6, 21, 59, 30, tzinfo=UTC)
    app = await events_app(make_app, {"scheduled_events": [dict(FRIDAY_NIGHT,
                                                                 presence_bonus=90)]},
                           start=start, plugins=[ChatTriggers])
    await app.advance(minutes=1)
    await app.settle()
    for user in ("alice", "bob", "carol"):
        paid = [(p.type, p.trigger_id, p.amount) for p in await postings(app, user)
                if p.type == "event_bonus" or p.trigger_id == "content.present_at_event_start"]
        assert paid == [("event_bonus", "event.Friday Night Event.presence", 30)]


# -- what reaches the multiplier ------------------------------------------------------------------


class Spy:
    """Records every activity earning the core asks multipliers for."""

    name = "spy"
    asked: ClassVar[list[tuple[str, str]]] = []

    def __init__(self, ctx: PluginContext[Any]) -> None:
        self.ctx = ctx

    @staticmethod
    @hookimpl
    def economy_addhooks(pluginmanager: pluggy.PluginManager) -> None:
        return None

    @hookimpl
    def economy_award_multiplier(self, award: AwardRequest) -> Multiplier | None:
        Spy.asked.append((award.source, award.trigger_id))
        return None


async def test_only_activity_earnings_reach_the_multiplier(make_app: MakeApp) -> None:
    """Every built-in path that pays: the hook is asked for presence's minute pay, chat
    triggers and rain only; every fixed award (wallet, milestone, streaks, pot, competitions,
    bounties, interest) is paid as configured while a 2× event runs."""
    Spy.asked = []
    start = datetime(2026, 3, 3, 23, 0, tzinfo=UTC)
    config: dict[str, Any] = {
        "clock": {"timezone": "UTC"},
        "plugins": {
            "presence": {"hourly_milestones": {"1": 10}, "welcome_back": {"enabled": False},
                         "night_watch": {"enabled": False}},
            "events": {"off_peak": {"enabled": False}, "high_population": {"enabled": False},
                       "holidays": {"enabled": False}, "adhoc_presence_bonus": 40,
                       "scheduled_events": []},
            "rain": {"interval_minutes": 30},
            "maintenance": {"interest": {"daily_rate": 0.01}},
            "streaks": {"daily": {"min_presence_minutes": 5}},
            "competitions": {"daily": [
                {"id": "chatty", "description": "Chat", "condition": {
                    "type": "daily_threshold", "field": "messages_sent", "threshold": 1},
                 "reward": 7}]},
        }}
    app = await make_app(plugins=["presence", "wallet", "events", "chat_triggers", "rain",
                                  "streaks", "maintenance", "competitions", "bounties", Spy],
                         config=config, channel=CHANNEL, clock=FakeClock(start))
    await app.join("alice")
    await app.join("bob")
    await app.pm("alice", 'event start 2 1440 "Double"', rank=4)
    await app.chat("alice", "hello everyone, this is a long enough line to count for sure")
    await app.chat("bob", "lol")
    await app.pm("alice", "bounty 100 find the lost episode")
    await app.pm("carol", "claim_bounty 1 @bob", rank=4)
    await app.advance(hours=2)  # presence, a milestone, rain, competitions at 23:59
    await app.advance(hours=4)  # interest at 03:00 (wallets are 100+), streak day 2 checks
    await app.settle()
    fixed = {"welcome_wallet": 100, "milestone": 10, "event_bonus": 20, "bounty_claim": 100,
             "competition": 7, "streak_bonus": 10}
    seen: set[str] = set()
    for user in ("alice", "bob"):
        for p in await postings(app, user):
            if p.type in fixed:
                assert p.amount == fixed[p.type], p
            elif p.type == "interest":  # 1 % of the balance before it, at most 10
                assert p.amount == min((p.balance_after - p.amount) // 100, 10), p
            else:
                continue
            assert "factor" not in p.metadata, p
            seen.add(p.type)
    assert seen == {*fixed, "interest"}
    sources = {source for source, _ in Spy.asked}
    assert sources <= {"presence", "chat_triggers", "rain"} and "presence" in sources
    triggers = {t for _, t in Spy.asked}
    assert all(t == "presence.base" or t == "rain.ambient"
               or t.split(".")[0] in ("chat", "content", "social") for t in triggers), triggers
    assert await app.ledger.verify() == []


# -- a crash at any commit ------------------------------------------------------------------------


async def test_each_start_pays_its_pot_once_whatever_commit_a_crash_hits(
        make_app: MakeApp) -> None:
    from collections import Counter

    from ..crash import at_every_commit

    async def build(db: str) -> AppHarness:
        return await events_app(
            make_app, {"scheduled_events": [dict(FRIDAY_NIGHT, presence_bonus=90)],
                       "adhoc_presence_bonus": 30},
            start=datetime(2026, 3, 6, 21, 59, 10, tzinfo=UTC), db=db,
            extra={"admin": {"owner_level": 0}})

    users = ("alice", "bob", "carol")
    steps = [*(("join", u) for u in users), ("wait", 2),
             ("pm", "alice", 'event start 2 3 "Quick"'), ("wait", 5)]

    async def check(app: AppHarness, point: int | None) -> None:
        assert await app.ledger.verify() == []
        found: Counter[tuple[str | None, int]] = Counter()
        for user in users:
            found.update(await pots(app, user))
        friday = found.pop(("event.Friday Night Event.presence", 30))
        assert friday == 3, point  # started once, also when the crash hit its first try
        assert found in (Counter(), Counter({("event.Quick.presence", 10): 3})), point
        if point is None:
            assert found, "the reference run starts Quick"

    await at_every_commit(build, steps, check, at_least=5)
