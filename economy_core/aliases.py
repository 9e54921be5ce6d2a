"""Alias-aware identity: are two CyTube names the same person?

The answer comes from the userstats service over the bus (``kryten.userstats.command``, command
``alias.resolve``, 2 s timeout). Its reply's ``data`` may name a canonical account
(``canonical``, ``primary`` or ``username``) and a list of ``aliases``; a name's *group* is its own
key plus all of those. Two names are the same person when either's group holds the other's key.

Every answer — a failure included — is cached for ten minutes per (channel, name), so a missing
userstats service costs one failed request per name per ten minutes, never one per chat line.
On failure a name's group is just itself: case-insensitive equality.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .clock import Clock
from .events import user_key

log = logging.getLogger(__name__)

SUBJECT = "kryten.userstats.command"
TIMEOUT_SECONDS = 2.0
CACHE_SECONDS = 600.0

Request = Callable[[str, dict[str, Any], float], Awaitable[dict[str, Any]]]


def _group_from(reply: Any, own: str) -> frozenset[str]:
    names = {own}
    data = reply.get("data") if isinstance(reply, dict) else None
    if isinstance(data, dict) and reply.get("success", True) is not False:
        for field in ("canonical", "primary", "username"):
            value = data.get(field)
            if isinstance(value, str) and value.strip():
                names.add(user_key(value))
        aliases = data.get("aliases")
        if isinstance(aliases, list):
            names.update(user_key(a) for a in aliases if isinstance(a, str) and a.strip())
    return frozenset(names)


class Aliases:
    """``same_person`` with a ten-minute cache; see the module docstring."""

    def __init__(self, request: Request, clock: Clock) -> None:
        self._request = request
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}

    async def group(self, channel: str, username: str) -> frozenset[str]:
        """Every user key known to belong to the same person as ``username`` (itself included)."""
        key = user_key(username)
        now = self._clock.now().timestamp()
        cached = self._cache.get((channel, key))
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            reply = await self._request(SUBJECT, {"service": "userstats",
                                                  "command": "alias.resolve",
                                                  "username": username, "channel": channel},
                                        TIMEOUT_SECONDS)
            group = _group_from(reply, key)
        except Exception as exc:  # no service, timeout, no bus: fall back to equality
            log.debug("alias lookup for %s failed: %s", username, exc)
            group = frozenset({key})
        self._cache[(channel, key)] = (now, group)
        return group

    async def same_person(self, channel: str, a: str, b: str) -> bool:
        """True when ``a`` and ``b`` are one person (same name, or linked as aliases)."""
        ka, kb = user_key(a), user_key(b)
        if ka == kb:
            return True
        return kb in await self.group(channel, a) or ka in await self.group(channel, b)
