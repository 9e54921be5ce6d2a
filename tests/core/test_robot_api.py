"""ctx.robot: queue media and set channel ranks through kryten-robot; the bot's own rank; the
room's playlist from the robot's state."""

from __future__ import annotations

from typing import Any

import pytest

from economy_core import (
    CommandCall,
    MediaResult,
    PlaylistItem,
    PluginContext,
    RoomUser,
    Username,
    command,
)
from economy_core.robot_api import PluginRobot, media_result, playlist_items
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

    @command("playlist", help="What is on the playlist")
    async def playlist(self, call: CommandCall) -> str:
        items = await self.ctx.robot.playlist(call.channel, wait_seconds=2.0)
        if items is None:
            return "unknown"
        return "; ".join(f"{i.media_type}:{i.media_id} uid={i.uid}" for i in items) or "empty"

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


CYTUBE_ITEM = {"media": {"id": "lepus", "title": "Night of the Lepus", "seconds": 5400,
                         "duration": "01:30:00", "type": "yt", "meta": {}},
               "uid": 12, "temp": True, "queueby": "ZCoinBot"}


@pytest.mark.parametrize(("raw", "expected"), [
    ([CYTUBE_ITEM], (PlaylistItem("yt", "lepus", "Night of the Lepus", 5400, 12),)),
    ([], ()),
    ([{"type": "cm", "id": "https://x.test/m.json", "title": "Flat", "seconds": 60}],
     (PlaylistItem("cm", "https://x.test/m.json", "Flat", 60, None),)),
    ([{}, "junk", {"media": {"type": "yt"}}, {**CYTUBE_ITEM, "uid": True}],  # unreadable skipped
     (PlaylistItem("yt", "lepus", "Night of the Lepus", 5400, None),)),
    (None, None), ({"items": []}, None), ("[]", None),  # missing or malformed: unknown
])
def test_the_robots_playlist_state_is_read(raw: Any, expected: Any) -> None:
    assert playlist_items(raw) == expected


@pytest.mark.parametrize(("state", "reply"), [
    ("known", "yt:abc123 uid=101"),
    ("unknown", "unknown"),
    ("malformed", "unknown"),
])
async def test_playlist_reports_the_room_or_unknown(make_app: MakeApp, state: str,
                                                    reply: str) -> None:
    app = await make_app(plugins=[Jukebox])
    assert await app.pm("alice", "playlist") == ["empty"]
    await app.pm("alice", "put abc123")
    app.transport.playlist_state = state
    assert await app.pm("alice", "playlist") == [reply]


async def test_playlist_never_raises() -> None:
    class Broken:
        async def playlist(self, channel: str, timeout: float) -> Any:
            raise RuntimeError("boom")

    class Slow:
        async def playlist(self, channel: str, timeout: float) -> Any:
            import asyncio
            await asyncio.sleep(10)

    for transport in (None, object(), Broken(), Slow()):
        robot = PluginRobot(lambda t=transport: t, lambda _ch: None)
        assert await robot.playlist(CHANNEL, wait_seconds=0.05) is None


async def test_playlist_through_nats_and_the_robot_stand_in(economy_e2e: Any) -> None:
    """The robot's KV playlist (``kryten_<channel>_playlist``/``items``) through kryten-py: an
    accepted item is on it; a channel whose robot keeps no playlist is unknown."""
    env = await economy_e2e(plugins=[Jukebox], users=[("alice", 1)])
    assert await env.pm("alice", "playlist") == ["empty"]
    await env.pm("alice", "put lepus")
    assert await env.pm("alice", "playlist") == ["yt:lepus uid=1001"]
    await env.robot.remove_from_playlist("lepus")
    assert await env.pm("alice", "playlist") == ["empty"]
    assert await env.app.robot.playlist("otherroom") is None  # no such bucket
    answer = await env.app._bus.request("kryten.robot.command",
                                        {"command": "state.playlist"}, timeout=2)
    assert answer["success"] and answer["data"] == {"playlist": []}
