"""The bot's process killed at every commit of a scenario (tests/crash.py), for ranks and
achievements: an achievement is paid, recorded and told at most once whatever commit the crash
hit, and exactly once after the next event that shows it reached; a promotion is stored and
announced at most once, and stored after the next earning; balances equal their transactions."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from economy_core.clock import FakeClock
from economy_core.testing import AppHarness, MakeApp

from ..crash import at_every_commit
from .test_chat_triggers_kit import SILENT_PRESENCE

CHANNEL = "testroom"
START = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)


async def test_an_achievement_is_paid_and_told_once_whatever_commit_dies(
        make_app: MakeApp) -> None:
    chatty = {"id": "chatty", "description": "three lines",
              "condition": {"type": "lifetime_messages", "threshold": 3}, "reward": 40,
              "hidden": False}

    async def build(db: str) -> AppHarness:
        app = await make_app(plugins=["chat_triggers", "presence", "achievements"],
                             clock=FakeClock(START), db=db, channel=CHANNEL,
                             config={"plugins": {"presence": SILENT_PRESENCE,
                                                 "achievements": {"achievements": [chatty]}}})
        await app.seed(["alice", "bob"])
        return app

    steps = [("chat", "alice", f"line {n}") for n in range(5)] + [("wait", 1)]

    async def check(app: AppHarness, point: int | None) -> None:
        await app.chat("alice", "one more line after it all")  # shows the threshold again
        assert await app.ledger.verify() == []
        paid = [p for p in await app.ledger.history(CHANNEL, "alice", limit=1000)
                if p.type == "achievement"]
        assert [(p.trigger_id, p.amount) for p in paid] == [("achievement.chatty", 40)], point
        told = [s for s in app.transport.sent if "unlocked" in s.text]
        assert len([s for s in told if s.to is None]) <= 1, point
        assert len([s for s in told if s.to is not None]) <= 1, point
        if point is None:
            assert len(told) == 2

    await at_every_commit(build, steps, check, at_least=5)


async def test_a_promotion_is_stored_and_announced_once_whatever_commit_dies(
        make_app: MakeApp) -> None:
    tiers = [{"name": "Extra", "min_lifetime_earned": 0},
             {"name": "Grip", "min_lifetime_earned": 3},
             {"name": "Key Grip", "min_lifetime_earned": 6}]
    presence = {**SILENT_PRESENCE, "base_rate_per_minute": 1.0}

    async def build(db: str) -> AppHarness:
        return await make_app(plugins=["presence", "ranks"], clock=FakeClock(START), db=db,
                              channel=CHANNEL,
                              config={"plugins": {"presence": presence, "ranks": {
                                  "tiers": tiers, "announce_interval_minutes": 0,
                                  "cytube_promotion": {"min_rank": "Grip"}}}})

    steps = [("join", "alice"), ("join", "bob"), ("wait", 8)]

    async def check(app: AppHarness, point: int | None) -> None:
        await app.advance(minutes=1)  # one more earning: a promotion a crash lost is stored
        assert await app.ledger.verify() == []
        ranks = app.plugin("ranks")
        lines = [s.text for s in app.transport.sent if s.to is None]
        mentions: Counter[str] = Counter()
        for line in lines:
            for user in ("alice", "bob"):
                for tier in ("Key Grip", "Grip"):
                    if f"{user} → {tier}" in line or f"{user} is now {tier}" in line:
                        mentions[f"{user} {tier}"] += 1
                        break
        assert all(n == 1 for n in mentions.values()), (point, lines)
        for user in ("alice", "bob"):
            account = await app.ledger.account(CHANNEL, user)
            assert account is not None and account.lifetime_earned >= 6
            assert ranks.store.tier(CHANNEL, user) == 2, point
            notices = Counter(s.text.splitlines()[0] for s in app.transport.sent
                              if s.to == user and "You are now" in s.text)
            assert all(n == 1 for n in notices.values()), (point, notices)
        if point is None:
            assert lines == ["🎬 Promotions: alice → Grip, bob → Grip!",
                             "🎬 Promotions: alice → Key Grip, bob → Key Grip!"]

    await at_every_commit(build, steps, check, at_least=8)
