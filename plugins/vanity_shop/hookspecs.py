"""Hooks the vanity shop publishes (through its ``economy_addhooks``).

Implement them with ``@hookimpl(optionalhook=True)``: with the shop switched off they are never
called, and start-up does not complain about them.
"""

from __future__ import annotations

from economy_core import hookspec


@hookspec
def economy_purchase(channel: str, username: str, item: str, args: str) -> str | None:
    """Async first. ``buy <item> <args>`` for an item the shop does not sell itself (``item``
    lower-cased, ``args`` the rest of the line as typed): the plugin that sells ``item`` checks,
    charges (through its own ledger view and ``ctx.pricing``) and returns the reply; None when
    ``item`` is not its. The first non-None answer is the reply; when every plugin answers None
    the user is told the item is not available."""


@hookspec
def economy_shop_lines(channel: str, username: str) -> list[str] | None:
    """Async collect. Extra lines for the ``shop`` listing, one per item another plugin sells
    through ``economy_purchase`` (e.g. ``"cytube2 — 49,000 Z (was 50,000 Z): CyTube level 2"``),
    priced for this user."""
