"""unique_emotes_used (SPEC §2.3, §3.3): distinct channel emotes a user wrote today, with the emote
list read from the robot's KV (``kryten_<channel>_emotes``, key ``list``)."""

from __future__ import annotations

from typing import Any

from economy_plugins.chat_triggers import ChatTriggers

from economy_core.events import RoomSnapshot, RoomUser

from .test_chat_triggers_kit import CHANNEL, START_BALANCE, chat_room

EMOTES = ("Kappa", "PogChamp", ":catjam:", "LUL")


async def seed_with_emotes(room: Any) -> None:
    users = tuple(RoomUser(u, 1) for u in ("alice", "bob", "carol", "dave"))
    await room.app.app.handle_event(RoomSnapshot(CHANNEL, users, room.app.clock.now(), EMOTES))
    await room.settle()


async def emotes_today(room: Any, user: str) -> int:
    value: int = (await room.daily(user)).get("unique_emotes_used", 0)
    return value


async def test_distinct_emotes_count_once_a_day_and_pay_nothing(make_app: Any) -> None:
    room = await chat_room(make_app, {"long_message": {"enabled": False},
                                      "first_message_of_day": {"enabled": False},
                                      "conversation_starter": {"enabled": False},
                                      "mentioned_by_other": {"enabled": False}})
    await seed_with_emotes(room)
    await room.say("alice", "Kappa hello Kappa PogChamp kappa")  # case matters, as in CyTube
    assert await emotes_today(room, "alice") == 2
    await room.say("alice", "Kappa :catjam:")
    assert await emotes_today(room, "alice") == 3
    room.app = await room.app.restart()
    await seed_with_emotes(room)
    await room.say("alice", "PogChamp again")  # counted before the restart
    assert await emotes_today(room, "alice") == 3
    await room.say("bob", "LUL")
    assert await emotes_today(room, "bob") == 1
    assert await room.balance("alice") == START_BALANCE  # a counter, not a reward
    await room.wait(hours=24)
    await room.say("alice", "Kappa")
    assert await emotes_today(room, "alice") == 1  # a new day


async def test_without_an_emote_list_nothing_is_counted(make_app: Any) -> None:
    room = await chat_room(make_app)
    await room.say("alice", "Kappa PogChamp")
    assert await emotes_today(room, "alice") == 0


async def test_the_bus_reads_the_emote_list_from_the_robot(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=[ChatTriggers], users=[("alice", 1)])
    assert env.app.rooms[env.channel].emotes == frozenset()
    await env.robot.set_emotes(list(EMOTES))
    await env.restart_bot()
    assert env.app.rooms[env.channel].emotes == frozenset(EMOTES)
