"""content.present_at_event_start: an occasion plugin (here a minimal stand-in for the events
plugin) publishes and broadcasts ``economy_occasion_started``; everyone present is paid once per
occasion start, through the chat_triggers writer (caps in the ledger's cap store, multipliers,
analytics)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pluggy

from economy_core import CommandCall, PluginContext, command, hookimpl, hookspec

from .test_chat_triggers_kit import CHANNEL, START_BALANCE, chat_room

TRIGGER = "content.present_at_event_start"


class OccasionHooks:
    """The hook spec an occasion-running plugin publishes (chat_triggers implements it)."""

    @hookspec
    def economy_occasion_started(self, channel: str, name: str, at: datetime,
                                 reward: int | None) -> None:
        """``name`` began at ``at``; ``reward`` overrides the default presence reward."""


class Occasions:
    """Starts occasions on an admin PM: ``occasion <name> [reward]`` (the repeat flag re-sends
    the last start, as a retry or a replay after a restart would)."""

    name = "occasions"

    @staticmethod
    @hookimpl
    def economy_addhooks(pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(OccasionHooks)

    def __init__(self, ctx: PluginContext[Any]) -> None:
        self.ctx = ctx
        self.last: tuple[str, datetime, int | None] | None = None

    async def start(self, channel: str, name: str, at: datetime, reward: int | None) -> None:
        self.last = (name, at, reward)
        await self.ctx.hooks.broadcast(OccasionHooks.economy_occasion_started, channel=channel,
                                       name=name, at=at, reward=reward)

    @command("occasion", help="Start an occasion", admin=True)
    async def occasion(self, call: CommandCall, name: str, reward: int | None = None) -> str:
        await self.start(call.channel, name, self.ctx.clock.now(), reward)
        return f"{name} started"


async def occasion_postings(room: Any, user: str) -> list[int]:
    postings = await room.app.ledger.history(CHANNEL, user, limit=100)  # newest first
    return [p.amount for p in reversed(postings) if p.trigger_id == TRIGGER]


async def test_everyone_present_is_paid_once_per_occasion(make_app: Any) -> None:
    room = await chat_room(make_app, plugins=[Occasions])
    await room.leave("dave")
    assert await room.pm("alice", "occasion Movie-Night", rank=4) == ["Movie-Night started"]
    await room.settle()
    for user in ("alice", "bob", "carol"):
        assert await occasion_postings(room, user) == [100]
    assert await occasion_postings(room, "dave") == []  # not here when it began
    occasions: Occasions = room.app.plugin("occasions")
    assert occasions.last is not None
    await occasions.start(CHANNEL, *occasions.last)  # the same start again: nothing more
    await room.settle()
    assert await occasion_postings(room, "alice") == [100]
    room.app = await room.app.restart()
    await room.app.seed(["alice", "bob", "carol"])
    await room.app.plugin("occasions").start(CHANNEL, *occasions.last)  # replay after restart
    await room.settle()
    assert await occasion_postings(room, "bob") == [100]
    await room.wait(minutes=5)
    await room.pm("alice", "occasion Movie-Night", rank=4)  # a new start of the same name pays
    await room.settle()
    assert await occasion_postings(room, "carol") == [100, 100]
    assert await room.app.ledger.verify() == []


async def test_the_occasion_reward_overrides_the_default_and_the_switch_works(
        make_app: Any) -> None:
    room = await chat_room(make_app, {"present_at_event_start": {"default_reward": 40}},
                           plugins=[Occasions])
    await room.pm("alice", "occasion Quiz", rank=4)
    await room.settle()
    assert await occasion_postings(room, "bob") == [40]
    await room.wait(minutes=1)
    await room.pm("alice", "occasion Double-Time 7", rank=4)
    await room.settle()
    assert await occasion_postings(room, "bob") == [40, 7]
    assert await room.balance("bob") == START_BALANCE + 47

    off = await chat_room(make_app, {"present_at_event_start": {"enabled": False}},
                          plugins=[Occasions], db="off.db")
    await off.pm("alice", "occasion Quiz", rank=4)
    await off.settle()
    assert await occasion_postings(off, "bob") == []


async def test_banned_users_get_nothing_and_rewards_can_list_it(make_app: Any) -> None:
    room = await chat_room(make_app, {"present_at_event_start": {"hidden": False}},
                           plugins=[Occasions])
    await room.app.app.identity.ban(CHANNEL, "carol", by="alice", reason="test",
                                    at=room.app.clock.now())
    await room.pm("alice", "occasion Quiz", rank=4)
    await room.settle()
    assert await occasion_postings(room, "carol") == []
    assert await occasion_postings(room, "bob") == [100]
    rewards = "\n".join(await room.pm("bob", "rewards"))
    assert "Being here when an event starts: 100 Z" in rewards


async def test_an_occasion_with_reward_zero_pays_nothing(make_app: Any) -> None:
    """The events plugin pays its presence pot itself and broadcasts reward 0: nothing more."""
    room = await chat_room(make_app, plugins=[Occasions])
    await room.pm("alice", "occasion Friday-Night 0", rank=4)
    await room.settle()
    for user in ("alice", "bob", "carol"):
        assert await occasion_postings(room, user) == []
    assert await room.balance("bob") == START_BALANCE
