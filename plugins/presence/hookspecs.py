"""Hooks the presence plugin publishes (through its ``economy_addhooks``).

Implement them with ``@hookimpl(optionalhook=True)``: with presence switched off they are never
called, and start-up does not complain about them.
"""

from __future__ import annotations

from economy_core import UserArrived, hookspec


@hookspec
def economy_user_arrived(arrival: UserArrived) -> None:
    """Async broadcast, when a join opens or resumes a session: whether it is a genuine arrival
    (not a bounced connection inside ``join_debounce_minutes``) and how long the user was
    away. Plugins that react to arrivals (greetings) use this rather than judging raw joins
    themselves."""
