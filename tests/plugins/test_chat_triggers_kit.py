"""Shared helpers of the chat_triggers tests (imported by the other ``test_chat_triggers*``
modules), and a check of the fixture they build: SPEC §8's channel ``testchan`` and clock
(Tue 2026-03-03 20:00 UTC), users present with accounts, none banned."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from economy_plugins.chat_triggers import ChatTriggers

from economy_core.ledger import Kind
from economy_core.testing import AppHarness, MakeApp, merge_config

CHANNEL = "testchan"
SPEC_NOW = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)
START_BALANCE = 1000
CHAT_BOT = "ChatBot"


class Room:
    """An app with chat_triggers, speaking for users; every helper waits until the writes of
    what it did are committed."""

    def __init__(self, app: AppHarness) -> None:
        self.app = app

    @property
    def plugin(self) -> ChatTriggers:
        plugin: ChatTriggers = self.app.plugin("chat_triggers")
        return plugin

    async def settle(self) -> None:
        await self.app.settle()  # runs economy_settle: the batched writes are committed
        assert self.plugin.writer.failed_batches == 0, "a write batch failed (see the log)"

    async def say(self, user: str, text: str) -> None:
        await self.app.chat(user, text)
        await self.settle()

    async def pm(self, user: str, text: str, *, rank: int | None = None) -> list[str]:
        return await self.app.pm(user, text, rank=rank)

    async def join(self, user: str) -> None:
        await self.app.join(user)
        await self.settle()

    async def leave(self, user: str) -> None:
        await self.app.leave(user)
        await self.settle()

    async def media(self, title: str, duration_s: int, media_id: str = "x") -> None:
        await self.app.media(title, duration_s=duration_s, media_id=media_id)
        await self.settle()

    async def wait(self, seconds: float = 0.0, *, minutes: float = 0.0,
                   hours: float = 0.0) -> None:
        await self.app.advance(seconds, minutes=minutes, hours=hours)
        await self.settle()

    async def restart(self) -> None:
        self.app = await self.app.restart()

    async def earned(self, user: str, trigger: str | None = None) -> int:
        """Z the user got from chat_triggers (from one trigger, if given)."""
        postings = await self.app.ledger.history(CHANNEL, user, limit=100_000)
        return sum(p.amount for p in postings if p.source == "chat_triggers"
                   and (trigger is None or p.trigger_id == trigger))

    async def postings(self, user: str, trigger: str | None = None) -> list[Any]:
        postings = await self.app.ledger.history(CHANNEL, user, limit=100_000)
        return [p for p in reversed(postings) if p.source == "chat_triggers"
                and (trigger is None or p.trigger_id == trigger)]

    async def all_postings(self) -> list[Any]:
        out = []
        for account in await self.app.ledger.top(CHANNEL, limit=100_000):
            out += await self.postings(account.username)
        return out

    async def daily(self, user: str) -> dict[str, int]:
        day = self.app.clock.now().astimezone(self.app.app.tz).date()
        counters: dict[str, int] = await self.app.ledger.daily(CHANNEL, user, day)
        return counters

    async def balance(self, user: str) -> int:
        return await self.app.balance(user)


SILENT_PRESENCE: Mapping[str, Any] = {
    "base_rate_per_minute": 0, "hourly_milestones": {},
    "welcome_wallet": {"enabled": False}, "welcome_back": {"enabled": False}}
"""Presence that keeps sessions and judges arrivals but credits nothing."""


async def chat_room(make_app: MakeApp, config: Mapping[str, Any] | None = None, *,
                    users: Sequence[str] = ("alice", "bob", "carol", "dave"),
                    plugins: Sequence[Any] = (), core: Mapping[str, Any] | None = None,
                    db: str = "economy.db", strict: bool = True) -> Room:
    """The fixture: ``users`` present (seeded, so nobody is a newcomer) with accounts of
    :data:`START_BALANCE`; chat_triggers configured with ``config``. Presence runs too, since
    it judges which joins are genuine arrivals (greetings), but pays nothing itself."""
    overrides = merge_config(
        {"plugins": {"chat_triggers": dict(config or {}), "presence": SILENT_PRESENCE}},
        core or {})
    app = await make_app(plugins=[ChatTriggers, "presence", "wallet", *plugins],
                         config=overrides, channel=CHANNEL, db=db, strict=strict)
    for user in users:
        await app.ledger.credit(CHANNEL, user, START_BALANCE, type="admin_grant",
                                kind=Kind.EARN)
    await app.seed(users)
    return Room(app)


async def test_fixture_matches_spec(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    assert room.app.clock.now() == SPEC_NOW
    assert room.app.channel == CHANNEL
    assert [u.username for u in room.app.app.rooms[CHANNEL].present()] == [
        "alice", "bob", "carol", "dave"]
    assert await room.balance("alice") == START_BALANCE
    assert not room.app.app.identity.is_banned(CHANNEL, "alice")
