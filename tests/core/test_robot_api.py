"""ctx.robot: queue media and set channel ranks through kryten-robot; the bot's own rank."""

from __future__ import annotations

from typing import Any

import pytest

from economy_core import CommandCall, MediaResult, PluginContext, RoomUser, Username, command
from economy_core.robot_api import media_result
from economy_core.testing import MakeApp, wait_until

CHANNEL = "testroom"


class Jukebox:
    """``put <id>`` queues a media item; ``promote @user`` asks for channel rank 2."""

    name = "jukebox"

    def __init__(self, ctx: PluginContext[None]) -> None:
        self.ctx = ctx
        self.results: list[MediaResult] = []

    @command("put", help="Queue an item")
    async def put(self, call: CommandCall, media_id: str) -> str:
        result = await self.ctx.robot.add_media(call.channel, "yt", media_id, position="next",
                                                wait_seconds=2.0)
        self.results.append(result)
        return f"{result.status} {result.uid or ''} {result.error or ''}".strip()

    @command("promote", help="Make someone a moderator")
    async def promote(self, call: CommandCall, user: Username) -> str:
        result = await self.ctx.robot.set_channel_rank(call.channel, user, 2)
        return "sent" if result.sent else f"refused: {result.error}"


@pytest.mark.parametrize(("answer", "expected"), [
    ({"success": True, "data": {"success": True, "uid": 7}}, MediaResult("queued", 7)),
    ({"success": True, "data": {"success": False, "error": "too long"}},
     MediaResult("refused", error="too long")),
    ({"success": True, "data": {"success": True, "uid": None}}, "unconfirmed"),
    ({"success": False, "error": "boom"}, MediaResult("refused", error="boom")),
    ({"error": "Invalid JSON"}, "refused"),
    ({"success": True, "data": {"success": True, "uid": True}}, "unconfirmed"),
])
def test_the_robots_answers_are_read(answer: dict[str, Any], expected: Any) -> None:
    result = media_result(answer)
    if isinstance(expected, str):
        assert result.status == expected and not result.ok
    else:
        assert result == expected


@pytest.mark.parametrize(("mode", "reply"), [
    ("queued", "queued 101"),
    ("refused", "refused  This item is already on the playlist"),
    ("unconfirmed", "unconfirmed  CyTube did not confirm the item in time"),
    ("silent", "no_answer  the robot did not answer within 2 s"),
    ("down", "unavailable  not connected to NATS"),
])
async def test_add_media_reports_every_outcome(make_app: MakeApp, mode: str,
                                               reply: str) -> None:
    app = await make_app(plugins=[Jukebox])
    app.transport.media_answer = mode
    assert await app.pm("alice", "put abc123") == [reply.replace("  ", " ").strip()
                                                   if mode == "queued" else reply]
    calls = [c for c in app.transport.robot_calls if c.command == "addvideo"]
    if mode == "down":
        assert calls == []
    else:
        assert calls[0].args == {"type": "yt", "id": "abc123", "pos": "next", "temp": True}


async def test_the_bots_rank_comes_from_the_room_and_gates_promotions(
        make_app: MakeApp) -> None:
    app = await make_app(plugins=[Jukebox])
    robot = app.plugin("jukebox").ctx.robot
    assert robot.bot_rank(CHANNEL) is None and robot.can_set_ranks(CHANNEL) is None
    await app.seed([RoomUser("alice", 1)], bot_rank=2)
    assert robot.bot_rank(CHANNEL) == 2 and robot.can_set_ranks(CHANNEL) is False
    assert await app.pm("alice", "promote @bob") == [
        "refused: the bot's channel rank is 2; setting ranks needs 3"]
    assert app.transport.robot_calls == []  # refused before anything was sent
    await app.set_bot_rank(3)
    assert await app.pm("alice", "promote @bob") == ["sent"]
    [call] = app.transport.robot_calls
    assert (call.command, call.args) == ("setChannelRank", {"username": "bob", "rank": 2})


async def test_through_nats_and_the_robot_stand_in(economy_e2e: Any) -> None:
    """The same through a real nats-server: kryten-py's request/reply to the stand-in, which
    answers as kryten-robot does; the bot's rank from the stand-in's userlist."""
    env = await economy_e2e(plugins=[Jukebox], users=[("alice", 1), ("ZCoinBot", 3)])
    assert env.app.robot.bot_rank(env.channel) == 3
    [reply] = await env.pm("alice", "put lepus")
    assert reply == "queued 1001"
    assert env.robot.queued_media[-1] == {"type": "yt", "id": "lepus", "pos": "next",
                                          "temp": True}
    env.robot.media_answer = "refused"
    assert await env.pm("alice", "put again") == [
        "refused  This item is already on the playlist"]
    env.robot.media_answer = "silent"
    assert await env.pm("alice", "put quiet", timeout=10) == [
        "no_answer  the robot did not answer within 2 s"]
    assert await env.pm("alice", "promote @alice") == ["sent"]
    await wait_until(lambda: env.robot.rank_requests != [], 5)
    assert env.robot.rank_requests == [{"username": "alice", "rank": 2}]
