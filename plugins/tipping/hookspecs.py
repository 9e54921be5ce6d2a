"""Hooks the tipping plugin publishes (through its ``economy_addhooks``).

Implement them with ``@hookimpl(optionalhook=True)``: with tipping switched off they are never
called, and start-up does not complain about them.
"""

from __future__ import annotations

from economy_core import hookspec


@hookspec
def economy_tip_sent(channel: str, sender: str, recipient: str, amount: int) -> None:
    """Async broadcast after a tip committed (both postings are in the ledger: ``tip_send`` on
    the sender with ``related_user`` the recipient, ``tip_receive`` the other way round), for
    plugins that count tips (achievements: unique recipients and senders)."""
