"""Hooks the events plugin publishes (through its ``economy_addhooks``).

Implement them with ``@hookimpl(optionalhook=True)``: with events switched off nothing calls
them, and start-up does not complain about them.
"""

from __future__ import annotations

from datetime import datetime

from economy_core import hookspec


@hookspec
def economy_occasion_started(channel: str, name: str, at: datetime,
                             reward: int | None) -> None:
    """Async broadcast, once per event start (a scheduled event's cron fire, or an admin's
    ``event start``), after the start is committed: ``name`` began at ``at`` (the fire instant
    for a scheduled event) in ``channel``. Never sent twice for one (channel, name, at), also
    not after a restart inside the event.

    ``reward`` is what each user present should still be paid for being there: the events
    plugin pays the SPEC's presence pot itself (``event_bonus``, split over everyone present)
    before it broadcasts, so it always sends ``0``: implementations pay nothing more for
    presence then. ``None`` would mean "your own default" (reserved for a publisher that pays no
    pot of its own)."""
