"""Hooks the ranks plugin publishes (through its ``economy_addhooks``).

Implement them with ``@hookimpl(optionalhook=True)``: with ranks switched off they are never
called, and start-up does not complain about them.
"""

from __future__ import annotations

from economy_core import hookspec


@hookspec
def economy_rank_reached(channel: str, username: str, tier_index: int, tier_name: str) -> None:
    """Async broadcast, after the transaction that stored a user's new rank committed: by
    earnings (a promotion; ``tier_index`` is higher than before) or by an admin's ``set_rank``
    (any tier, also a lower one). Told once per change; a crash right after the commit may leave
    one untold."""
