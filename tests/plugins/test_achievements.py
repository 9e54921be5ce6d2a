"""Achievements: SPEC §3.11 through the real plugins that own each value (chat_triggers'
counters, presence's minutes, streaks' broadcast, ranks' broadcast, the ledger's accounts and
transfers, gambling's statistics), FakeClock from Tue 2026-03-03 20:00 UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from economy_plugins.achievements import Achievements
from economy_plugins.achievements.config import AchievementsConfig

from economy_core.config import ConfigError
from economy_core.contract import Contract, PostingType
from economy_core.events import RoomSnapshot, RoomUser
from economy_core.ledger import Kind
from economy_core.manager import check_plugins, review_config
from economy_core.testing import AppHarness, MakeApp, build_config, resolve_plugins

from .test_chat_triggers_kit import SILENT_PRESENCE
from .test_gambling_kit import force, gambling_app

CHANNEL = "testchan"
QUIET_PRESENCE = {"base_rate_per_minute": 0, "hourly_milestones": {},
                  "welcome_wallet": {"enabled": False}, "welcome_back": {"enabled": False},
                  "night_watch": {"enabled": False}}


def one(ident: str, kind: str, threshold: int, reward: int = 10, *, hidden: bool = False,
        description: str | None = None) -> dict[str, Any]:
    return {"id": ident, "description": description or ident.replace("_", " "),
            "condition": {"type": kind, "threshold": threshold}, "reward": reward,
            "hidden": hidden}


async def achievements_app(make_app: MakeApp, achievements: list[dict[str, Any]] | None = None,
                           *plugins: Any, config: dict[str, Any] | None = None,
                           **kwargs: Any) -> AppHarness:
    section: dict[str, Any] = {} if achievements is None else {"achievements": achievements}
    overrides = {"plugins": {"achievements": section, **(config or {})}}
    return await make_app(plugins=["achievements", "wallet", *plugins], channel=CHANNEL,
                          config=overrides, **kwargs)


async def awards(app: AppHarness, user: str) -> list[tuple[str | None, int]]:
    return [(p.trigger_id, p.amount) for p in await app.ledger.history(CHANNEL, user, limit=500)
            if p.type == "achievement"]


# -- chat ----------------------------------------------------------------------------------------


async def test_lifetime_messages_from_the_chat_counter_pays_once(make_app: MakeApp) -> None:
    app = await achievements_app(make_app, [one("chatty", "lifetime_messages", 5, 50)],
                                 "chat_triggers", "presence",
                                 config={"presence": SILENT_PRESENCE})
    await app.seed(["alice", "bob"])
    for n in range(4):
        await app.chat("alice", f"hi {n}")
    assert await awards(app, "alice") == []
    await app.chat("alice", "hi 5")
    assert await awards(app, "alice") == [("achievement.chatty", 50)]
    assert [p for p in app.pms_to("alice") if "Achievement unlocked" in p] == [
        "🏆 Achievement unlocked: chatty! +50 Z-Coins\n(PM 'quiet' to mute these)"]
    assert app.chat_lines() == ["🏆 alice unlocked an achievement: chatty!"]
    for n in range(5):
        await app.chat("alice", f"more {n}")
    app = await app.restart()
    await app.seed(["alice", "bob"])
    await app.chat("alice", "after the restart")
    assert await awards(app, "alice") == [("achievement.chatty", 50)]
    assert app.chat_lines() == ["🏆 alice unlocked an achievement: chatty!"]


async def test_counted_lines_from_before_a_restart_count(make_app: MakeApp) -> None:
    app = await achievements_app(make_app, [one("chatty", "lifetime_messages", 6)],
                                 "chat_triggers", "presence",
                                 config={"presence": SILENT_PRESENCE})
    await app.seed(["alice"])
    for n in range(5):
        await app.chat("alice", f"hi {n}")
    app = await app.restart()
    await app.seed(["alice"])
    await app.chat("alice", "the sixth")
    assert await awards(app, "alice") == [("achievement.chatty", 10)]


async def test_unique_emotes_used_over_a_lifetime(make_app: MakeApp) -> None:
    app = await achievements_app(make_app, [one("emoji", "unique_emotes_used_lifetime", 3)])
    await app._deliver(RoomSnapshot(CHANNEL, (RoomUser("alice", 1),), app.clock.now(),
                                    emotes=("Kappa", "PogChamp", "LUL", "monkaS")))
    await app.chat("alice", "Kappa Kappa LUL")
    await app.advance(days=1)
    await app.chat("alice", "LUL again, no new one")
    assert await awards(app, "alice") == []
    await app.chat("alice", "PogChamp")
    assert await awards(app, "alice") == [("achievement.emoji", 10)]
    [reply] = await app.pm("alice", "achievements")
    assert "✅ emoji" in reply


# -- tick ----------------------------------------------------------------------------------------


async def test_presence_hours_from_the_minutes_counter(make_app: MakeApp) -> None:
    app = await achievements_app(make_app, [one("one_hour", "lifetime_presence_hours", 1, 25),
                                            one("two_hours", "lifetime_presence_hours", 2, 50)],
                                 "presence", config={"presence": QUIET_PRESENCE})
    await app.join("alice")
    await app.advance(minutes=59)
    assert await awards(app, "alice") == []
    await app.advance(minutes=2)
    assert await awards(app, "alice") == [("achievement.one_hour", 25)]
    await app.leave("alice")
    await app.advance(hours=5)  # away: nothing grows
    await app.join("alice")
    await app.advance(minutes=61)
    assert await awards(app, "alice") == [("achievement.two_hours", 50),
                                          ("achievement.one_hour", 25)]


# -- streak (SPEC §8 scenario 7) -----------------------------------------------------------------


async def test_a_seven_day_streak_pays_the_streak_7_achievement(make_app: MakeApp) -> None:
    app = await achievements_app(make_app, None, "presence", "streaks",
                                 config={"presence": QUIET_PRESENCE})
    start = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)
    for day in range(7):
        await app.clock.set(start + timedelta(days=day))
        await app.join("alice")
        await app.advance(minutes=17)
        await app.leave("alice")
    paid = {p.trigger_id: p.amount for p in await app.ledger.history(CHANNEL, "alice", 100)}
    assert paid["streak.day7"] == 100 and paid["streak.milestone.7"] == 200
    assert paid["achievement.streak_7"] == 200
    assert await awards(app, "alice") == [("achievement.streak_7", 200)]
    [reply] = await app.pm("alice", "achievements")
    assert "✅ 7 days in a row · 2026-03-09" in reply
    assert "🔒 2 hidden remain." in reply  # presence_24h, streak_30 (no chat counter here)


async def test_progress_of_values_only_their_owners_know(make_app: MakeApp) -> None:
    app = await achievements_app(make_app, [one("week", "daily_streak", 7),
                                            one("gaffer", "rank_reached", 3)],
                                 "presence", "streaks", "ranks",
                                 config={"presence": QUIET_PRESENCE})
    start = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)
    for day in range(3):
        await app.clock.set(start + timedelta(days=day))
        await app.join("alice")
        await app.advance(minutes=17)
        await app.leave("alice")
    await app.ledger.credit(CHANNEL, "alice", 5_000, type="earn", kind=Kind.EARN)
    await app.settle()
    [reply] = await app.pm("alice", "achievements")
    assert reply.splitlines()[1:] == ["⬜ week: [████░░░░░░] 3/7 days",
                                      "⬜ gaffer: [██████░░░░] 2/3 rank"]


# -- earn, rank, spend ---------------------------------------------------------------------------


async def test_lifetime_earned_and_rank_reached(make_app: MakeApp) -> None:
    app = await achievements_app(make_app, [one("earner", "lifetime_earned", 1_000),
                                            one("gaffer", "rank_reached", 3, 77)], "ranks")
    await app.ledger.credit(CHANNEL, "alice", 999, type="earn", kind=Kind.EARN)
    await app.settle()
    assert await awards(app, "alice") == []
    await app.ledger.credit(CHANNEL, "alice", 1, type="earn", kind=Kind.EARN)
    await app.settle()
    assert await awards(app, "alice") == [("achievement.earner", 10)]
    await app.ledger.credit(CHANNEL, "alice", 15_000, type="earn", kind=Kind.EARN)
    await app.settle()
    assert await awards(app, "alice") == [("achievement.gaffer", 77),
                                          ("achievement.earner", 10)]


async def test_lifetime_spent(make_app: MakeApp) -> None:
    app = await achievements_app(make_app, [one("spender", "lifetime_spent", 500)])
    await app.ledger.credit(CHANNEL, "alice", 1_000, type="admin_grant", kind=Kind.CORRECTION)
    await app.ledger.debit(CHANNEL, "alice", 499)
    await app.settle()
    assert await awards(app, "alice") == []
    await app.ledger.debit(CHANNEL, "alice", 1)
    await app.settle()
    assert await awards(app, "alice") == [("achievement.spender", 10)]


async def test_gambled_and_biggest_win_from_gambling(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, plugins=[Achievements], core={"plugins": {
        "achievements": {"achievements": [one("roller", "lifetime_gambled", 100),
                                          one("lucky", "gambling_biggest_win", 50)]}}})
    force(app, 0.5)  # tails
    await app.pm("alice", "flip 60")
    assert await awards(app, "alice") == []
    await app.advance(seconds=20)  # the flip cooldown
    force(app, 0.1)  # heads: +60 net
    await app.pm("alice", "flip 60")
    assert sorted(await awards(app, "alice")) == [("achievement.lucky", 10),
                                                  ("achievement.roller", 10)]


# -- tips (transfers) ----------------------------------------------------------------------------


class Tips:
    """Stands in for a tipping plugin: it declares transfer posting types."""

    name = "tips"
    contract = Contract(posting_types=(PostingType("tip_send", "tip sent", Kind.TRANSFER),
                                       PostingType("tip_receive", "tip", Kind.TRANSFER)))

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx


async def test_unique_tip_recipients_and_senders(make_app: MakeApp) -> None:
    app = await achievements_app(make_app, [one("generous", "unique_tip_recipients", 2),
                                            one("liked", "unique_tip_senders", 2)], Tips)
    await app.ledger.credit(CHANNEL, "alice", 100, type="admin_grant", kind=Kind.CORRECTION)
    await app.ledger.credit(CHANNEL, "carol", 100, type="admin_grant", kind=Kind.CORRECTION)
    tips = app.app.plugins["tips"].context.ledger
    for sender, recipient in (("alice", "bob"), ("alice", "BOB"), ("alice", "dave"),
                              ("carol", "bob")):
        await tips.transfer(CHANNEL, sender, recipient, 5, send_type="tip_send",
                            receive_type="tip_receive")
    await app.settle()
    assert await awards(app, "alice") == [("achievement.generous", 10)]
    assert await awards(app, "bob") == [("achievement.liked", 10)]
    assert await awards(app, "dave") == []


# -- the command, the profile --------------------------------------------------------------------


async def test_achievements_lists_earned_progress_and_hidden(make_app: MakeApp) -> None:
    app = await achievements_app(make_app, [
        one("first", "lifetime_earned", 10, description="First coins"),
        one("big", "lifetime_earned", 1_000, description="A thousand"),
        one("secret", "lifetime_earned", 5_000, hidden=True),
        one("off", "lifetime_earned", 1, hidden=False) | {"enabled": False}])
    await app.ledger.credit(CHANNEL, "alice", 300, type="earn", kind=Kind.EARN)
    await app.settle()
    [reply] = await app.pm("alice", "achievements")
    assert reply.splitlines() == [
        "🏆 Achievements (1 earned):",
        "✅ First coins · 2026-03-03",
        "⬜ A thousand: [███░░░░░░░] 310/1,000 Z",
        "🔒 1 hidden remain.",
    ]
    [profile] = await app.pm("alice", "profile")
    assert "Achievements: 1 earned" in profile
    assert await app.pm("bob", "achievements") == [
        "🏆 Achievements (0 earned):\n⬜ First coins: [░░░░░░░░░░] 0/10 Z\n"
        "⬜ A thousand: [░░░░░░░░░░] 0/1,000 Z\n🔒 1 hidden remain."]


async def test_a_withheld_reward_is_earned_later(make_app: MakeApp) -> None:
    app = await make_app(plugins=["achievements", "wallet", "presence"], channel=CHANNEL,
                         config={"onboarding": {"min_account_age_minutes": 10,
                                                "exempt_types": ["admin_grant"]},
                                 "plugins": {"achievements": {"achievements": [
                                     one("first", "lifetime_earned", 10)]},
                                     "presence": QUIET_PRESENCE}})
    await app.join("alice")
    await app.ledger.credit(CHANNEL, "alice", 50, type="admin_grant", kind=Kind.EARN)
    await app.settle()
    assert await awards(app, "alice") == []  # too new: the reward is withheld, not earned
    assert app.pms_to("alice") == [] and app.chat_lines() == []
    await app.advance(minutes=11)
    await app.ledger.credit(CHANNEL, "alice", 1, type="admin_grant", kind=Kind.EARN)
    await app.settle()
    assert await awards(app, "alice") == [("achievement.first", 10)]


# -- configuration -------------------------------------------------------------------------------


def test_an_unknown_condition_type_is_a_config_error_naming_the_entry() -> None:
    infos = resolve_plugins(["achievements"])
    with pytest.raises(ConfigError) as found:
        build_config(infos, {"plugins": {"achievements": {"achievements": [
            one("ok", "lifetime_earned", 1), one("weird", "lines_typed_backwards", 3)]}}},
            database_url="sqlite+aiosqlite:///x.db")
    text = str(found.value)
    assert "plugins.achievements.achievements[1].condition" in text
    assert "achievement 'weird': unknown condition type 'lines_typed_backwards'" in text


def test_an_achievement_whose_source_is_disabled_is_reported() -> None:
    infos = resolve_plugins(["achievements", "wallet"])
    config = build_config(infos, {}, database_url="sqlite+aiosqlite:///x.db")
    notes = [str(n) for n in review_config(config, infos)]
    assert notes == [
        "plugins.achievements.achievements[0]: achievement 'messages_100' (lifetime_messages) "
        "is never awarded: it needs the daily counter 'messages_sent', which no enabled plugin "
        "keeps (enable chat_triggers)",
        "plugins.achievements.achievements[1]: achievement 'messages_1000' "
        "(lifetime_messages) is never awarded: it needs the daily counter 'messages_sent', "
        "which no enabled plugin keeps (enable chat_triggers)",
        "plugins.achievements.achievements[2]: achievement 'presence_24h' "
        "(lifetime_presence_hours) is never awarded: it needs the daily counter "
        "'minutes_present', which no enabled plugin keeps (enable presence)",
        "plugins.achievements.achievements[3]: achievement 'streak_7' (daily_streak) is never "
        "awarded: it needs the economy_streak_reached hook, which no enabled plugin publishes "
        "(enable streaks)",
        "plugins.achievements.achievements[4]: achievement 'streak_30' (daily_streak) is never "
        "awarded: it needs the economy_streak_reached hook, which no enabled plugin publishes "
        "(enable streaks)",
    ]
    full = resolve_plugins(["achievements", "wallet", "presence", "streaks", "chat_triggers"])
    config = build_config(full, {}, database_url="sqlite+aiosqlite:///x.db")
    assert review_config(config, full) == []
    assert check_plugins(full).publisher_of("economy_streak_reached") == "streaks"


def test_the_shipped_defaults_follow_the_spec() -> None:
    found = {a.id: (a.condition.type, a.condition.threshold, a.reward, a.hidden, a.enabled)
             for a in AchievementsConfig().achievements}
    assert found == {
        "messages_100": ("lifetime_messages", 100, 50, True, True),
        "messages_1000": ("lifetime_messages", 1000, 500, True, True),
        "presence_24h": ("lifetime_presence_hours", 24, 100, True, True),
        "streak_7": ("daily_streak", 7, 200, True, True),
        "streak_30": ("daily_streak", 30, 2000, True, True),
        "tipped_10_unique": ("unique_tip_recipients", 10, 100, True, False),
        "received_tips_10": ("unique_tip_senders", 10, 100, True, False),
    }
