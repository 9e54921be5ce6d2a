"""Gambling end to end: a real nats-server, kryten-py on both sides and the robot stand-in. Two
users settle a duel by PM (challenge → invitation → accept → both told, winner announced), then
a second one is declined."""

from __future__ import annotations

from typing import Any

from economy_plugins.gambling import Gambling
from economy_plugins.gambling.rolls import ScriptedRolls

from economy_core.ledger import Kind
from economy_core.testing import wait_until

CONFIG = {"plugins": {"gambling": {"min_account_age_minutes": 0}}}


async def test_a_challenge_settled_by_pms(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=[Gambling], config=CONFIG,
                            users=[("alice", 1), ("bob", 1)])
    ledger = env.app.ledger
    for user in ("alice", "bob"):
        assert (await ledger.credit(env.channel, user, 1000, type="admin_grant",
                                    kind=Kind.EARN)).ok
    env.app.plugins["gambling"].instance.rolls = ScriptedRolls([0.1])  # the challenger wins

    [sent] = await env.pm("alice", "challenge @bob 100")
    assert "Challenge sent" in sent
    await wait_until(lambda: any("challenges you" in m for m in env.pms_to("bob")), 10)
    assert await ledger.balance(env.channel, "alice") == 900

    [result] = await env.pm("bob", "accept")
    assert "You lost the duel with alice" in result and "rake 10 Z" in result
    await wait_until(lambda: any("you won 190 Z" in m for m in env.pms_to("alice")), 10)
    await wait_until(lambda: any("beat bob" in line for line in env.robot.sent_chat), 10)
    assert await ledger.balance(env.channel, "alice") == 1090
    assert await ledger.balance(env.channel, "bob") == 900

    await env.pm("alice", "challenge @bob 50")
    [declined] = await env.pm("bob", "decline")
    assert "declined alice's challenge" in declined
    await wait_until(lambda: any("declined your challenge" in m
                                 for m in env.pms_to("alice")), 10)
    assert await ledger.balance(env.channel, "alice") == 1090
    assert [e for e in await ledger.open_escrows(env.channel)] == []
    assert await ledger.verify() == []


async def test_a_heist_joined_in_public_chat(economy_e2e: Any) -> None:
    """RELIABILITY 11: joins said in chat reach the heist through the real event path."""
    config = {"plugins": {"gambling": {"min_account_age_minutes": 0,
                                       "heist": {"enabled": True}}}}
    env = await economy_e2e(plugins=[Gambling], config=config, time_scale=60.0,
                            users=[("alice", 1), ("bob", 1), ("carol", 1)])
    ledger = env.app.ledger
    for user in ("alice", "bob", "carol"):
        assert (await ledger.credit(env.channel, user, 1000, type="admin_grant",
                                    kind=Kind.EARN)).ok
    env.app.plugins["gambling"].instance.rolls = ScriptedRolls([0.1])

    [planned] = await env.pm("alice", "heist 100")
    assert "Heist planned" in planned
    await env.robot.chat("bob", "join")
    await env.robot.chat("carol", "join")
    await wait_until(lambda: any("(3/3)" in line for line in env.robot.sent_chat), 10)
    # the window (120 s) closes after 2 s of real time, the reveal 6 s later (0.1 s)
    for user in ("alice", "bob", "carol"):
        await wait_until(lambda u=user: any("Heist succeeded" in m  # type: ignore[misc]
                                            for m in env.pms_to(u)), 15)
        assert await ledger.balance(env.channel, user) == 1100
    assert any("200 Z each" in line for line in env.robot.sent_chat)
    assert await ledger.verify() == []
