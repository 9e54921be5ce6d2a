"""media_queue end to end: a real nats-server, kryten-py on both sides, the robot stand-in's
``addvideo`` answers (queued, refused, silent, unconfirmed) and its KV playlist, and the fake
MediaCMS on loopback. search → pick → YES → the item reaches the robot and is charged; refused →
refunded; a silent robot → refunded after the wait; MediaCMS down → nothing charged; an
unconfirmed item on the playlist → charged, absent → refunded; an item already on the playlist
→ refused before anything is held; a bot killed after sending → decided by the playlist once
the restarted bot has read the room."""

from __future__ import annotations

from typing import Any

from economy_plugins.media_queue import MediaQueue

from economy_core.ledger import Kind
from economy_core.testing import wait_until

from .media_kit import FakeMediaCms, media_config, mediacms

__all__ = ["mediacms"]


async def start(economy_e2e: Any, fake: FakeMediaCms) -> Any:
    env = await economy_e2e(plugins=[MediaQueue],
                            config={"plugins": {"media_queue": media_config(
                                fake, interrupt_play_next=1000)}},
                            users=[("alice", 1), ("bob", 1)])
    for user in ("alice", "bob"):
        assert (await env.app.ledger.credit(env.channel, user, 5000, type="admin_grant",
                                            kind=Kind.EARN)).ok
    return env


async def test_bought_refused_and_catalogue_down(economy_e2e: Any,
                                                 mediacms: FakeMediaCms) -> None:
    env = await start(economy_e2e, mediacms)
    ledger = env.app.ledger
    before = len(env.pms_to("alice"))
    await env.robot.pm("alice", "search big buck")  # a long reply: several PMs
    await wait_until(lambda: any("Reply with a number" in m
                                 for m in env.pms_to("alice")[before:]), 10)
    listing = "\n".join(env.pms_to("alice")[before:])
    assert "1. Big Buck Bunny [9:56] id bunny01 — 250 Z" in listing
    question = "\n".join(await env.pm("alice", "1"))
    assert "Big Buck Bunny" in question and "YES" in question
    held = (await env.pm("alice", "YES"))[0]  # the settlement PM may follow at once
    assert "250 Z held" in held
    await wait_until(lambda: any("is in the playlist" in m for m in env.pms_to("alice")), 10)
    assert env.robot.queued_media == [{
        "type": "cm", "id": f"{mediacms.url}/api/v1/media/cytube/bunny01.json?format=json",
        "pos": "end", "temp": True}]
    assert await ledger.balance(env.channel, "alice") == 4750
    await wait_until(lambda: "🎬 alice queued Big Buck Bunny (250 Z-Coins)"
                     in env.robot.sent_chat, 10)

    env.robot.media_answer = "refused"
    await env.pm("bob", "playnext bunny02")
    await env.pm("bob", "yes")
    await wait_until(lambda: any("was not queued" in m for m in env.pms_to("bob")), 10)
    assert "already on the playlist" in env.pms_to("bob")[-1]
    assert env.robot.queued_media[-1]["pos"] == "next"
    assert await ledger.balance(env.channel, "bob") == 5000

    mediacms.mode = "500"
    env.app.plugins["media_queue"].instance.catalogue.clear_cache()
    [down] = await env.pm("bob", "queue bunny01", timeout=20)
    assert "catalogue is unavailable" in down and "Nothing was charged" in down
    assert await ledger.balance(env.channel, "bob") == 5000
    assert await ledger.open_escrows(env.channel) == []
    assert await ledger.verify() == []


async def test_a_silent_robot_is_refunded_after_the_wait(economy_e2e: Any,
                                                         mediacms: FakeMediaCms) -> None:
    env = await start(economy_e2e, mediacms)
    settlement = env.app.plugins["media_queue"].instance.settlement
    settlement.wait_seconds = 1.0  # the shipped wait is 12 s
    env.robot.media_answer = "silent"
    await env.pm("alice", "queue movie01")
    held = (await env.pm("alice", "yes"))[0]
    assert "1,000 Z held" in held
    assert await env.app.ledger.balance(env.channel, "alice") == 4000
    await wait_until(lambda: any("was not queued" in m for m in env.pms_to("alice")), 10)
    assert "did not answer within 1 s" in env.pms_to("alice")[-1]
    assert len(env.robot.queued_media) == 1
    assert await env.app.ledger.balance(env.channel, "alice") == 5000
    assert await env.app.ledger.open_escrows(env.channel) == []


async def test_the_playlist_decides_unconfirmed_purchases(economy_e2e: Any,
                                                          mediacms: FakeMediaCms) -> None:
    env = await start(economy_e2e, mediacms)
    ledger = env.app.ledger
    manifest = f"{mediacms.url}/api/v1/media/cytube/bunny01.json?format=json"
    assert await env.app.robot.playlist(env.channel) == ()
    # CyTube took it, the robot's answer came without a uid: the playlist says it is there
    env.robot.media_answer = "unconfirmed"
    env.robot.accepted_late = True
    await env.pm("alice", "queue bunny01")
    await env.pm("alice", "yes")
    await wait_until(lambda: any("is in the playlist" in m for m in env.pms_to("alice")), 15)
    assert await ledger.balance(env.channel, "alice") == 4750
    [item] = await env.app.robot.playlist(env.channel)
    assert (item.media_type, item.media_id, item.seconds) == ("cm", manifest, 300)
    assert isinstance(item.uid, int)
    # already on the playlist: refused at YES, nothing held, nothing sent
    env.robot.media_answer = "queued"
    await env.pm("bob", "queue bunny01")
    [reply] = await env.pm("bob", "yes")
    assert reply == "🎬 “Big Buck Bunny” is already on the playlist. Nothing was charged."
    assert len(env.robot.queued_media) == 1
    # unconfirmed and CyTube never took it: refunded after looking
    env.robot.media_answer = "unconfirmed"
    env.robot.accepted_late = False
    await env.pm("bob", "queue bunny02")
    await env.pm("bob", "yes")
    await wait_until(lambda: any("was not queued" in m for m in env.pms_to("bob")), 15)
    assert "did not confirm" in env.pms_to("bob")[-1]
    assert await ledger.balance(env.channel, "bob") == 5000
    assert await ledger.open_escrows(env.channel) == [] and await ledger.verify() == []


async def test_a_bot_killed_after_sending_is_decided_by_the_playlist(
        economy_e2e: Any, mediacms: FakeMediaCms) -> None:
    """The bot dies while waiting for the robot (its send task is gone, the row ``sent``);
    the restarted bot cannot read the playlist before its bus is up, so it decides once the
    room is seeded from the robot: alice's item (CyTube took it) is spent, bob's (never taken)
    refunded, each told."""
    env = await start(economy_e2e, mediacms)
    env.robot.media_answer = "silent"
    for user, token, taken, told in (("alice", "bunny01", True, "is in the playlist"),
                                     ("bob", "bunny02", False, "was not queued")):
        settlement = env.app.plugins["media_queue"].instance.settlement
        settlement.wait_seconds = 60.0  # the robot stays silent: the send waits for it
        env.robot.accepted_late = taken
        sent = len(env.robot.queued_media)
        await env.pm(user, f"queue {token}")
        await env.pm(user, "yes")
        await wait_until(lambda: len(env.robot.queued_media) == sent + 1, 10)  # noqa: B023
        for task in list(settlement.tasks):  # the process dies: nothing more of this send
            task.cancel()
        await settlement.drain()
        assert not any(told in m for m in env.pms_to(user))
        await env.restart_bot()
        await wait_until(lambda: any(told in m for m in env.pms_to(user)), 15)  # noqa: B023
    assert "not on the playlist" in env.pms_to("bob")[-1]
    ledger = env.app.ledger
    assert await ledger.balance(env.channel, "alice") == 4750
    assert await ledger.balance(env.channel, "bob") == 5000
    assert await ledger.open_escrows(env.channel) == [] and await ledger.verify() == []
