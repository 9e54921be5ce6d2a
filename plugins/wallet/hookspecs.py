"""Hooks the wallet plugin publishes (through its ``economy_addhooks``): leaderboards that other
plugins add to ``top``.

Implement them with ``@hookimpl(optionalhook=True)``: with the wallet switched off nothing asks
for them, and start-up does not complain about them.
"""

from __future__ import annotations

from economy_core import hookspec


@hookspec
def economy_leaderboard_categories(channel: str) -> list[str] | str | None:
    """Async or sync collect. The extra category words a plugin answers for ``top <word>``
    (lower-case, one word each), listed in ``top``'s usage line. A word the wallet has itself
    (earners, today, rich, balance, balances, lifetime, all) is never asked for."""


@hookspec
def economy_leaderboard(channel: str, category: str, limit: int) -> str | None:
    """Async first. The whole ``top <category>`` reply for a word the wallet does not know
    (already lower-cased), at most ``limit`` entries; None when the word is not yours."""
