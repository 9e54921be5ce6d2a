"""End to end: a real nats-server, the app on its kryten-py bus, and a kryten-robot stand-in
publishing real envelopes. One test per inbound event type, plus the drops at the door."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

from economy_core.events import ChatMessage, MediaChanged, user_key
from economy_core.hookspecs import hookimpl
from economy_core.testing import wait_until


class Recorder:
    """Records every hook call it sees (events as plugins receive them)."""

    name = "recorder"
    seen: ClassVar[list[Any]] = []

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        Recorder.seen = []

    @hookimpl
    def economy_chat_message(self, event: ChatMessage) -> None:
        Recorder.seen.append(event)

    @hookimpl
    def economy_media_changed(self, event: MediaChanged) -> None:
        Recorder.seen.append(event)


async def test_pm_round_trip_and_snapshot_seeding(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=["presence", "wallet"], users=[("alice", 1), ("boss", 4)])
    room = env.app.rooms[env.channel]
    assert room.is_present("alice") and room.rank_of("boss") == 4
    replies = await env.pm("alice", "balance")
    assert replies == ["💰 alice: 100 Z"]  # first sight (in the snapshot): the welcome wallet


async def test_join_pays_welcome_wallet_and_leave_is_seen(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=["presence", "wallet"],
                            config={"plugins": {"presence": {"welcome_wallet": {
                                "delay_seconds": 0}}}})
    await env.robot.add_user("carol", rank=2)
    await wait_until(lambda: env.app.rooms[env.channel].is_present("carol"), 5)
    await wait_until(lambda: env.pms_to("carol") != [], 5)
    assert "100" in env.pms_to("carol")[0]
    assert env.app.rooms[env.channel].rank_of("carol") == 2
    assert await env.app.ledger.balance(env.channel, "carol") == 100
    await env.robot.remove_user("carol")
    await wait_until(lambda: not env.app.rooms[env.channel].is_present("carol"), 5)


async def test_chat_is_unescaped_and_drops_self_ignored_shadow_replay(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=[Recorder])
    await env.robot.chat("ZCoinBot", "my own line")
    await env.robot.chat("CyTubeBot", "ignored bot")
    await env.robot.chat("mallory", "shadow muted", shadow=True)
    await env.robot.chat("old", "replayed line", time_ms=1_000_000)
    await env.robot.chat("alice", 'fish & chips <3 "yes" (really) https://x.test/a?b=1&c=2')
    await wait_until(lambda: len(Recorder.seen) >= 1, 5)
    await env.robot.chat("alice", "last")
    await wait_until(lambda: len(Recorder.seen) >= 2, 5)
    texts = [e.text for e in Recorder.seen]
    assert texts[0] == 'fish & chips <3 "yes" (really) https://x.test/a?b=1&c=2'
    assert texts == [texts[0], "last"]


async def test_media_change_arrives_typed(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=[Recorder])
    await env.robot.change_media("yt", "abc123", "Night of the Lepus", 5400)
    await wait_until(lambda: len(Recorder.seen) >= 1, 5)
    media = Recorder.seen[0]
    assert (media.media_type, media.media_id, media.title, media.duration_s) == (
        "yt", "abc123", "Night of the Lepus", 5400)


async def test_afk_and_rank_changes_update_the_room(economy_e2e: Any) -> None:
    env = await economy_e2e(users=[("alice", 1)])
    await env.robot.set_afk("alice", True)
    room = env.app.rooms[env.channel]
    await wait_until(lambda: (u := room.get("alice")) is not None and u.afk, 5)
    await env.robot.publish("setUserRank", {"name": "alice", "rank": 3})
    await wait_until(lambda: room.rank_of("alice") == 3, 5)


async def test_robot_restart_reseeds_the_room(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=["presence"], users=[("alice", 1)])
    env.robot.users.clear()
    await env.robot.set_userlist([{"name": "bob", "rank": 1, "meta": {"afk": False}}])
    await env.robot.restart()
    room = env.app.rooms[env.channel]
    await wait_until(lambda: room.is_present("bob") and not room.is_present("alice"), 5)

    def snapshots() -> float:
        return float(env.app.metrics.events_in.get({"type": "RoomSnapshot"}))

    seen = snapshots()
    await asyncio.wait_for(env.app._bus.drain(), 5)
    assert await env.app.ledger.balance(env.channel, "bob") == 100  # first sight: the wallet
    await env.robot.restart()  # seen again: nothing more
    await wait_until(lambda: snapshots() > seen, 5)
    await asyncio.wait_for(env.app._bus.drain(), 5)
    assert await env.app.ledger.balance(env.channel, "bob") == 100


async def test_nats_restart_mid_run_keeps_working(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=["wallet"])
    assert await env.pm("alice", "balance") == ["💰 alice: 0 Z"]
    await env.nats.restart()
    bus = env.app._bus
    await wait_until(lambda: bus._client is not None and bus._client._nats.is_connected, 15)
    await wait_until(lambda: env.robot._client._nats.is_connected, 15)
    replies = await env.pm("alice", "about", timeout=15)
    assert "cytube-economy" in replies[0]
    assert user_key("alice") in {user_key(to) for to, _ in env.robot.sent_pms}


async def test_notices_queued_during_a_nats_outage_arrive_after_it(economy_e2e: Any) -> None:
    """RELIABILITY 8: sends are held while NATS is down and until the robot answers again, then
    delivered; none is published into the void."""
    env = await economy_e2e(plugins=["wallet"])
    bus = env.app._bus
    await env.nats.stop()
    await wait_until(lambda: not bus.connected, 10)
    for i in range(3):
        env.app.outbox.notify(env.channel, "alice", f"you earned {i}", transactional=True)
    await env.nats.start()
    await wait_until(lambda: len(env.pms_to("alice")) >= 3, 20)
    assert sorted(env.pms_to("alice")) == [f"you earned {i}" for i in range(3)]


async def test_a_nats_drop_is_one_warning_and_the_reconnect_one_info_line(
        economy_e2e: Any, caplog: Any) -> None:
    env = await economy_e2e(plugins=["wallet"])
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        await env.nats.restart()
        bus = env.app._bus
        await wait_until(lambda: bus.connected and bus._client._nats.is_connected, 15)
        await wait_until(lambda: env.robot._client._nats.is_connected, 15)
        await env.pm("alice", "about", timeout=15)
    ours = [r for r in caplog.records if r.name.startswith("economy_core.bus")]
    assert [r for r in ours if r.levelno >= logging.ERROR] == []
    lost = [r.getMessage() for r in ours if r.levelno == logging.WARNING]
    assert len(lost) == 1 and lost[0].startswith("NATS connection lost (")
    assert [r.getMessage() for r in ours if r.levelno == logging.INFO
            and "restored" in r.getMessage()] == ["NATS connection restored; re-reading the room"]
    assert [r for r in ours if r.exc_info] == []  # no "NoneType: None" tracebacks
