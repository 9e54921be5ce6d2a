"""The request-reply API end to end: a real nats-server, the app on its kryten-py bus, and a
separate kryten-py client calling ``kryten.economy.command`` as another service would."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest

from economy_core.endpoints import ApiRequest, endpoint
from economy_core.events import ChatMessage
from economy_core.hookspecs import hookimpl
from economy_core.testing import E2E, wait_until

SUBJECT = "kryten.economy.command"
TOKEN = "e2e-token-0123456789"
CONFIG: dict[str, Any] = {"api": {"clients": [
    {"name": "web", "token": TOKEN, "endpoints": ["test.echo"]}]}}


class Probe:
    """An endpoint to call, and a chat hook that can hold the economy's event queue."""

    name = "probe"
    gate: ClassVar[asyncio.Event | None] = None
    holding: ClassVar[bool] = False

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    @endpoint("test.echo", help="Echo the request")
    async def echo(self, request: ApiRequest) -> dict[str, Any]:
        return {"channel": request.channel, "caller": request.caller, "args": dict(request.args)}

    @endpoint("test.secret", help="Not in the client's list")
    async def secret(self, request: ApiRequest) -> dict[str, Any]:
        return {"secret": 42}

    @hookimpl
    async def economy_chat_message(self, event: ChatMessage) -> None:
        if Probe.gate is not None:
            Probe.holding = True
            await Probe.gate.wait()
            Probe.holding = False


@pytest.fixture
async def caller(economy_e2e: Any) -> AsyncIterator[tuple[E2E, Any]]:
    """The economy (with Probe and one API client) and another service's kryten-py client."""
    from kryten import KrytenClient

    Probe.gate = None
    env = await economy_e2e(plugins=[Probe], config=CONFIG)
    client = KrytenClient({"nats": {"servers": [env.nats.url]},
                           "channels": [{"domain": "cytu.be", "channel": env.channel}],
                           "log_level": "ERROR"},
                          logger=logging.getLogger("tests.api_caller"))
    await client.connect()
    try:
        yield env, client
    finally:
        if Probe.gate is not None:
            Probe.gate.set()
        await client.disconnect()


async def ask(client: Any, request: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = await client.nats_request(SUBJECT, request, timeout=5)
    return reply


async def ask_raw(client: Any, raw: bytes) -> dict[str, Any]:
    msg = await client._nats.request(SUBJECT, raw, timeout=5)
    reply: dict[str, Any] = json.loads(msg.data)
    return reply


async def test_ping_token_refusals_and_malformed_requests_over_nats(
        caller: tuple[E2E, Any]) -> None:
    env, client = caller
    pong = await ask(client, {"command": "system.ping"})
    assert pong["service"] == "economy" and pong["success"] and pong["data"]["pong"] is True
    health = await ask(client, {"command": "system.health"})
    assert health["data"]["status"] == "ok"
    assert health["data"]["database"] is True and health["data"]["bus"] is True

    echoed = await client.economy_request(env.channel, "test.echo",
                                          {"token": TOKEN, "username": "alice"}, timeout=5)
    assert echoed == {"service": "economy", "command": "test.echo", "success": True,
                      "data": {"channel": env.channel, "caller": "web",
                               "args": {"username": "alice"}}}

    anonymous = await ask(client, {"command": "test.echo", "username": "alice"})
    assert anonymous["success"] is False and anonymous["error"].startswith("unauthorized: ")
    forbidden = await ask(client, {"command": "test.secret", "token": TOKEN})
    assert forbidden["error"] == "forbidden: client web may not call test.secret"
    unknown = await ask(client, {"command": "no.such", "token": TOKEN})
    assert unknown["error"].startswith("unknown command 'no.such'")

    for raw in [b"{this is not json", b"\xff\xfe", b"[1, 2, 3]", b'{"command": 7}']:
        bad = await ask_raw(client, raw)
        assert bad["service"] == "economy" and bad["success"] is False
        assert bad["error"].startswith("bad request: "), raw
    huge = await ask_raw(client, b'{"command": "system.ping", "pad": "' + b"x" * 70_000 + b'"}')
    assert "too large" in huge["error"]
    await client.publish(SUBJECT, b'{"command": "system.ping"}')  # no reply subject: ignored

    # the bot still answers, over NATS and by PM
    assert (await ask(client, {"command": "system.ping"}))["success"]
    assert (await ask(client, {"command": "test.echo", "token": TOKEN}))["success"]
    assert await env.pm("alice", "about")
    metrics = env.app.metrics.render()
    assert 'outcome="unauthorized"' in metrics and 'outcome="bad_request"' in metrics


async def test_requests_are_answered_while_the_event_queue_is_busy(
        caller: tuple[E2E, Any]) -> None:
    env, client = caller
    Probe.gate = asyncio.Event()
    await env.robot.chat("alice", "this line holds the event queue")
    await wait_until(lambda: Probe.holding, 5)
    reply = await ask(client, {"command": "test.echo", "token": TOKEN})
    assert reply["success"] and Probe.holding  # answered while the event was still in flight
    Probe.gate.set()
    await wait_until(lambda: not Probe.holding, 5)


async def test_after_shutdown_callers_hear_no_responders(caller: tuple[E2E, Any]) -> None:
    from nats.errors import NoRespondersError

    env, client = caller
    await env.app.stop()
    with pytest.raises(NoRespondersError):
        await client._nats.request(SUBJECT, b'{"command": "system.ping"}', timeout=5)
