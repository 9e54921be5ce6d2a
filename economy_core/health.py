"""Is the bot healthy? One check shared by ``system.health`` (API) and ``/health`` (metrics).

Healthy means both dependencies answer: the database (``SELECT 1`` within a bound, see
:func:`economy_core.api.database_ping`) and the NATS connection. A check that raises counts as
down and is logged with the exception's type only (never its text: it may carry a URL with a
password).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import attrs

DatabaseUp = Callable[[], Awaitable[bool]]
BusUp = Callable[[], bool]


@attrs.frozen
class Health:
    """The result of one check: each dependency up or not."""

    database: bool
    bus: bool

    @property
    def ok(self) -> bool:
        return self.database and self.bus

    @property
    def reason(self) -> str:
        """Why the bot is not healthy ("" when it is), e.g. ``database unreachable``."""
        problems = []
        if not self.database:
            problems.append("database unreachable")
        if not self.bus:
            problems.append("NATS not connected")
        return "; ".join(problems)


async def check_health(database_up: DatabaseUp, bus_up: BusUp,
                       log: logging.Logger | None = None) -> Health:
    """Ask both dependencies; never raises."""
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
    return Health(database, bus)
