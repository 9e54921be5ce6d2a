"""The bot's health check: is the database answering, is the message bus connected?

One check for every front-end: the API's ``system.health`` (and any plugin endpoint that
reports health), a plugin's ``ctx.health()`` (e.g. an admin's inspection command) and an HTTP
``/health`` all call :func:`check_health` (the app wires it as ``EconomyApp.health``), so they
can never disagree. It never raises: a failing probe counts as "down" and is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import attrs

from .clock import Clock

OK = "ok"
DEGRADED = "degraded"


@attrs.frozen
class Health:
    """One health check's answer: each dependency up or not, and when it was asked."""

    database: bool
    bus: bool
    at: datetime

    @property
    def ok(self) -> bool:
        return self.database and self.bus

    @property
    def status(self) -> str:
        """``"ok"`` when every dependency is up, else ``"degraded"``."""
        return OK if self.ok else DEGRADED

    @property
    def reasons(self) -> list[str]:
        """What is down, in words (empty when healthy)."""
        return [text for up, text in ((self.database, "database unreachable"),
                                      (self.bus, "NATS not connected")) if not up]

    @property
    def reason(self) -> str:
        """The reasons as one line (``""`` when healthy), e.g. ``database unreachable``."""
        return "; ".join(self.reasons)

    def as_dict(self) -> dict[str, Any]:
        """The wire form: ``{"status", "database", "bus", "time"}`` (``system.health``)."""
        return {"status": self.status, "database": self.database, "bus": self.bus,
                "time": self.at.isoformat()}


async def check_health(database_up: Callable[[], Awaitable[bool]], bus_up: Callable[[], bool],
                       clock: Clock, log: logging.Logger | None = None) -> Health:
    """Ask both probes (an exception from one counts as down) and return the :class:`Health`."""
    log = log or logging.getLogger("economy_core.health")
    try:
        database = bool(await database_up())
    except Exception as exc:
        log.warning("health: database check raised %s", type(exc).__name__)
        database = False
    try:
        bus = bool(bus_up())
    except Exception as exc:
        log.warning("health: bus check raised %s", type(exc).__name__)
        bus = False
    return Health(database, bus, clock.now())
