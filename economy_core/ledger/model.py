"""Ledger values: kinds, records, results and limits."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import attrs

MAX_AMOUNT = 10**12
"""The largest amount the ledger moves and any command accepts; larger is refused, never
truncated."""
LEDGER_COMPONENT = "core_ledger"
LEDGER_SCHEMA_VERSION = 1
DEFAULT_MAX_BATCH = 256

INSUFFICIENT_FUNDS = "insufficient_funds"
ESCROW_CLOSED = "escrow_closed"
UNKNOWN_ESCROW = "unknown_escrow"

_PG_LOCK = 0x6C6564676572  # advisory lock id of the ledger writer ("ledger")


class Kind(enum.StrEnum):
    """The class of a posting; decides which counters it moves (module docstring)."""

    EARN = "earn"
    SPEND = "spend"
    GAMBLE = "gamble"
    TRANSFER = "transfer"
    CORRECTION = "correction"


class LedgerError(Exception):
    """The ledger cannot take this request (not started, closed, or a write that would
    deadlock the writer)."""


# -- data -------------------------------------------------------------------------------------


@attrs.frozen
class Account:
    """One user's account in one channel."""

    channel: str
    user_key: str
    username: str
    balance: int
    lifetime_earned: int
    lifetime_spent: int
    gambled_in: int
    gambled_out: int
    created_at: datetime
    updated_at: datetime


@attrs.frozen
class ChannelTotals:
    """The sums over every account of one channel (:meth:`LedgerView.totals`)."""

    accounts: int
    circulation: int
    lifetime_earned: int
    lifetime_spent: int
    gambled_in: int
    gambled_out: int


@attrs.frozen
class Holder:
    """An account reduced to what a balance rule needs."""

    user_key: str
    username: str
    balance: int


@attrs.frozen
class KindTotals:
    """The postings of one kind over a period: how many credits (+) and debits (−), and their
    sums (``debited`` as a positive figure)."""

    credits: int
    credited: int
    debits: int
    debited: int


@attrs.frozen
class Posting:
    """One committed balance change (a ``core_transactions`` row). ``tx_id`` groups the postings
    of one ledger operation."""

    id: int
    tx_id: str
    channel: str
    user_key: str
    username: str
    amount: int
    balance_after: int
    type: str
    kind: Kind
    source: str
    trigger_id: str | None
    reason: str
    related_user: str | None
    metadata: dict[str, Any]
    at: datetime


@attrs.frozen
class Award:
    """One credit inside :meth:`Ledger.credit_many` or an escrow release."""

    username: str
    amount: int
    type: str = "earn"
    kind: Kind = Kind.EARN
    reason: str = ""
    trigger_id: str | None = None
    related_user: str | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Escrow:
    """Money taken from a user and held until it is released (paid out) or refunded."""

    id: int
    channel: str
    user_key: str
    username: str
    amount: int
    purpose: str
    source: str
    status: Literal["open", "released", "refunded"]
    type: str
    kind: Kind
    created_at: datetime
    resolved_at: datetime | None
    metadata: dict[str, Any]


@attrs.frozen
class TxResult:
    """The outcome of one ledger write.

    ``balances`` maps user key → balance after, the operation's main user first (the sender of
    a transfer). ``error`` is None when ``ok``, else one of "insufficient_funds",
    "escrow_closed", "unknown_escrow". ``replayed`` marks a stored result returned for a repeated
    idempotency key (nothing moved this time).
    """

    ok: bool
    postings: tuple[Posting, ...]
    balances: Mapping[str, int]
    error: str | None = None
    replayed: bool = False
    escrow: Escrow | None = None

    @property
    def balance(self) -> int:
        """The main user's balance after the operation (for a failed debit: the current one)."""
        return next(iter(self.balances.values()), 0)

    @property
    def escrow_id(self) -> int:
        """The id of the escrow this (successful) ``escrow`` call opened."""
        if self.escrow is None:
            raise LedgerError(f"no escrow was opened (ok={self.ok}, error={self.error})")
        return self.escrow.id


@attrs.frozen
class Mismatch:
    """An account whose balance is not the sum of its postings (or is negative)."""

    channel: str
    user_key: str
    balance: int
    ledger_sum: int


@attrs.frozen
class CapState:
    """A cap's counter: uses so far in the window that started at ``window_start``."""

    count: int
    window_start: datetime
