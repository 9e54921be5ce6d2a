"""The request-reply API: what other kryten services ask the economy (SPEC §2.7).

Callers send a flat JSON object to ``api.subject`` (``kryten.economy.command``), as kryten-py's
``economy_request`` does::

    {"command": "balance.get", "channel": "mychannel", "token": "...", "username": "alice"}

and get one envelope back::

    {"service": "economy", "command": "balance.get", "success": true, "data": {...}}
    {"service": "economy", "command": "balance.get", "success": false, "error": "..."}

:meth:`ApiServer.handle` does everything between the raw bytes and that envelope, and never raises:

1. size (at most ``max_request_bytes``), JSON, a JSON object, a non-empty string ``command``
   (otherwise ``bad_request``);
2. ``system.ping`` and ``system.health`` answer anyone (they reveal nothing: no user data, no
   configuration);
3. every other command needs a configured client's ``token`` (compared in constant time; the token
   is never logged) → ``unauthorized``; an unregistered name → ``unknown`` (only an authenticated
   caller learns which endpoints it may call); a name outside the client's ``endpoints`` (exact
   names, ``prefix.*`` patterns, ``*``) → ``forbidden``;
4. ``channel``: a configured channel, matched case-insensitively (absent: the only configured
   channel) → otherwise ``bad_request``;
5. the endpoint, with an :class:`~economy_core.endpoints.ApiRequest` whose ``args`` are the
   request's other fields; its mapping is the reply's ``data``. :class:`ApiError` → its message
   (``error``); anything else is logged with its traceback and answered ``internal error``.

Every request is counted once by ``on_outcome(command, outcome)``: the command label is the
endpoint's name when it exists (``system.*`` included) and ``unknown`` otherwise, so callers
cannot create label values; outcomes are ``ok``, ``error``, ``unauthorized``, ``forbidden``,
``unknown`` and ``bad_request``.

Clients are read through the ``config`` callable on every request, so a reload that changes
``api.clients`` applies at once. Endpoints come from plugins (``@endpoint`` methods, registered
with :meth:`ApiServer.register_plugin`); one name declared twice is a start-up error naming both.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .clock import Clock
from .config.settings import ApiClientConfig, ApiConfig
from .endpoints import (
    CORE_ENDPOINTS,
    ENDPOINT_ATTR,
    ApiError,
    ApiRequest,
    EndpointFn,
    EndpointSpec,
)
from .health import check_health

SERVICE = "economy"
"""The ``service`` field of every reply."""

MAX_REQUEST_BYTES = 64 * 1024
"""Longest request accepted (larger ones are answered ``bad_request`` without being parsed)."""

PING, HEALTH = CORE_ENDPOINTS
OPEN_ENDPOINTS = CORE_ENDPOINTS
"""The core's own endpoints: they answer anyone."""

ENVELOPE_FIELDS = frozenset({"command", "token", "channel", "request_id", "service"})
"""Request fields the server consumes; every other field goes to the endpoint as ``args``."""

UNKNOWN = "unknown"
"""The command label for names no endpoint has (bounds the metric's label values)."""

OK = "ok"
ERROR = "error"
UNAUTHORIZED = "unauthorized"
FORBIDDEN = "forbidden"
BAD_REQUEST = "bad_request"

DATABASE_TIMEOUT_SECONDS = 2.0
"""How long ``system.health`` waits for the database's ``SELECT 1``."""

_SHOWN_CHARS = 64


class DuplicateEndpointError(RuntimeError):
    """Two plugins (or a plugin and the core) declared the same endpoint name."""


@attrs.frozen
class BoundEndpoint:
    """A registered endpoint: its name, the plugin that declared it, its help and method."""

    name: str
    plugin: str
    help: str
    fn: EndpointFn


class _Refusal(Exception):
    """A request answered ``success: false`` with ``message`` and counted as ``outcome``."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


def allows(patterns: Iterable[str], name: str) -> bool:
    """Does a client's ``endpoints`` list let it call ``name``? Entries are exact names,
    ``prefix.*`` (every name under ``prefix.``) or ``*`` (everything)."""
    for pattern in patterns:
        if pattern in ("*", name):
            return True
        if pattern.endswith(".*") and name.startswith(pattern[:-1]):
            return True
    return False


def _shown(value: str) -> str:
    """A caller-supplied name, quoted and cut short, for an error message."""
    if len(value) > _SHOWN_CHARS:
        value = value[:_SHOWN_CHARS] + "…"
    return repr(value)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


async def database_ping(engine: AsyncEngine, timeout: float = DATABASE_TIMEOUT_SECONDS) -> bool:
    """True when the database answers ``SELECT 1`` within ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        logging.getLogger("economy_core.api").warning("health: database check failed (%s)",
                                                      type(exc).__name__)
        return False
    return True


class ApiServer:
    """Endpoints by name, and :meth:`handle` for one request; see the module docstring."""

    def __init__(self, config: Callable[[], ApiConfig], *,
                 channels: Callable[[], Sequence[str]], clock: Clock,
                 database_up: Callable[[], Awaitable[bool]], bus_up: Callable[[], bool],
                 on_outcome: Callable[[str, str], None] | None = None,
                 max_request_bytes: int = MAX_REQUEST_BYTES,
                 log: logging.Logger | None = None) -> None:
        """``config`` returns the current ``[api]`` section (read on every request, so reloads
        apply); ``channels`` the configured channel names; ``database_up`` and ``bus_up`` feed
        ``system.health``; ``on_outcome(command, outcome)`` counts each request."""
        self._config = config
        self._channels = channels
        self._clock = clock
        self._database_up = database_up
        self._bus_up = bus_up
        self._on_outcome = on_outcome
        self.max_request_bytes = max_request_bytes
        self._log = log or logging.getLogger("economy_core.api")
        self._endpoints: dict[str, BoundEndpoint] = {}

    # -- registration -------------------------------------------------------------------------

    def register_plugin(self, plugin_name: str, instance: object) -> list[BoundEndpoint]:
        """Register every ``@endpoint`` method of ``instance``; a name already taken (by another
        plugin, the core's ``system.*``, or twice in this plugin) fails naming both owners.
        (The start-up contract check normally finds such clashes first; this keeps the server
        consistent on its own.)"""
        found: dict[str, BoundEndpoint] = {}
        for attr in dir(type(instance)):
            spec = getattr(getattr(type(instance), attr, None), ENDPOINT_ATTR, None)
            if not isinstance(spec, EndpointSpec):
                continue
            owner = ("the core" if spec.name in OPEN_ENDPOINTS
                     else f"plugin {plugin_name!r}" if spec.name in found
                     else f"plugin {self._endpoints[spec.name].plugin!r}"
                     if spec.name in self._endpoints else None)
            if owner is not None:
                raise DuplicateEndpointError(
                    f"endpoint {spec.name!r} is declared by both {owner} and plugin "
                    f"{plugin_name!r}")
            found[spec.name] = BoundEndpoint(spec.name, plugin_name, spec.help,
                                             getattr(instance, attr))
        self._endpoints.update(found)
        return list(found.values())

    def endpoints(self) -> list[BoundEndpoint]:
        """Every registered plugin endpoint (the core's ``system.*`` are not listed)."""
        return list(self._endpoints.values())

    # -- handling -----------------------------------------------------------------------------

    async def handle(self, raw: bytes) -> dict[str, Any]:
        """Answer one raw request with the reply envelope (never raises)."""
        call: dict[str, Any] = {"command": None, "label": UNKNOWN}
        try:
            data = await self._dispatch(raw, call)
            outcome = OK
            reply = self._envelope(call["command"], True, data)
        except _Refusal as refusal:
            outcome = refusal.outcome
            reply = self._envelope(call["command"], False, refusal.message)
        except Exception:
            self._log.exception("API request %s failed", call["label"])
            outcome = ERROR
            reply = self._envelope(call["command"], False, "internal error")
        try:
            if self._on_outcome is not None:
                self._on_outcome(call["label"], outcome)
        except Exception:
            self._log.exception("counting an API request failed")
        return reply

    @staticmethod
    def _envelope(command: str | None, success: bool, body: Any) -> dict[str, Any]:
        reply: dict[str, Any] = {"service": SERVICE, "command": command, "success": success}
        reply["data" if success else "error"] = body
        return reply

    async def _dispatch(self, raw: bytes, call: dict[str, Any]) -> dict[str, Any]:
        request = self._parse(raw)
        command = request.get("command")
        if not isinstance(command, str) or not command.strip():
            raise _Refusal(BAD_REQUEST, "bad request: 'command' (a non-empty string) is missing")
        call["command"] = command
        endpoint = self._endpoints.get(command)
        if command in OPEN_ENDPOINTS or endpoint is not None:
            call["label"] = command
        if command == PING:
            return {"pong": True, "service": SERVICE, "time": self._clock.now().isoformat()}
        if command == HEALTH:
            return await self._health()

        client = self._authenticate(request.get("token"), command)
        if endpoint is None:
            self._log.info("API: client %s asked for unknown command %s", client.name,
                           _shown(command))
            allowed = [PING, HEALTH, *sorted(n for n in self._endpoints
                                             if allows(client.endpoints, n))]
            raise _Refusal(UNKNOWN, f"unknown command {_shown(command)}; client {client.name} "
                                    f"may call: {', '.join(allowed)}")
        if not allows(client.endpoints, command):
            self._log.info("API: refused %s to client %s (not in its endpoints)", command,
                           client.name)
            raise _Refusal(FORBIDDEN, f"forbidden: client {client.name} may not call {command}")
        channel = self._channel(request.get("channel"))
        request_id = request.get("request_id")
        if isinstance(request_id, int) and not isinstance(request_id, bool):
            request_id = str(request_id)
        if request_id is not None and not (isinstance(request_id, str) and request_id):
            raise _Refusal(BAD_REQUEST, "bad request: 'request_id' must be a non-empty string")
        args = {k: v for k, v in request.items() if k not in ENVELOPE_FIELDS}
        api_request = ApiRequest(command, channel, client.name, args, request_id)
        try:
            result = await endpoint.fn(api_request)
        except ApiError as exc:
            raise _Refusal(ERROR, str(exc) or "request refused") from None
        if not isinstance(result, Mapping):
            raise TypeError(f"endpoint {command} (plugin {endpoint.plugin}) returned "
                            f"{type(result).__name__}, not a mapping")
        data = dict(result)
        json.dumps(data)  # an unserialisable result is the endpoint's bug: internal error
        self._log.debug("API: %s for client %s on %s: ok", command, client.name, channel)
        return data

    def _parse(self, raw: bytes) -> dict[str, Any]:
        if len(raw) > self.max_request_bytes:
            raise _Refusal(BAD_REQUEST, f"bad request: {len(raw):,} bytes is too large "
                                        f"(at most {self.max_request_bytes:,})")
        try:
            request = json.loads(raw)
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError included
            raise _Refusal(BAD_REQUEST, "bad request: not valid JSON") from None
        if not isinstance(request, dict):
            raise _Refusal(BAD_REQUEST, "bad request: the request must be a JSON object")
        return request

    def _authenticate(self, token: Any, command: str) -> ApiClientConfig:
        """The client whose token this is; every configured token is compared (constant time
        per comparison, no early exit), and the token itself is never logged."""
        if not isinstance(token, str) or not token:
            self._log.info("API: refused %s: no token", _shown(command))
            raise _Refusal(UNAUTHORIZED, "unauthorized: this command needs a client token")
        given = _digest(token)
        match: ApiClientConfig | None = None
        for client in self._config().clients:
            if hmac.compare_digest(given, _digest(client.token)) and match is None:
                match = client
        if match is None:
            self._log.info("API: refused %s: invalid token", _shown(command))
            raise _Refusal(UNAUTHORIZED, "unauthorized: invalid token")
        return match

    def _channel(self, value: Any) -> str:
        configured = list(self._channels())
        if value is None or value == "":
            if len(configured) == 1:
                return configured[0]
            raise _Refusal(BAD_REQUEST, "bad request: 'channel' is required (one of: "
                                        f"{', '.join(configured)})")
        if not isinstance(value, str):
            raise _Refusal(BAD_REQUEST, "bad request: 'channel' must be a string")
        wanted = value.casefold()
        for channel in configured:
            if channel.casefold() == wanted:
                return channel
        raise _Refusal(BAD_REQUEST, f"bad request: unknown channel {_shown(value)}")

    async def _health(self) -> dict[str, Any]:
        """The shared health check (:func:`economy_core.health.check_health`), as a dict."""
        health = await check_health(self._database_up, self._bus_up, self._clock, self._log)
        return health.as_dict()
