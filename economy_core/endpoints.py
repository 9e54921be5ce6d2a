"""Request-reply endpoints: what other kryten services may ask the economy on its NATS subject.

A plugin declares an endpoint by decorating an async method, as it declares a PM command::

    @endpoint("balance.get", help="A user's balance and lifetime earnings")
    async def balance_get(self, request: ApiRequest) -> dict[str, Any]: ...

The core's API server (``economy_core.api``) reads the declarations from the plugin class before
anything starts (two plugins declaring one endpoint is a start-up error naming both), checks the
caller's token and endpoint list, and answers with the envelope
``{"service": "economy", "command": ..., "success": true, "data": <what the method returned>}``.
A method refuses a request by raising :class:`ApiError` (``success: false`` with its message);
any other exception is logged and answered as an internal error, never a crash.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

ENDPOINT_ATTR = "__economy_endpoint__"

CORE_ENDPOINTS = ("system.ping", "system.health")
"""The endpoints the core itself answers (to anyone: they reveal nothing)."""

_NAME_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
"""Endpoint names are dotted lower-case words, e.g. ``balance.get`` or ``admin.grant``."""


@attrs.frozen
class EndpointSpec:
    """An endpoint's declaration, as attached by :func:`endpoint`."""

    name: str
    help: str


@attrs.frozen
class ApiRequest:
    """One authenticated call, as the endpoint method sees it.

    ``channel`` is a configured channel (the request's ``channel`` field, or the only configured
    channel when the request names none); ``caller`` is the configured client name that
    authenticated (``"anonymous"`` for the open ``system.*`` endpoints); ``args`` holds every
    other field of the request; ``request_id`` is the caller's idempotency id, if it sent one.
    """

    command: str
    channel: str
    caller: str
    args: Mapping[str, Any]
    request_id: str | None = None

    def user(self, field: str = "username") -> str:
        """The user name in argument ``field`` (surrounding spaces and a leading ``@``
        dropped); missing, not a string or blank is refused with :class:`ApiError`."""
        name = self.args.get(field)
        if not isinstance(name, str) or not name.strip("@ "):
            raise ApiError(f"{field} (a user name) is required")
        return name.strip().lstrip("@")

    def optional_user(self, field: str = "username") -> str | None:
        """:meth:`user`, or None when the request has no ``field``."""
        return None if self.args.get(field) is None else self.user(field)


class ApiError(Exception):
    """An endpoint's refusal: the caller gets ``success: false`` and this message."""


EndpointFn = Callable[[ApiRequest], Awaitable[Mapping[str, Any]]]


def endpoint(name: str, *, help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a request-reply endpoint on a plugin method (see the module docstring)."""
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"endpoint name {name!r}: use dotted lower-case words, e.g. "
                         "'balance.get'")
    if name.startswith("system."):
        raise ValueError(f"endpoint name {name!r}: 'system.*' belongs to the core")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, ENDPOINT_ATTR, EndpointSpec(name, help))
        return fn

    return decorate


def declared_endpoints(cls: type) -> dict[str, str]:
    """Endpoint name → method name of every ``@endpoint`` on a plugin class (read before the
    class is constructed)."""
    found: dict[str, str] = {}
    for attr in dir(cls):
        spec = getattr(getattr(cls, attr, None), ENDPOINT_ATTR, None)
        if isinstance(spec, EndpointSpec):
            found[spec.name] = attr
    return found
