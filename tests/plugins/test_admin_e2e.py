"""Issue 17 end to end: a real nats-server, the bot on its kryten-py bus, the robot stand-in,
and a separate kryten-py client calling ``kryten.economy.command`` as another service would;
then the admin's tools by PM over the wire while presence pays every (accelerated) minute."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from economy_core.testing import E2E, wait_until

SUBJECT = "kryten.economy.command"
OPS, WEB = "ops-token-0123456789", "web-token-0123456789"
API = {"api": {"clients": [
    {"name": "ops", "token": OPS, "endpoints": ["*"]},
    {"name": "web", "token": WEB, "endpoints": ["balance.get", "economy.*"]}]},
    "plugins": {"tipping": {"min_account_age_minutes": 0}}}
FAST = 600.0


@pytest.fixture
async def service(economy_e2e: Any) -> AsyncIterator[tuple[E2E, Any]]:
    """The economy (admin, wallet, tipping) and another service's kryten-py client."""
    from kryten import KrytenClient

    env = await economy_e2e(plugins=["admin", "wallet", "tipping"], config=API,
                            users=[("alice", 1), ("bob", 1)])
    client = KrytenClient({"nats": {"servers": [env.nats.url]},
                           "channels": [{"domain": "cytu.be", "channel": env.channel}],
                           "log_level": "ERROR"}, logger=logging.getLogger("tests.service"))
    await client.connect()
    try:
        yield env, client
    finally:
        await client.disconnect()


async def ask(client: Any, request: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = await client.nats_request(SUBJECT, request, timeout=5)
    return reply


async def test_the_api_from_another_service(service: tuple[E2E, Any]) -> None:
    env, client = service
    ledger = env.app.ledger
    funded = await ask(client, {"command": "admin.grant", "token": OPS, "username": "alice",
                                "amount": 1000, "reason": "launch", "request_id": "fund-1"})
    assert funded["success"] and funded["data"]["balance"] == 1000
    opened = await ask(client, {"command": "admin.grant", "token": OPS, "username": "bob",
                                "amount": 1})  # tips go to existing accounts only
    assert opened["success"]

    read = await client.economy_request(env.channel, "balance.get",
                                        {"token": WEB, "username": "alice"}, timeout=5)
    assert read == {"service": "economy", "command": "balance.get", "success": True,
                    "data": {"found": True, "username": "alice", "balance": 1000,
                             "lifetime_earned": 1000, "rank_name": None}}

    tip = {"command": "spend.tip", "token": OPS, "username": "alice", "target": "bob",
           "amount": 150, "request_id": "tip-42"}
    first = await ask(client, tip)
    assert first["success"] and first["data"]["replayed"] is False, first
    second = await ask(client, tip)  # the caller retries: nothing moves
    assert second["success"] and second["data"]["replayed"] is True
    assert second["data"]["balance"] == first["data"]["balance"] == 850
    assert await ledger.balance(env.channel, "alice") == 850
    assert await ledger.balance(env.channel, "bob") == 151
    assert len([m for m in env.pms_to("bob") if "tipped you" in m]) == 1

    anonymous = await ask(client, {"command": "balance.get", "username": "alice"})
    assert anonymous["success"] is False and anonymous["error"].startswith("unauthorized")
    read_only = await ask(client, {"command": "admin.grant", "token": WEB,
                                   "username": "bob", "amount": 5})
    assert read_only["error"] == "forbidden: client web may not call admin.grant"
    malformed = json.loads((await client._nats.request(
        SUBJECT, b'{"command": "admin.grant", "token": "' + OPS.encode(), timeout=5)).data)
    assert malformed["success"] is False and malformed["error"].startswith("bad request")
    assert await ledger.balance(env.channel, "bob") == 151
    health = await client.economy_request(env.channel, "economy.health", {"token": WEB},
                                          timeout=5)
    assert health["data"]["status"] == "ok" and health["data"]["bus"] is True
    assert await ledger.verify() == []


def figure(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    assert found is not None, (pattern, text)
    return int(found.group(1).replace(",", ""))


async def test_admin_tools_by_pm(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=["presence", "wallet", "tipping", "admin"],
                            users=[("alice", 1), ("bob", 1), ("boss", 4)], time_scale=FAST)
    ledger, channel = env.app.ledger, env.channel
    presence = env.app.plugins["presence"].instance

    [reply] = await env.pm("boss", "grant @alice 500 welcome")
    assert "Granted alice 500" in reply
    await wait_until(lambda: any("granted you" in m for m in env.pms_to("alice")), 5)
    balance = await ledger.balance(channel, "alice")
    [reply] = await env.pm("boss", f"deduct @alice {balance + 10_000}")
    assert "insufficient" in reply
    assert await env.pm("alice", "grant @bob 5") == ["⛔ Admin only."]

    [reply] = await env.pm("boss", "ban @bob farming")
    assert "bob is banned" in reply
    ticks = presence.ticks
    await wait_until(lambda: presence.ticks >= ticks + 2, 10)  # a tick in flight has landed
    frozen = await ledger.balance(channel, "bob")
    ticks = presence.ticks
    await wait_until(lambda: presence.ticks >= ticks + 5, 10)
    assert await ledger.balance(channel, "bob") == frozen  # a banned user earns nothing
    assert await env.pm("bob", "balance") == ["⛔ Your economy access is suspended."]
    assert await ledger.balance(channel, "alice") > balance  # the others still earn

    [reply] = await env.pm("boss", "unban @bob")
    assert "may use the economy again" in reply
    ticks = presence.ticks
    await wait_until(lambda: presence.ticks >= ticks + 5, 10)
    assert await ledger.balance(channel, "bob") > frozen
    assert (await env.pm("bob", "balance"))[0].startswith("💰 bob:")

    for user in ("alice", "bob", "boss"):  # nobody present: the figures stop moving
        await env.robot.remove_user(user)
    await wait_until(lambda: len(env.app.rooms[channel]) == 0, 5)
    ticks = presence.ticks
    await wait_until(lambda: presence.ticks >= ticks + 2, 10)
    [stats] = await env.pm("boss", "econ:stats")
    totals = await ledger.totals(channel)
    assert figure(r"circulation ([\d,]+) Z", stats) == totals.circulation
    assert figure(r"([\d,]+) accounts", stats) == totals.accounts
    assert "0 present" in stats
    assert await ledger.verify() == []
