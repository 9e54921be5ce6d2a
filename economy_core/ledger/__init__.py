"""The ledger: every balance change, made so that money never vanishes and never doubles.

Contracts:

- **One posting per balance change.** Every change of ``core_accounts.balance`` writes one
  ``core_transactions`` row (signed amount, balance after, type, kind, source, trigger, reason,
  related user, JSON metadata) in the same database transaction; Σ amounts = balance, always
  (:meth:`Ledger.verify` checks it).
- **Debit-or-fail.** A debit is one conditional ``UPDATE ... SET balance = balance - n WHERE
  balance >= n``; no row means "insufficient_funds" and nothing is written. Balances never go
  negative, whatever the concurrency (a CHECK constraint backs it).
- **Counters follow the kind** (SPEC §2.3): EARN(+) → lifetime_earned and daily ``z_earned``;
  SPEND(−) → lifetime_spent and ``z_spent``; GAMBLE(−) → gambled_in and ``z_gambled_in``,
  GAMBLE(+) → gambled_out and ``z_gambled_out``; TRANSFER and CORRECTION count nothing, except a
  refund of an escrow, which reverses the escrow's own counter (floor 0), daily one included
  (on the day the escrow was taken). Other kind/sign pairs count nothing.
- **Idempotency.** A write given ``key`` stores its result under ``(channel, key)`` in the same
  transaction; a second write with that key returns the stored result with ``replayed=True`` and
  moves nothing. A failed write (``ok=False`` or an exception) stores nothing.
- **Escrow.** ``escrow`` debits-or-fails and opens an escrow row; ``release`` and ``refund`` first
  claim it with ``UPDATE ... WHERE status='open'`` and only then move money, in one transaction,
  so of two racing resolutions exactly one wins and the other gets "escrow_closed". Open escrows
  survive restarts (they are rows), so a starting plugin can refund or resolve them. A partial
  ``refund(..., amount=n, burn_type=...)`` gives ``n`` back and burns the rest as a visible
  posting of the holder (refund in full, then debit the remainder, one transaction).
- **Group commit.** Writes go to one writer task with its own connection. It takes up to
  ``max_batch`` waiting jobs, runs each in its own SAVEPOINT inside one database transaction (a job
  that raises rolls back only itself and gets its exception), commits once, then resolves every
  caller and then calls ``on_commit(postings)`` once per job that posted something (errors there
  are logged and never affect money; a caller may resume before an ``on_commit`` that awaits has
  finished). A lone job runs at once, without a savepoint. Writers of one database take turns
  (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), so two
  processes sharing a database serialise instead of deadlocking.
  ``on_commit`` runs on the writer task: it must not await ledger writes (doing so raises
  :class:`LedgerError` instead of deadlocking); hand work to a queue instead.
- **Atomic plugin work.** :meth:`Ledger.atomic` runs a plugin function and its money moves in one
  transaction through a :class:`LedgerTx`; raising rolls everything back. Each money move inside
  it is also all-or-nothing on its own (a savepoint), so a caught error never leaves half a move.

Amounts are ``int`` (not ``bool``) in ``1 .. MAX_AMOUNT``; anything else raises ValueError before
the database is touched. Users are identified by :func:`~economy_core.events.user_key`; the
display name kept on an account is the casing first seen. Timestamps come from the injected clock
(one instant per commit group); days (daily counters) are that instant in the ledger's time zone.

How it is fast: money operations are written once, as coroutines over a three-method SQL runner.
On PostgreSQL they run on the writer's SQLAlchemy connection. On SQLite, where every SQLAlchemy
statement through aiosqlite costs several thread hand-offs, the writer runs a whole commit group
synchronously inside the connection's own database thread (one hand-off per group); the
coroutines never suspend there. Bulk credits validate each award once (a posting type once per
distinct value), write each account and daily counter once, and pause the cyclic garbage
collector while they build their rows (``work._gc_paused``). Reads use SQLAlchemy Core on pooled
connections.
"""

from __future__ import annotations

from .checks import check_amount
from .gate import WITHHELD, EarnGate
from .model import (
    DEFAULT_MAX_BATCH,
    ESCROW_CLOSED,
    INSUFFICIENT_FUNDS,
    LEDGER_COMPONENT,
    LEDGER_SCHEMA_VERSION,
    MAX_AMOUNT,
    UNKNOWN_ESCROW,
    Account,
    Award,
    CapState,
    ChannelTotals,
    Escrow,
    Holder,
    Kind,
    KindTotals,
    LedgerError,
    Mismatch,
    Posting,
    TxResult,
)
from .policy import WritePolicy
from .schema import (
    accounts,
    caps,
    daily_counters,
    escrows,
    idempotency,
    ledger_metadata,
    transactions,
)
from .service import Ledger, LedgerView
from .tx import LedgerTx

__all__ = [
    "DEFAULT_MAX_BATCH", "ESCROW_CLOSED", "INSUFFICIENT_FUNDS", "LEDGER_COMPONENT",
    "LEDGER_SCHEMA_VERSION", "MAX_AMOUNT", "UNKNOWN_ESCROW", "WITHHELD", "Account", "Award",
    "CapState", "ChannelTotals", "EarnGate", "Escrow", "Holder", "Kind", "KindTotals", "Ledger",
    "LedgerError",
    "LedgerTx",
    "LedgerView", "Mismatch", "Posting", "TxResult", "WritePolicy", "accounts", "caps",
    "check_amount", "daily_counters", "escrows", "idempotency", "ledger_metadata",
    "transactions",
]
