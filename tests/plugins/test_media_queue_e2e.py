"""media_queue end to end: a real nats-server, kryten-py on both sides, the robot stand-in's
``addvideo`` answers (queued, refused, silent) and the fake MediaCMS on loopback. search → pick →
YES → the item reaches the robot and is charged; refused → refunded; a silent robot → refunded
after the wait; MediaCMS down → nothing charged."""

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
