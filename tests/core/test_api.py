"""The request-reply API through ``ApiServer.handle()`` on a real app: the open ``system.*``
endpoints, tokens and endpoint lists, malformed requests, channel resolution, endpoint errors,
duplicate declarations, reloads and the metric."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from economy_core.api import (
    MAX_REQUEST_BYTES,
    ApiServer,
    DuplicateEndpointError,
    allows,
    database_ping,
)
from economy_core.clock import FakeClock
from economy_core.config import ApiConfig
from economy_core.db import make_engine
from economy_core.endpoints import ENDPOINT_ATTR, ApiError, ApiRequest, EndpointSpec, endpoint
from economy_core.manager import PluginLoadError
from economy_core.testing import AppHarness, MakeApp, build_config

WEB_TOKEN = "web-token-0123456789"
READER_TOKEN = "reader-token-9876543210"
CLIENTS: dict[str, Any] = {"api": {"clients": [
    {"name": "web", "token": WEB_TOKEN, "endpoints": ["*"]},
    {"name": "reader", "token": READER_TOKEN, "endpoints": ["test.echo"]},
]}}


class Probe:
    """Endpoints for the API's tests: one that echoes, one that refuses, one that crashes."""

    name = "probe"

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    @endpoint("test.echo", help="Echo the request as the endpoint sees it")
    async def echo(self, request: ApiRequest) -> dict[str, Any]:
        return {"channel": request.channel, "caller": request.caller,
                "args": dict(request.args), "request_id": request.request_id}

    @endpoint("test.fail", help="Always refuses")
    async def fail(self, request: ApiRequest) -> dict[str, Any]:
        raise ApiError("no such user")

    @endpoint("test.boom", help="Always crashes")
    async def boom(self, request: ApiRequest) -> dict[str, Any]:
        raise RuntimeError("kaboom")

    @endpoint("test.odd", help="Returns something that is not JSON")
    async def odd(self, request: ApiRequest) -> dict[str, Any]:
        return {"value": object()}


class Copycat:
    """Declares an endpoint Probe already has."""

    name = "copycat"

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    @endpoint("test.echo", help="Mine too")
    async def echo(self, request: ApiRequest) -> dict[str, Any]:
        return {}


async def api_app(make_app: MakeApp, config: dict[str, Any] | None = None) -> AppHarness:
    return await make_app(plugins=[Probe], config=config if config is not None else CLIENTS)


async def call(app: AppHarness, request: dict[str, Any] | bytes) -> dict[str, Any]:
    raw = request if isinstance(request, bytes) else json.dumps(request).encode()
    reply = await app.app.api.handle(raw)
    json.dumps(reply)  # every reply can go on the wire
    assert reply["service"] == "economy" and isinstance(reply["success"], bool)
    assert ("data" in reply) == reply["success"] and ("error" in reply) != reply["success"]
    return reply


def counted(app: AppHarness) -> dict[tuple[str, str], float]:
    """economy_api_requests_total by (command, outcome), read from the rendered metrics."""
    found: dict[tuple[str, str], float] = {}
    for line in app.app.metrics.render().splitlines():
        if not line.startswith("economy_api_requests_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
        found[(labels["command"], labels["outcome"])] = float(line.rsplit(" ", 1)[1])
    return found


# -- the open endpoints ---------------------------------------------------------------------------


async def test_ping_and_health_answer_anyone_and_reveal_nothing(make_app: MakeApp) -> None:
    app = await api_app(make_app)
    pong = await call(app, {"command": "system.ping"})
    assert pong["success"] and pong["command"] == "system.ping"
    assert pong["data"]["pong"] is True and pong["data"]["service"] == "economy"
    assert pong["data"]["time"] == app.clock.now().isoformat()
    health = await call(app, {"command": "system.health", "token": "whatever"})
    assert health["data"] == {"status": "ok", "database": True, "bus": True,
                              "time": app.clock.now().isoformat()}


async def test_health_is_degraded_when_the_database_or_bus_is_down(tmp_path: Any) -> None:
    async def down() -> bool:
        return False

    async def broken() -> bool:
        raise OSError("gone")

    def server(database: Any, bus: bool) -> ApiServer:
        return ApiServer(ApiConfig, channels=lambda: ["room"], clock=FakeClock(),
                         database_up=database, bus_up=lambda: bus)

    async def up() -> bool:
        return True

    for api, expected in [(server(down, True), (False, True)),
                          (server(broken, True), (False, True)),
                          (server(up, False), (True, False))]:
        data = (await api.handle(b'{"command": "system.health"}'))["data"]
        assert data["status"] == "degraded"
        assert (data["database"], data["bus"]) == expected
    # the real check: SELECT 1, bounded; a database that cannot be opened is down
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'ok.db'}")
    missing = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    try:
        assert await database_ping(engine) is True
        assert await database_ping(missing, timeout=2.0) is False
    finally:
        await engine.dispose()
        await missing.dispose()


# -- authentication and authorisation -------------------------------------------------------------


async def test_a_valid_token_calls_an_endpoint_with_its_args(make_app: MakeApp) -> None:
    app = await api_app(make_app)
    reply = await call(app, {"command": "test.echo", "token": WEB_TOKEN, "service": "web",
                             "username": "alice", "amount": 5, "request_id": "r-1"})
    assert reply == {"service": "economy", "command": "test.echo", "success": True,
                     "data": {"channel": "testroom", "caller": "web",
                              "args": {"username": "alice", "amount": 5},
                              "request_id": "r-1"}}
    reader = await call(app, {"command": "test.echo", "token": READER_TOKEN, "request_id": 7})
    assert reader["data"]["caller"] == "reader" and reader["data"]["request_id"] == "7"


async def test_calls_without_a_valid_token_are_refused_and_never_logged(
        make_app: MakeApp, caplog: pytest.LogCaptureFixture) -> None:
    app = await api_app(make_app)
    caplog.set_level(logging.DEBUG)
    refused: list[dict[str, Any]] = [
        {"command": "test.echo"}, {"command": "test.echo", "token": ""},
        {"command": "test.echo", "token": 12345},
        {"command": "test.echo", "token": "wrong-token-guess"},
        {"command": "test.echo", "token": WEB_TOKEN[:-1]},
        {"command": "test.echo", "token": WEB_TOKEN + " "},
        {"command": "test.echo", "token": "\ud800"}]
    for request in refused:
        reply = await call(app, request)
        assert not reply["success"] and reply["error"].startswith("unauthorized: "), request
        assert "data" not in reply
    await call(app, {"command": "test.echo", "token": WEB_TOKEN})
    assert "wrong-token-guess" not in caplog.text and WEB_TOKEN not in caplog.text
    assert counted(app)[("test.echo", "unauthorized")] == 7


async def test_an_endpoint_outside_the_clients_list_is_forbidden(make_app: MakeApp) -> None:
    app = await api_app(make_app)
    reply = await call(app, {"command": "test.fail", "token": READER_TOKEN})
    assert reply["error"] == "forbidden: client reader may not call test.fail"
    assert counted(app)[("test.fail", "forbidden")] == 1


async def test_unknown_commands_list_endpoints_only_to_authenticated_callers(
        make_app: MakeApp) -> None:
    app = await api_app(make_app)
    reply = await call(app, {"command": "test.nope", "token": READER_TOKEN})
    assert not reply["success"] and reply["command"] == "test.nope"
    assert reply["error"] == ("unknown command 'test.nope'; client reader may call: "
                              "system.ping, system.health, test.echo")
    everything = await call(app, {"command": "nope", "token": WEB_TOKEN})
    assert "test.boom" in everything["error"] and "test.fail" in everything["error"]
    anonymous = await call(app, {"command": "test.nope"})
    assert anonymous["error"].startswith("unauthorized: ")
    assert "test.echo" not in anonymous["error"]
    # a caller cannot mint label values: every unknown name counts as "unknown"
    for i in range(5):
        await call(app, {"command": f"made.up{i}", "token": WEB_TOKEN})
    counts = counted(app)
    assert counts[("unknown", "unknown")] == 7 and counts[("unknown", "unauthorized")] == 1
    assert not any(command.startswith("made.") for command, _ in counts)


def test_endpoint_patterns() -> None:
    assert allows(["*"], "admin.grant")
    assert allows(["balance.get"], "balance.get") and not allows(["balance.get"], "balance.set")
    assert allows(["balance.*"], "balance.get") and allows(["balance.*"], "balance.x.y")
    assert not allows(["balance.*"], "balances.get") and not allows(["balance.*"], "balance")
    assert not allows([], "balance.get")


# -- malformed requests ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe\x00garbage", b"", b"{\"command\": ",
                                 b"[" * 50_000])
async def test_malformed_json_gets_an_error_envelope(make_app: MakeApp, raw: bytes) -> None:
    app = await api_app(make_app)
    reply = await call(app, raw)
    assert reply == {"service": "economy", "command": None, "success": False,
                     "error": "bad request: not valid JSON"}


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"system.ping"', b"null", b"42"])
async def test_json_that_is_not_an_object_is_a_bad_request(make_app: MakeApp, raw: bytes) -> None:
    app = await api_app(make_app)
    reply = await call(app, raw)
    assert reply["error"] == "bad request: the request must be a JSON object"


@pytest.mark.parametrize("request_", [{}, {"command": 5}, {"command": ""}, {"command": None},
                                      {"command": ["system.ping"]}, {"token": WEB_TOKEN}])
async def test_a_missing_or_non_string_command_is_a_bad_request(
        make_app: MakeApp, request_: dict[str, Any]) -> None:
    app = await api_app(make_app)
    reply = await call(app, request_)
    assert reply["error"] == "bad request: 'command' (a non-empty string) is missing"
    assert counted(app) == {("unknown", "bad_request"): 1}


async def test_an_oversized_request_is_refused_unparsed(make_app: MakeApp) -> None:
    app = await api_app(make_app)
    raw = json.dumps({"command": "system.ping", "pad": "x" * MAX_REQUEST_BYTES}).encode()
    reply = await call(app, raw)
    assert reply["error"].startswith("bad request: ") and "too large" in reply["error"]
    assert reply["command"] is None
    assert (await call(app, {"command": "system.ping", "pad": "x" * 1000}))["success"]


async def test_bad_request_ids_are_refused(make_app: MakeApp) -> None:
    app = await api_app(make_app)
    for bad in ["", True, 1.5, {"a": 1}]:
        reply = await call(app, {"command": "test.echo", "token": WEB_TOKEN, "request_id": bad})
        assert reply["error"] == "bad request: 'request_id' must be a non-empty string", bad


# -- channels -------------------------------------------------------------------------------------


async def test_channel_resolution(make_app: MakeApp) -> None:
    single = await api_app(make_app)
    for given in [None, "", "testroom", "TestRoom"]:
        request = {"command": "test.echo", "token": WEB_TOKEN}
        if given is not None:
            request["channel"] = given
        assert (await call(single, request))["data"]["channel"] == "testroom", given
    reply = await call(single, {"command": "test.echo", "token": WEB_TOKEN, "channel": "other"})
    assert reply["error"] == "bad request: unknown channel 'other'"
    reply = await call(single, {"command": "test.echo", "token": WEB_TOKEN, "channel": 3})
    assert reply["error"] == "bad request: 'channel' must be a string"

    two = await make_app(plugins=[Probe], db="two.db", config={
        **CLIENTS, "channels": [{"channel": "testroom"}, {"channel": "OtherRoom"}]})
    reply = await call(two, {"command": "test.echo", "token": WEB_TOKEN})
    assert reply["error"] == "bad request: 'channel' is required (one of: testroom, OtherRoom)"
    reply = await call(two, {"command": "test.echo", "token": WEB_TOKEN, "channel": "otherroom"})
    assert reply["data"]["channel"] == "OtherRoom"


# -- endpoint results and errors ------------------------------------------------------------------


async def test_endpoint_refusals_and_crashes_become_error_replies(
        make_app: MakeApp, caplog: pytest.LogCaptureFixture) -> None:
    app = await api_app(make_app)
    reply = await call(app, {"command": "test.fail", "token": WEB_TOKEN})
    assert reply == {"service": "economy", "command": "test.fail", "success": False,
                     "error": "no such user"}
    with caplog.at_level(logging.ERROR, logger="economy_core.api"):
        crashed = await call(app, {"command": "test.boom", "token": WEB_TOKEN})
        odd = await call(app, {"command": "test.odd", "token": WEB_TOKEN})
    assert crashed["error"] == "internal error" and "kaboom" not in crashed["error"]
    assert odd["error"] == "internal error"
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert any("kaboom" in str(r.exc_info[1]) for r in tracebacks if r.exc_info)
    assert (await call(app, {"command": "system.ping"}))["success"]  # still answering
    counts = counted(app)
    assert counts[("test.fail", "error")] == 1 and counts[("test.boom", "error")] == 1
    assert counts[("system.ping", "ok")] == 1


async def test_every_request_is_counted_by_command_and_outcome(make_app: MakeApp) -> None:
    app = await api_app(make_app)
    await call(app, {"command": "system.ping"})
    await call(app, {"command": "system.ping"})
    await call(app, {"command": "system.health"})
    await call(app, {"command": "test.echo", "token": WEB_TOKEN})
    await call(app, {"command": "test.echo"})
    await call(app, {"command": "test.fail", "token": READER_TOKEN})
    await call(app, {"command": "test.fail", "token": WEB_TOKEN})
    await call(app, {"command": "zzz", "token": WEB_TOKEN})
    await call(app, b"{")
    assert counted(app) == {
        ("system.ping", "ok"): 2, ("system.health", "ok"): 1, ("test.echo", "ok"): 1,
        ("test.echo", "unauthorized"): 1, ("test.fail", "forbidden"): 1,
        ("test.fail", "error"): 1, ("unknown", "unknown"): 1, ("unknown", "bad_request"): 1}


# -- registration and reload ----------------------------------------------------------------------


async def test_two_plugins_declaring_one_endpoint_fail_start_up_naming_both(
        make_app: MakeApp) -> None:
    # the start-up contract check finds it before anything is built (PluginLoadError); the
    # API server refuses it on its own as well (DuplicateEndpointError, below)
    with pytest.raises((PluginLoadError, DuplicateEndpointError)) as info:
        await make_app(plugins=[Probe, Copycat], config=CLIENTS)
    assert ("endpoint 'test.echo' is declared by both plugin 'probe' and plugin 'copycat'"
            in str(info.value))


def test_the_core_owns_system_endpoints_and_one_plugin_cannot_declare_a_name_twice() -> None:
    async def up() -> bool:
        return True

    api = ApiServer(ApiConfig, channels=lambda: ["room"], clock=FakeClock(),
                    database_up=up, bus_up=lambda: True)

    async def handler(self: Any, request: ApiRequest) -> dict[str, Any]:
        return {}

    setattr(handler, ENDPOINT_ATTR, EndpointSpec("system.ping", "sneaky"))
    sneaky = type("Sneaky", (), {"ping": handler})
    api.register_plugin("probe", Probe(None))
    with pytest.raises(DuplicateEndpointError, match="both plugin 'probe' and plugin 'copycat'"):
        api.register_plugin("copycat", Copycat(None))
    with pytest.raises(DuplicateEndpointError, match="both the core and plugin 'sneaky'"):
        api.register_plugin("sneaky", sneaky())

    first = endpoint("twice.over", help="a")(handler)
    second = endpoint("twice.over", help="b")(lambda self, request: handler(self, request))
    twice = type("Twice", (), {"a": first, "b": second})
    with pytest.raises(DuplicateEndpointError, match="'twice' and plugin 'twice'"):
        api.register_plugin("twice", twice())
    assert sorted(e.name for e in api.endpoints()) == [
        "test.boom", "test.echo", "test.fail", "test.odd"]
    with pytest.raises(ValueError, match="belongs to the core"):
        endpoint("system.health", help="no")


async def test_a_reload_applies_new_clients_at_once(make_app: MakeApp) -> None:
    app = await api_app(make_app)
    new_clients = {"api": {"clients": [
        {"name": "web", "token": "rotated-token-abcdef", "endpoints": ["test.*"]}]}}
    new = build_config(app.app.plugin_infos, new_clients, database_url=app.app.core.database.url)
    assert await app.app.reload_config(new) == []
    old = await call(app, {"command": "test.echo", "token": WEB_TOKEN})
    assert old["error"] == "unauthorized: invalid token"
    gone = await call(app, {"command": "test.echo", "token": READER_TOKEN})
    assert gone["error"] == "unauthorized: invalid token"
    rotated = await call(app, {"command": "test.echo", "token": "rotated-token-abcdef"})
    assert rotated["data"]["caller"] == "web"


async def test_without_clients_only_the_open_endpoints_answer(make_app: MakeApp) -> None:
    app = await api_app(make_app, config={})
    assert (await call(app, {"command": "system.ping"}))["success"]
    reply = await call(app, {"command": "test.echo", "token": "anything"})
    assert reply["error"] == "unauthorized: invalid token"


def test_an_endpoint_reads_a_user_name_argument_one_way() -> None:
    def request(**args: Any) -> ApiRequest:
        return ApiRequest("x.get", "chan", "ops", args)

    assert request(username=" @alice ").user() == "alice"
    assert request(target="bob").user("target") == "bob"
    assert request().optional_user() is None
    assert request(username="carol").optional_user() == "carol"
    for bad in ({}, {"username": 5}, {"username": " @ "}):
        with pytest.raises(ApiError, match=r"username \(a user name\) is required"):
            request(**bad).user()
    with pytest.raises(ApiError):
        request(username="").optional_user()
