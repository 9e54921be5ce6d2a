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
  survive restarts (they are rows), so a starting plugin can refund or resolve them.
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
coroutines never suspend there. Reads use SQLAlchemy Core on pooled connections.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import partial
from typing import Any, Literal, Protocol, TypeVar

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .clock import Clock
from .db import NAMING, UtcDateTime, migrate
from .events import user_key

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_AMOUNT = 10**12
LEDGER_COMPONENT = "core_ledger"
LEDGER_SCHEMA_VERSION = 1
DEFAULT_MAX_BATCH = 256

INSUFFICIENT_FUNDS = "insufficient_funds"
ESCROW_CLOSED = "escrow_closed"
UNKNOWN_ESCROW = "unknown_escrow"

_IN_CHUNK = 400  # keys per IN (...) list
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
class Holder:
    """An account reduced to what a balance rule needs."""

    user_key: str
    username: str
    balance: int


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


class EarnGate(Protocol):
    """Decides whether earn-class credits reach a user now (the core's onboarding minimums).

    The ledger asks it before every EARN credit whose ``type`` it ``applies`` to; withheld users
    get nothing from that credit (no posting, no counters, no idempotency record)."""

    def applies(self, type: str) -> bool: ...

    async def withheld(self, channel: str, usernames: Sequence[str]) -> set[str]: ...


WITHHELD = "withheld"
"""``TxResult.error`` of a single credit the earn gate withheld."""


async def _gated(gate: EarnGate | None, channel: str, awards: Sequence[Award]) -> list[Award]:
    """``awards`` without the earn-class ones the gate withholds."""
    if gate is None:
        return list(awards)
    gated = [a for a in awards if a.kind is Kind.EARN and gate.applies(a.type)]
    if not gated:
        return list(awards)
    out = await gate.withheld(channel, [a.username for a in gated])
    if not out:
        return list(awards)
    return [a for a in awards if not (a.kind is Kind.EARN and gate.applies(a.type)
                                      and user_key(a.username) in out)]


async def _withheld_one(gate: EarnGate | None, channel: str, username: str, type: str,
                        kind: Kind) -> bool:
    if gate is None or Kind(kind) is not Kind.EARN or not gate.applies(type):
        return False
    return bool(await gate.withheld(channel, [username]))


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


# -- tables -----------------------------------------------------------------------------------

ledger_metadata = sa.MetaData(naming_convention=NAMING)

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Money = sa.BigInteger

accounts = sa.Table(
    "core_accounts", ledger_metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("user_key", sa.String(100), nullable=False),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("balance", _Money, nullable=False),
    sa.Column("lifetime_earned", _Money, nullable=False),
    sa.Column("lifetime_spent", _Money, nullable=False),
    sa.Column("gambled_in", _Money, nullable=False),
    sa.Column("gambled_out", _Money, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("channel", "user_key"),
    sa.CheckConstraint("balance >= 0", name="balance_not_negative"),
)

transactions = sa.Table(
    "core_transactions", ledger_metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("tx_id", sa.String(32), nullable=False, index=True),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("user_key", sa.String(100), nullable=False),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("amount", _Money, nullable=False),
    sa.Column("balance_after", _Money, nullable=False),
    sa.Column("type", sa.String(50), nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("trigger_id", sa.String(200), nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("related_user", sa.String(100), nullable=True),
    sa.Column("metadata", sa.JSON, nullable=False, key="meta"),
    sa.Column("at", UtcDateTime, nullable=False, index=True),
    sa.Index("ix_core_transactions_account", "channel", "user_key", "id"),
)

daily_counters = sa.Table(
    "core_daily", ledger_metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("counter", sa.String(100), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

caps = sa.Table(
    "core_caps", ledger_metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("cap_key", sa.String(200), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("window_start", UtcDateTime, nullable=False),
)

escrows = sa.Table(
    "core_escrows", ledger_metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("user_key", sa.String(100), nullable=False),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("amount", _Money, nullable=False),
    sa.Column("purpose", sa.String(100), nullable=False),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("type", sa.String(50), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("resolved_at", UtcDateTime, nullable=True),
    sa.Column("metadata", sa.JSON, nullable=False, key="meta"),
    sa.CheckConstraint("status IN ('open', 'released', 'refunded')", name="status_known"),
    sa.Index("ix_core_escrows_open", "status", "channel", "purpose"),
)

idempotency = sa.Table(
    "core_idempotency", ledger_metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)


# -- validation and small helpers -------------------------------------------------------------


def check_amount(amount: object) -> int:
    """``amount`` if it is an int (not bool) in 1..MAX_AMOUNT, else ValueError."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError(f"amount must be an int, not {type(amount).__name__} ({amount!r})")
    if not 0 < amount <= MAX_AMOUNT:
        raise ValueError(f"amount must be between 1 and {MAX_AMOUNT}, not {amount}")
    return amount


def _check_user(username: str) -> tuple[str, str]:
    """(user key, display name) of a username; ValueError when empty or too long."""
    if not isinstance(username, str):
        raise ValueError(f"username must be a str, not {type(username).__name__}")
    key = user_key(username)
    if not key:
        raise ValueError("username must not be empty")
    if len(key) > 100:
        raise ValueError("username is longer than 100 characters")
    return key, username.strip()


def _check_text(what: str, value: object, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValueError(f"{what} must be a non-empty str of at most {limit} chars: {value!r}")
    return value


def _check_key(key: str | None) -> str | None:
    return None if key is None else _check_text("idempotency key", key, 200)


def _check_channel(channel: str) -> str:
    return _check_text("channel", channel, 100)


def _check_escrow_id(escrow_id: int) -> int:
    if isinstance(escrow_id, bool) or not isinstance(escrow_id, int):
        raise ValueError(f"escrow id must be an int, not {escrow_id!r}")
    return escrow_id


def _effects(kind: Kind, amount: int) -> tuple[str | None, str | None]:
    """(account counter column, daily counter) moved by a posting of signed ``amount``."""
    if kind is Kind.EARN and amount > 0:
        return "lifetime_earned", "z_earned"
    if kind is Kind.SPEND and amount < 0:
        return "lifetime_spent", "z_spent"
    if kind is Kind.GAMBLE:
        return ("gambled_in", "z_gambled_in") if amount < 0 else ("gambled_out", "z_gambled_out")
    return None, None


_KIND_VALUES = {k: k.value for k in Kind}  # Enum.value is a slow descriptor in bulk loops

_COUNTER_COLUMNS = ("lifetime_earned", "lifetime_spent", "gambled_in", "gambled_out")


def _deltas(kind: Kind, amount: int) -> tuple[int, int, int, int]:
    """Account counter increments (earned, spent, gambled in, gambled out) of one posting."""
    column, _ = _effects(kind, amount)
    return tuple(abs(amount) if c == column else 0  # type: ignore[return-value]
                 for c in _COUNTER_COLUMNS)


def _chunks(items: Sequence[T], size: int = _IN_CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":")) if value else "{}"


def _account(row: Any) -> Account:
    return Account(channel=row.channel, user_key=row.user_key, username=row.username,
                   balance=int(row.balance), lifetime_earned=int(row.lifetime_earned),
                   lifetime_spent=int(row.lifetime_spent), gambled_in=int(row.gambled_in),
                   gambled_out=int(row.gambled_out), created_at=row.created_at,
                   updated_at=row.updated_at)


def _posting(row: Any) -> Posting:
    return Posting(id=int(row.id), tx_id=row.tx_id, channel=row.channel, user_key=row.user_key,
                   username=row.username, amount=int(row.amount),
                   balance_after=int(row.balance_after), type=row.type, kind=Kind(row.kind),
                   source=row.source, trigger_id=row.trigger_id, reason=row.reason,
                   related_user=row.related_user, metadata=dict(row.meta or {}), at=row.at)


def _escrow(row: Any) -> Escrow:
    return Escrow(id=int(row.id), channel=row.channel, user_key=row.user_key,
                  username=row.username, amount=int(row.amount), purpose=row.purpose,
                  source=row.source, status=row.status, type=row.type, kind=Kind(row.kind),
                  created_at=row.created_at, resolved_at=row.resolved_at,
                  metadata=dict(row.meta or {}))


# -- stored results (idempotency) -------------------------------------------------------------


def _result_to_json(result: TxResult) -> dict[str, Any]:
    escrow = result.escrow
    return {
        "ok": result.ok,
        "error": result.error,
        "balances": [[k, v] for k, v in result.balances.items()],
        "postings": [
            {"id": p.id, "tx_id": p.tx_id, "channel": p.channel, "user_key": p.user_key,
             "username": p.username, "amount": p.amount, "balance_after": p.balance_after,
             "type": p.type, "kind": p.kind.value, "source": p.source,
             "trigger_id": p.trigger_id, "reason": p.reason, "related_user": p.related_user,
             "metadata": p.metadata, "at": p.at.isoformat()}
            for p in result.postings],
        "escrow": None if escrow is None else {
            "id": escrow.id, "channel": escrow.channel, "user_key": escrow.user_key,
            "username": escrow.username, "amount": escrow.amount, "purpose": escrow.purpose,
            "source": escrow.source, "status": escrow.status, "type": escrow.type,
            "kind": escrow.kind.value, "created_at": escrow.created_at.isoformat(),
            "resolved_at": (None if escrow.resolved_at is None
                            else escrow.resolved_at.isoformat()),
            "metadata": escrow.metadata},
    }


def _result_from_json(data: Mapping[str, Any]) -> TxResult:
    postings = tuple(
        Posting(id=p["id"], tx_id=p["tx_id"], channel=p["channel"], user_key=p["user_key"],
                username=p["username"], amount=p["amount"], balance_after=p["balance_after"],
                type=p["type"], kind=Kind(p["kind"]), source=p["source"],
                trigger_id=p["trigger_id"], reason=p["reason"], related_user=p["related_user"],
                metadata=dict(p["metadata"]), at=datetime.fromisoformat(p["at"]))
        for p in data["postings"])
    e = data.get("escrow")
    escrow = None if e is None else Escrow(
        id=e["id"], channel=e["channel"], user_key=e["user_key"], username=e["username"],
        amount=e["amount"], purpose=e["purpose"], source=e["source"], status=e["status"],
        type=e["type"], kind=Kind(e["kind"]), created_at=datetime.fromisoformat(e["created_at"]),
        resolved_at=(None if e["resolved_at"] is None
                     else datetime.fromisoformat(e["resolved_at"])),
        metadata=dict(e["metadata"]))
    return TxResult(ok=bool(data["ok"]), postings=postings,
                    balances={k: int(v) for k, v in data["balances"]}, error=data["error"],
                    replayed=True, escrow=escrow)


# -- SQL for the write path -------------------------------------------------------------------
# Written with "?" placeholders; PostgreSQL gets "$1..$n". Values are adapted by _Sql: on SQLite
# instants are stored exactly as SQLAlchemy's DateTime stores them (naive UTC text), so the
# SQLAlchemy reads below see the same values either way.

_ACCOUNT_COLUMNS = ("channel, user_key, username, balance, lifetime_earned, lifetime_spent, "
                    "gambled_in, gambled_out, created_at, updated_at")
_CREDIT = (
    f"INSERT INTO core_accounts ({_ACCOUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (channel, user_key) DO UPDATE SET "
    "balance = core_accounts.balance + excluded.balance, "
    "lifetime_earned = core_accounts.lifetime_earned + excluded.lifetime_earned, "
    "lifetime_spent = core_accounts.lifetime_spent + excluded.lifetime_spent, "
    "gambled_in = core_accounts.gambled_in + excluded.gambled_in, "
    "gambled_out = core_accounts.gambled_out + excluded.gambled_out, "
    "updated_at = excluded.updated_at")
_DEBIT = (
    "UPDATE core_accounts SET balance = balance - ?, "
    "lifetime_earned = lifetime_earned + ?, lifetime_spent = lifetime_spent + ?, "
    "gambled_in = gambled_in + ?, gambled_out = gambled_out + ?, updated_at = ? "
    "WHERE channel = ? AND user_key = ? AND balance >= ? RETURNING balance, username")
_REVERSE = ("UPDATE core_accounts SET {c} = CASE WHEN {c} < ? THEN 0 ELSE {c} - ? END, "
            "updated_at = ? WHERE channel = ? AND user_key = ?")
_BALANCE = "SELECT balance FROM core_accounts WHERE channel = ? AND user_key = ?"
_ACCOUNT = (f"SELECT {_ACCOUNT_COLUMNS} FROM core_accounts "
            "WHERE channel = ? AND user_key = ?")
_POST = ("INSERT INTO core_transactions (tx_id, channel, user_key, username, amount, "
         "balance_after, type, kind, source, trigger_id, reason, related_user, metadata, at) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_POST_IDS = "SELECT id FROM core_transactions WHERE tx_id = ? ORDER BY id"
_DAILY = ("INSERT INTO core_daily (channel, user_key, day, counter, value) "
          "VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel, user_key, day, counter) "
          "DO UPDATE SET value = core_daily.value + excluded.value")
_DAILY_REVERSE = ("UPDATE core_daily SET value = CASE WHEN value < ? THEN 0 ELSE value - ? END "
                  "WHERE channel = ? AND user_key = ? AND day = ? AND counter = ?")
_KEY_GET = "SELECT result FROM core_idempotency WHERE channel = ? AND key = ?"
_KEY_PUT = "INSERT INTO core_idempotency (channel, key, result, at) VALUES (?, ?, ?, ?)"
_ESCROW_COLUMNS = ("id, channel, user_key, username, amount, purpose, source, status, type, "
                   "kind, created_at, resolved_at, metadata")
_ESCROW_OPEN = ("INSERT INTO core_escrows (channel, user_key, username, amount, purpose, "
                "source, status, type, kind, reason, created_at, resolved_at, metadata) "
                "VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, NULL, ?) "
                f"RETURNING {_ESCROW_COLUMNS}")
_ESCROW_GET = f"SELECT {_ESCROW_COLUMNS} FROM core_escrows WHERE id = ?"
_ESCROW_CLAIM = ("UPDATE core_escrows SET status = ?, resolved_at = ? "
                 f"WHERE id = ? AND status = 'open' RETURNING {_ESCROW_COLUMNS}")
_CAP_GET = ("SELECT count, window_start FROM core_caps "
            "WHERE channel = ? AND user_key = ? AND cap_key = ?")
_CAP_NEW = ("INSERT INTO core_caps (channel, user_key, cap_key, count, window_start) "
            "VALUES (?, ?, ?, 1, ?)")
_CAP_RESET = ("UPDATE core_caps SET count = 1, window_start = ? "
              "WHERE channel = ? AND user_key = ? AND cap_key = ?")
_CAP_INC = ("UPDATE core_caps SET count = count + 1 "
            "WHERE channel = ? AND user_key = ? AND cap_key = ?")
_CAP_RETURN = ("UPDATE core_caps SET count = CASE WHEN count < 1 THEN 0 ELSE count - 1 END "
               "WHERE channel = ? AND user_key = ? AND cap_key = ?")


class _Sql:
    """The write path's statements and value adapters for one dialect."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"
        q = self.q
        self.credit = q(_CREDIT + " RETURNING balance, username")
        self.credit_many = q(_CREDIT)
        self.debit = q(_DEBIT)
        self.reverse = {c: q(_REVERSE.format(c=c)) for c in _COUNTER_COLUMNS}
        self.balance = q(_BALANCE)
        self.account = q(_ACCOUNT)
        self.post = q(_POST)
        self.post_one = q(_POST + " RETURNING id")
        self.post_ids = q(_POST_IDS)
        self.daily = q(_DAILY)
        self.daily_one = q(_DAILY + " RETURNING value")
        self.daily_reverse = q(_DAILY_REVERSE)
        self.key_get = q(_KEY_GET)
        self.key_put = q(_KEY_PUT)
        self.escrow_open = q(_ESCROW_OPEN)
        self.escrow_get = q(_ESCROW_GET + (" FOR UPDATE" if self.pg else ""))
        self.escrow_claim = q(_ESCROW_CLAIM)
        self.cap_get = q(_CAP_GET + (" FOR UPDATE" if self.pg else ""))
        self.cap_new = q(_CAP_NEW)
        self.cap_reset = q(_CAP_RESET)
        self.cap_inc = q(_CAP_INC)
        self.cap_return = q(_CAP_RETURN)
        self._accounts_in: dict[int, str] = {}
        self.accounts_any = ("SELECT user_key, balance, username FROM core_accounts "
                             "WHERE channel = $1 AND user_key = ANY($2::varchar[])")

    def q(self, sql: str) -> str:
        """``sql`` with this dialect's placeholders."""
        if not self.pg:
            return sql
        parts = sql.split("?")
        return parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], 1))

    def accounts_in(self, n: int) -> str:
        """SELECT user_key, balance, username of ``n`` users of one channel (params: channel,
        then the keys)."""
        sql = self._accounts_in.get(n)
        if sql is None:
            sql = self._accounts_in[n] = self.q(
                "SELECT user_key, balance, username FROM core_accounts "
                f"WHERE channel = ? AND user_key IN ({', '.join('?' * n)})")
        return sql

    def ts(self, value: datetime) -> Any:
        if self.pg:
            return value
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def day(self, value: date) -> Any:
        return value if self.pg else value.isoformat()

    @staticmethod
    def read_ts(value: Any) -> datetime:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @staticmethod
    def read_json(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value

    def escrow(self, row: Sequence[Any]) -> Escrow:
        return Escrow(id=int(row[0]), channel=row[1], user_key=row[2], username=row[3],
                      amount=int(row[4]), purpose=row[5], source=row[6], status=row[7],
                      type=row[8], kind=Kind(row[9]), created_at=self.read_ts(row[10]),
                      resolved_at=None if row[11] is None else self.read_ts(row[11]),
                      metadata=dict(self.read_json(row[12]) or {}))


class _Runner(Protocol):
    """Runs the write path's SQL on one connection, inside the writer's transaction."""

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Sequence[Any]]: ...

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    async def run_many(self, sql: str, params: Sequence[Sequence[Any]]) -> None: ...


class _SqliteRunner:
    """Synchronous sqlite3 calls behind the runner's async face (never suspends); only used
    inside the connection's own database thread."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Sequence[Any]]:
        return self.db.execute(sql, params).fetchall()

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.db.execute(sql, params).rowcount

    async def run_many(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        if params:
            self.db.executemany(sql, params)


class _ConnRunner:
    """The runner over a SQLAlchemy async connection (PostgreSQL, or SQLite without the fast
    path)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Sequence[Any]]:
        return (await self.conn.exec_driver_sql(sql, tuple(params))).all()

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return (await self.conn.exec_driver_sql(sql, tuple(params))).rowcount

    async def run_many(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        if params:
            await self.conn.exec_driver_sql(sql, [tuple(p) for p in params])


def _drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (an operation over a :class:`_SqliteRunner`)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a ledger operation suspended inside the database thread")


@attrs.frozen
class _Hop:
    """SQLite fast path: run a function in the connection's database thread, with its handle."""

    run: Callable[[Callable[[], Any]], Awaitable[Any]]
    db: sqlite3.Connection


async def _sqlite_hop(conn: AsyncConnection) -> _Hop | None:
    """The fast path for an aiosqlite connection, or None (then every statement goes through
    SQLAlchemy, slower but equivalent). Uses aiosqlite's thread-dispatch hook, which is not
    public API; anything unexpected disables the fast path instead of failing."""
    if conn.dialect.name != "sqlite":
        return None
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    execute = getattr(driver, "_execute", None)
    try:
        db = driver._conn  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        return None
    if not callable(execute) or not isinstance(db, sqlite3.Connection):
        return None
    return _Hop(execute, db)


# -- operations -------------------------------------------------------------------------------


class _Work:
    """One operation's context: runner, dialect, instant, source; collects its postings."""

    def __init__(self, runner: _Runner, sql: _Sql, now: datetime, tz: tzinfo,
                 source: str) -> None:
        self.r = runner
        self.sql = sql
        self.now = now
        self.tz = tz
        self.today = now.astimezone(tz).date()
        self.now_db = sql.ts(now)
        self.today_db = sql.day(self.today)
        self.source = source
        self.postings: list[Posting] = []


Op = Callable[[_Work], Coroutine[Any, Any, T]]

_Spec = tuple[str, str, str, str, int, int, str, Kind, str | None, str, str | None,
              Mapping[str, Any]]
"""A posting before insertion: tx_id, channel, user key, display name, amount, balance after,
type, kind, trigger_id, reason, related_user, metadata."""


async def _replay(w: _Work, channel: str, key: str | None) -> TxResult | None:
    if key is None:
        return None
    found = await w.r.rows(w.sql.key_get, (channel, key))
    return _result_from_json(w.sql.read_json(found[0][0])) if found else None


async def _store(w: _Work, channel: str, key: str | None, result: TxResult) -> TxResult:
    if key is not None and result.ok:
        await w.r.run(w.sql.key_put, (channel, key, json.dumps(_result_to_json(result)),
                                      w.now_db))
    return result


async def _post(w: _Work, specs: list[_Spec]) -> list[Posting]:
    """Insert postings (all of one tx_id); return them in order."""
    source, now_db = w.source, w.now_db
    kinds = _KIND_VALUES
    params = [(s[0], s[1], s[2], s[3], s[4], s[5], s[6], kinds[s[7]], source, s[8], s[9], s[10],
               _dumps(s[11]), now_db) for s in specs]
    if len(params) == 1:
        ids = [int((await w.r.rows(w.sql.post_one, params[0]))[0][0])]
    else:
        await w.r.run_many(w.sql.post, params)
        ids = [int(r[0]) for r in await w.r.rows(w.sql.post_ids, (specs[0][0],))][-len(specs):]
    postings = [Posting(i, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], source, s[8], s[9],
                        s[10], dict(s[11]), w.now) for i, s in zip(ids, specs, strict=True)]
    w.postings.extend(postings)
    return postings


async def _add(w: _Work, channel: str, ukey: str, name: str, amount: int,
               kind: Kind) -> tuple[int, str]:
    """Credit an account (created on first need); returns (balance after, display name)."""
    row = (await w.r.rows(w.sql.credit, (channel, ukey, name, amount, *_deltas(kind, amount),
                                         w.now_db, w.now_db)))[0]
    return int(row[0]), row[1]


async def _take(w: _Work, channel: str, ukey: str, amount: int,
                kind: Kind) -> tuple[int, str] | None:
    """Debit-or-fail; (balance after, display name), or None when the balance is short."""
    found = await w.r.rows(w.sql.debit, (amount, *_deltas(kind, -amount), w.now_db, channel,
                                         ukey, amount))
    return (int(found[0][0]), found[0][1]) if found else None


async def _replay_or_take(w: _Work, channel: str, key: str | None, ukey: str, amount: int,
                          kind: Kind) -> TxResult | tuple[int, str]:
    """The start of every debit: a replayed key's stored result, the short-balance result, or
    (balance after, display name) when the amount was taken."""
    replay = await _replay(w, channel, key)
    if replay is not None:
        return replay
    taken = await _take(w, channel, ukey, amount, kind)
    return await _short(w, channel, ukey) if taken is None else taken


async def _balance_of(w: _Work, channel: str, ukey: str) -> int:
    found = await w.r.rows(w.sql.balance, (channel, ukey))
    return int(found[0][0]) if found else 0


async def _count(w: _Work, channel: str, ukey: str, kind: Kind, amount: int) -> None:
    _, counter = _effects(kind, amount)
    if counter is not None:
        await w.r.run(w.sql.daily, (channel, ukey, w.today_db, counter, abs(amount)))


async def _short(w: _Work, channel: str, ukey: str) -> TxResult:
    return TxResult(False, (), {ukey: await _balance_of(w, channel, ukey)}, INSUFFICIENT_FUNDS)


_Checked = tuple[Award, str, str, Kind]


def _check_awards(awards: Iterable[Award]) -> list[_Checked]:
    checked = []
    for award in awards:
        if not isinstance(award, Award):
            raise ValueError(f"expected an Award, not {award!r}")
        check_amount(award.amount)
        ukey, name = _check_user(award.username)
        _check_text("posting type", award.type, 50)
        checked.append((award, ukey, name, Kind(award.kind)))
    return checked


async def _credit_awards(w: _Work, channel: str, checked: list[_Checked], tx_id: str,
                         extra_meta: Mapping[str, Any], reason: str = ""
                         ) -> tuple[list[Posting], dict[str, int]]:
    """Credit many awards with bulk statements; (postings, user key → final balance)."""
    if not checked:
        return [], {}
    per_user: dict[str, list[Any]] = {}  # key -> [name, total, earned, gambled out]
    per_counter: dict[tuple[str, str], int] = {}
    for award, ukey, name, kind in checked:
        entry = per_user.get(ukey)
        if entry is None:
            entry = per_user[ukey] = [name, 0, 0, 0]
        entry[1] += award.amount
        column, counter = _effects(kind, award.amount)
        if column == "lifetime_earned":
            entry[2] += award.amount
        elif column == "gambled_out":
            entry[3] += award.amount
        if counter is not None:
            per_counter[(ukey, counter)] = per_counter.get((ukey, counter), 0) + award.amount
    now_db = w.now_db
    await w.r.run_many(w.sql.credit_many, [
        (channel, k, e[0], e[1], e[2], 0, 0, e[3], now_db, now_db) for k, e in per_user.items()])
    finals: dict[str, tuple[int, str]] = {}
    keys = list(per_user)
    if w.sql.pg:  # one array parameter: one plan, one round trip
        found = await w.r.rows(w.sql.accounts_any, (channel, keys))
    else:
        found = [row for part in _chunks(keys)
                 for row in await w.r.rows(w.sql.accounts_in(len(part)), (channel, *part))]
    for row in found:
        finals[row[0]] = (int(row[1]), row[2])
    running = {k: finals[k][0] - per_user[k][1] for k in keys}
    specs: list[_Spec] = []
    for award, ukey, _, kind in checked:
        running[ukey] += award.amount
        meta: Mapping[str, Any] = award.metadata
        if extra_meta:
            meta = {**meta, **extra_meta}
        specs.append((tx_id, channel, ukey, finals[ukey][1], award.amount, running[ukey],
                      award.type, kind, award.trigger_id, award.reason or reason,
                      award.related_user, meta))
    postings = await _post(w, specs)
    today_db = w.today_db
    await w.r.run_many(w.sql.daily, [(channel, k, today_db, c, v)
                                     for (k, c), v in per_counter.items()])
    return postings, {k: finals[k][0] for k in keys}


def _credit_op(channel: str, username: str, amount: int, *, type: str = "earn",
              kind: Kind = Kind.EARN, reason: str = "", trigger_id: str | None = None,
              related_user: str | None = None, metadata: Mapping[str, Any] | None = None,
              key: str | None = None) -> Op[TxResult]:
    _check_channel(channel)
    check_amount(amount)
    ukey, name = _check_user(username)
    kind, key = Kind(kind), _check_key(key)
    _check_text("posting type", type, 50)
    meta = dict(metadata or {})

    async def op(w: _Work) -> TxResult:
        replay = await _replay(w, channel, key)
        if replay is not None:
            return replay
        balance, display = await _add(w, channel, ukey, name, amount, kind)
        postings = await _post(w, [(uuid.uuid4().hex, channel, ukey, display, amount, balance,
                                    type, kind, trigger_id, reason, related_user, meta)])
        await _count(w, channel, ukey, kind, amount)
        return await _store(w, channel, key, TxResult(True, tuple(postings), {ukey: balance}))
    return op


def _debit_op(channel: str, username: str, amount: int, *, type: str = "spend",
             kind: Kind = Kind.SPEND, reason: str = "", trigger_id: str | None = None,
             related_user: str | None = None, metadata: Mapping[str, Any] | None = None,
             key: str | None = None) -> Op[TxResult]:
    _check_channel(channel)
    check_amount(amount)
    ukey, _ = _check_user(username)
    kind, key = Kind(kind), _check_key(key)
    _check_text("posting type", type, 50)
    meta = dict(metadata or {})

    async def op(w: _Work) -> TxResult:
        taken = await _replay_or_take(w, channel, key, ukey, amount, kind)
        if isinstance(taken, TxResult):
            return taken
        balance, display = taken
        postings = await _post(w, [(uuid.uuid4().hex, channel, ukey, display, -amount, balance,
                                    type, kind, trigger_id, reason, related_user, meta)])
        await _count(w, channel, ukey, kind, -amount)
        return await _store(w, channel, key, TxResult(True, tuple(postings), {ukey: balance}))
    return op


def _transfer_op(channel: str, sender: str, recipient: str, amount: int, *,
                send_type: str = "tip_send", receive_type: str = "tip_receive",
                kind: Kind = Kind.TRANSFER, reason: str = "",
                metadata: Mapping[str, Any] | None = None,
                key: str | None = None) -> Op[TxResult]:
    _check_channel(channel)
    check_amount(amount)
    skey, _ = _check_user(sender)
    rkey, rname = _check_user(recipient)
    if skey == rkey:
        raise ValueError("sender and recipient are the same user")
    kind, key = Kind(kind), _check_key(key)
    _check_text("posting type", send_type, 50)
    _check_text("posting type", receive_type, 50)
    meta = dict(metadata or {})

    async def op(w: _Work) -> TxResult:
        taken = await _replay_or_take(w, channel, key, skey, amount, kind)
        if isinstance(taken, TxResult):
            return taken
        sbal, sname = taken
        rbal, rdisplay = await _add(w, channel, rkey, rname, amount, kind)
        tx_id = uuid.uuid4().hex
        postings = await _post(w, [
            (tx_id, channel, skey, sname, -amount, sbal, send_type, kind, None, reason,
             rdisplay, meta),
            (tx_id, channel, rkey, rdisplay, amount, rbal, receive_type, kind, None, reason,
             sname, meta)])
        await _count(w, channel, skey, kind, -amount)
        await _count(w, channel, rkey, kind, amount)
        return await _store(w, channel, key, TxResult(True, tuple(postings),
                                                      {skey: sbal, rkey: rbal}))
    return op


def _credit_many_op(channel: str, awards: Iterable[Award], *,
                   key: str | None = None) -> Op[TxResult]:
    _check_channel(channel)
    checked = _check_awards(awards)
    key = _check_key(key)

    async def op(w: _Work) -> TxResult:
        replay = await _replay(w, channel, key)
        if replay is not None:
            return replay
        postings, balances = await _credit_awards(w, channel, checked, uuid.uuid4().hex, {})
        return await _store(w, channel, key, TxResult(True, tuple(postings), balances))
    return op


def _escrow_op(channel: str, username: str, amount: int, *, purpose: str, type: str = "escrow",
              kind: Kind = Kind.SPEND, reason: str = "",
              metadata: Mapping[str, Any] | None = None,
              key: str | None = None) -> Op[TxResult]:
    _check_channel(channel)
    check_amount(amount)
    ukey, _ = _check_user(username)
    kind, key = Kind(kind), _check_key(key)
    _check_text("posting type", type, 50)
    _check_text("escrow purpose", purpose, 100)
    meta = dict(metadata or {})

    async def op(w: _Work) -> TxResult:
        taken = await _replay_or_take(w, channel, key, ukey, amount, kind)
        if isinstance(taken, TxResult):
            return taken
        balance, display = taken
        row = (await w.r.rows(w.sql.escrow_open, (
            channel, ukey, display, amount, purpose, w.source, type, kind.value, reason,
            w.now_db, _dumps(meta))))[0]
        held = w.sql.escrow(row)
        postings = await _post(w, [(uuid.uuid4().hex, channel, ukey, display, -amount, balance,
                                    type, kind, None, reason, None,
                                    {**meta, "escrow_id": held.id, "purpose": purpose})])
        await _count(w, channel, ukey, kind, -amount)
        return await _store(w, channel, key, TxResult(True, tuple(postings), {ukey: balance},
                                                      escrow=held))
    return op


async def _resolve(w: _Work, escrow_id: int, status: str,
                   key: str | None) -> tuple[Escrow | None, TxResult | None]:
    """Find and claim an escrow: (claimed escrow, None) or (None, the result to return)."""
    found = await w.r.rows(w.sql.escrow_get, (escrow_id,))
    if not found:
        return None, TxResult(False, (), {}, UNKNOWN_ESCROW)
    current = w.sql.escrow(found[0])
    replay = await _replay(w, current.channel, key)
    if replay is not None:
        return None, replay
    claimed = await w.r.rows(w.sql.escrow_claim, (status, w.now_db, escrow_id))
    if not claimed:
        return None, TxResult(False, (), {}, ESCROW_CLOSED, escrow=current)
    return w.sql.escrow(claimed[0]), None


def _release_op(escrow_id: int, *, payouts: Iterable[Award] = (), reason: str = "",
               key: str | None = None) -> Op[TxResult]:
    _check_escrow_id(escrow_id)
    checked = _check_awards(payouts)
    key = _check_key(key)

    async def op(w: _Work) -> TxResult:
        claimed, early = await _resolve(w, escrow_id, "released", key)
        if claimed is None:
            assert early is not None
            return early
        postings, balances = await _credit_awards(
            w, claimed.channel, checked, uuid.uuid4().hex,
            {"escrow_id": claimed.id, "purpose": claimed.purpose}, reason)
        return await _store(w, claimed.channel, key, TxResult(True, tuple(postings), balances,
                                                              escrow=claimed))
    return op


def _refund_op(escrow_id: int, *, reason: str = "", key: str | None = None) -> Op[TxResult]:
    _check_escrow_id(escrow_id)
    key = _check_key(key)

    async def op(w: _Work) -> TxResult:
        held, early = await _resolve(w, escrow_id, "refunded", key)
        if held is None:
            assert early is not None
            return early
        channel, ukey = held.channel, held.user_key
        balance, display = await _add(w, channel, ukey, held.username, held.amount,
                                      Kind.CORRECTION)
        postings = await _post(w, [(uuid.uuid4().hex, channel, ukey, display, held.amount,
                                    balance, "refund", Kind.CORRECTION, None,
                                    reason or f"refund: {held.purpose}", None,
                                    {"escrow_id": held.id, "purpose": held.purpose})])
        column, counter = _effects(held.kind, -held.amount)
        if column is not None and counter is not None:
            n = held.amount
            await w.r.run(w.sql.reverse[column], (n, n, w.now_db, channel, ukey))
            day = w.sql.day(held.created_at.astimezone(w.tz).date())
            await w.r.run(w.sql.daily_reverse, (n, n, channel, ukey, day, counter))
        return await _store(w, channel, key, TxResult(True, tuple(postings), {ukey: balance},
                                                      escrow=held))
    return op


def _check_counter(counter: str, by: int) -> None:
    _check_text("counter", counter, 100)
    if isinstance(by, bool) or not isinstance(by, int):
        raise ValueError(f"counter increments must be int, not {by!r}")


def _bump_daily_op(channel: str, username: str, day: date, counter: str,
                  by: int = 1) -> Op[int]:
    _check_channel(channel)
    ukey, _ = _check_user(username)
    _check_counter(counter, by)

    async def op(w: _Work) -> int:
        found = await w.r.rows(w.sql.daily_one, (channel, ukey, w.sql.day(day), counter, by))
        return int(found[0][0])
    return op


def _bump_daily_many_op(channel: str, day: date, counter: str, usernames: Iterable[str],
                       by: int = 1) -> Op[None]:
    _check_channel(channel)
    _check_counter(counter, by)
    totals: dict[str, int] = {}
    for name in usernames:
        ukey, _ = _check_user(name)
        totals[ukey] = totals.get(ukey, 0) + by

    async def op(w: _Work) -> None:
        d = w.sql.day(day)
        await w.r.run_many(w.sql.daily, [(channel, k, d, counter, v) for k, v in totals.items()])
    return op


def _take_cap_op(channel: str, username: str, cap_key: str, max_count: int,
                window: timedelta | Literal["day"]) -> Op[bool]:
    _check_channel(channel)
    ukey, _ = _check_user(username)
    _check_text("cap key", cap_key, 200)
    if isinstance(max_count, bool) or not isinstance(max_count, int) or max_count < 1:
        raise ValueError("max_count must be an int >= 1")
    if window != "day" and (not isinstance(window, timedelta) or window <= timedelta(0)):
        raise ValueError("window must be a positive timedelta or 'day'")

    async def op(w: _Work) -> bool:
        where = (channel, ukey, cap_key)
        found = await w.r.rows(w.sql.cap_get, where)
        if not found:
            await w.r.run(w.sql.cap_new, (*where, w.now_db))
            return True
        count, start = int(found[0][0]), w.sql.read_ts(found[0][1])
        if window == "day":
            expired = start.astimezone(w.tz).date() != w.today
        else:
            expired = w.now - start >= window
        if expired:
            await w.r.run(w.sql.cap_reset, (w.now_db, *where))
            return True
        if count >= max_count:
            return False
        await w.r.run(w.sql.cap_inc, where)
        return True
    return op


def _return_cap_op(channel: str, username: str, cap_key: str) -> Op[None]:
    _check_channel(channel)
    ukey, _ = _check_user(username)

    async def op(w: _Work) -> None:
        await w.r.run(w.sql.cap_return, (channel, ukey, cap_key))
    return op


def _balance_op(channel: str, username: str) -> Op[int]:
    ukey, _ = _check_user(username)

    async def op(w: _Work) -> int:
        return await _balance_of(w, channel, ukey)
    return op


def _account_op(channel: str, username: str) -> Op[Account | None]:
    ukey, _ = _check_user(username)

    async def op(w: _Work) -> Account | None:
        found = await w.r.rows(w.sql.account, (channel, ukey))
        if not found:
            return None
        r = found[0]
        return Account(channel=r[0], user_key=r[1], username=r[2], balance=int(r[3]),
                       lifetime_earned=int(r[4]), lifetime_spent=int(r[5]),
                       gambled_in=int(r[6]), gambled_out=int(r[7]),
                       created_at=w.sql.read_ts(r[8]), updated_at=w.sql.read_ts(r[9]))
    return op


# -- the writer -------------------------------------------------------------------------------


@attrs.define(eq=False)
class _Job:
    op: Op[Any] | None  # a ledger operation, or
    fn: Callable[[LedgerTx], Awaitable[Any]] | None  # a plugin's atomic function
    source: str
    future: asyncio.Future[Any]
    postings: list[Posting] = attrs.field(factory=list)
    outcome: tuple[bool, Any] | None = None  # (ok, value or exception)


_STOP = object()


def _sync_job(db: sqlite3.Connection, op: Op[T], work: _Work, savepoint: bool) -> T:
    """Run one operation in the database thread, in its own savepoint when asked."""
    if not savepoint:
        return _drive(op(work))
    db.execute("SAVEPOINT ledger_job")
    try:
        value = _drive(op(work))
    except BaseException:
        db.execute("ROLLBACK TO SAVEPOINT ledger_job")
        db.execute("RELEASE SAVEPOINT ledger_job")
        raise
    db.execute("RELEASE SAVEPOINT ledger_job")
    return value


class _Shared:
    """What a ledger and all its per-source views share: engine, clock, writer."""

    def __init__(self, engine: AsyncEngine, clock: Clock, tz: tzinfo,
                 on_commit: Callable[[Sequence[Posting]], Awaitable[None]] | None,
                 max_batch: int) -> None:
        self.engine = engine
        self.clock = clock
        self.tz = tz
        self.on_commit = on_commit
        self.max_batch = max_batch
        self.sql = _Sql(engine.dialect.name)
        self.queue: asyncio.Queue[Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self.closing = False
        self.conn: AsyncConnection | None = None
        self.hop: _Hop | None = None
        self.batches = 0
        self.jobs = 0
        self.gate: EarnGate | None = None

    async def submit(self, op: Op[T] | None, fn: Callable[[LedgerTx], Awaitable[T]] | None,
                     source: str) -> T:
        if self.queue is None or self.task is None:
            raise LedgerError("the ledger is not started" if not self.closing
                              else "the ledger is closed")
        if self.closing:
            raise LedgerError("the ledger is closed")
        if asyncio.current_task() is self.task:
            raise LedgerError("a ledger write was awaited on the ledger's writer (from inside "
                              "atomic() or on_commit): use the LedgerTx, or hand off to a task")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(_Job(op, fn, source, future))
        return await future

    # -- the loop --

    async def run_writer(self) -> None:
        assert self.queue is not None
        queue = self.queue
        stop = False
        try:
            while not stop:
                first = await queue.get()
                if first is _STOP:
                    break
                batch: list[_Job] = [first]
                while len(batch) < self.max_batch:
                    try:
                        nxt = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        break
                    if nxt is _STOP:
                        stop = True
                        break
                    batch.append(nxt)
                await self._run_batch(batch)
        finally:
            self._fail_pending(LedgerError("the ledger is closed"))
            await self._drop_conn()

    def _fail_pending(self, exc: Exception) -> None:
        assert self.queue is not None
        while True:
            try:
                job = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if job is not _STOP and not job.future.done():
                job.future.set_exception(exc)

    async def _connection(self) -> tuple[AsyncConnection, _Hop | None]:
        if self.conn is None:
            conn = await self.engine.connect()
            try:
                self.hop = await _sqlite_hop(conn)
            except BaseException:
                await conn.close()
                raise
            self.conn = conn
        return self.conn, self.hop

    async def _drop_conn(self) -> None:
        conn, self.conn, self.hop = self.conn, None, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                log.exception("closing the ledger writer's connection failed")

    async def _run_batch(self, batch: list[_Job]) -> None:
        live = [job for job in batch if not job.future.done()]  # skip cancelled callers
        if not live:
            return
        now = self.clock.now()
        try:
            conn, hop = await self._connection()
            if hop is not None and all(job.op is not None for job in live):
                await hop.run(partial(self._sync_batch, hop.db, live, now))
            else:
                await self._async_batch(conn, hop, live, now)
        except BaseException as exc:
            # Nothing of this batch is committed: every caller gets the error.
            await self._drop_conn()
            err = exc if isinstance(exc, Exception) else LedgerError("ledger writer stopped")
            for job in live:
                if not job.future.done():
                    job.future.set_exception(err)
            if not isinstance(exc, Exception):
                raise
            log.error("ledger commit group of %d job(s) failed: %r", len(live), exc)
            return
        self.batches += 1
        self.jobs += len(live)
        for job in live:
            assert job.outcome is not None
            ok, value = job.outcome
            if not job.future.done():
                if ok:
                    job.future.set_result(value)
                else:
                    job.future.set_exception(value)
        if self.on_commit is None:
            return
        for job in live:
            if job.outcome is not None and job.outcome[0] and job.postings:
                try:
                    await self.on_commit(tuple(job.postings))
                except Exception:
                    log.exception("ledger on_commit failed (money is unaffected)")

    def _work(self, runner: _Runner, now: datetime, source: str) -> _Work:
        return _Work(runner, self.sql, now, self.tz, source)

    def _sync_batch(self, db: sqlite3.Connection, jobs: list[_Job], now: datetime) -> None:
        """A commit group of ledger operations, entirely inside SQLite's database thread."""
        single = len(jobs) == 1
        runner = _SqliteRunner(db)
        db.execute("BEGIN IMMEDIATE")
        try:
            for job in jobs:
                assert job.op is not None
                work = self._work(runner, now, job.source)
                try:
                    job.outcome = (True, _sync_job(db, job.op, work, savepoint=not single))
                    job.postings = work.postings
                except Exception as exc:
                    job.outcome = (False, exc)
            db.execute("ROLLBACK" if single and not jobs[0].outcome[0]  # type: ignore[index]
                       else "COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    async def _async_batch(self, conn: AsyncConnection, hop: _Hop | None, jobs: list[_Job],
                           now: datetime) -> None:
        single = len(jobs) == 1
        trans = await conn.begin()
        try:
            if self.sql.pg:
                # One ledger writer at a time per database, as SQLite's BEGIN IMMEDIATE gives:
                # two processes' commit groups can then never deadlock on each other's rows.
                await conn.exec_driver_sql("SELECT pg_advisory_xact_lock($1)", (_PG_LOCK,))
            for job in jobs:
                await self._async_job(conn, hop, job, now, savepoint=not single)
            if single and not jobs[0].outcome[0]:  # type: ignore[index]
                await trans.rollback()
            else:
                await trans.commit()
        except BaseException:
            if trans.is_active:
                await trans.rollback()
            raise

    async def _async_job(self, conn: AsyncConnection, hop: _Hop | None, job: _Job,
                         now: datetime, *, savepoint: bool) -> None:
        if job.op is not None and hop is not None:
            work = self._work(_SqliteRunner(hop.db), now, job.source)
            try:
                job.outcome = (True, await hop.run(partial(_sync_job, hop.db, job.op, work,
                                                           savepoint)))
                job.postings = work.postings
            except Exception as exc:
                job.outcome = (False, exc)
            return
        sp = await conn.begin_nested() if savepoint else None
        try:
            if job.op is not None:
                work = self._work(_ConnRunner(conn), now, job.source)
                value = await job.op(work)
                postings = work.postings
            else:
                assert job.fn is not None
                tx = LedgerTx(conn, self, job.source, now, hop)
                value = await job.fn(tx)
                postings = tx.postings
        except Exception as exc:
            if sp is not None:
                await sp.rollback()
            job.outcome = (False, exc)
            return
        if sp is not None:
            await sp.commit()
        job.outcome = (True, value)
        job.postings = postings


# -- operations inside one transaction --------------------------------------------------------


class LedgerTx:
    """Money moves inside one database transaction (see :meth:`Ledger.atomic`).

    ``conn`` is the transaction's connection, for the caller's own tables. Every method here has
    the semantics of the :class:`Ledger` method of the same name, but runs in this transaction:
    nothing is committed until the atomic function returns, and raising rolls it all back. Each
    method is all-or-nothing on its own too (a savepoint), so catching its error is safe.
    """

    def __init__(self, conn: AsyncConnection, shared: _Shared, source: str, now: datetime,
                 hop: _Hop | None) -> None:
        self.conn = conn
        self.source = source
        self.now = now
        """The instant stamped on this transaction's rows."""
        self.today = now.astimezone(shared.tz).date()
        """The ledger-local day of :attr:`now` (the day daily counters are booked on)."""
        self.postings: list[Posting] = []
        self._shared = shared
        self._hop = hop

    async def _do(self, op: Op[T]) -> T:
        shared, hop = self._shared, self._hop
        if hop is not None:
            work = shared._work(_SqliteRunner(hop.db), self.now, self.source)
            value: T = await hop.run(partial(_sync_job, hop.db, op, work, True))
        else:
            work = shared._work(_ConnRunner(self.conn), self.now, self.source)
            async with self.conn.begin_nested():
                value = await op(work)
        self.postings.extend(work.postings)
        return value

    async def credit(self, channel: str, username: str, amount: int, *, type: str = "earn",
                     kind: Kind = Kind.EARN, reason: str = "", trigger_id: str | None = None,
                     related_user: str | None = None, metadata: Mapping[str, Any] | None = None,
                     key: str | None = None) -> TxResult:
        if await _withheld_one(self._shared.gate, channel, username, type, kind):
            return TxResult(False, (), {user_key(username): await self.balance(channel, username)},
                            WITHHELD)
        return await self._do(_credit_op(
            channel, username, amount, type=type, kind=kind, reason=reason,
            trigger_id=trigger_id, related_user=related_user, metadata=metadata, key=key))

    async def debit(self, channel: str, username: str, amount: int, *, type: str = "spend",
                    kind: Kind = Kind.SPEND, reason: str = "", trigger_id: str | None = None,
                    related_user: str | None = None, metadata: Mapping[str, Any] | None = None,
                    key: str | None = None) -> TxResult:
        return await self._do(_debit_op(
            channel, username, amount, type=type, kind=kind, reason=reason,
            trigger_id=trigger_id, related_user=related_user, metadata=metadata, key=key))

    async def transfer(self, channel: str, sender: str, recipient: str, amount: int, *,
                       send_type: str = "tip_send", receive_type: str = "tip_receive",
                       kind: Kind = Kind.TRANSFER, reason: str = "",
                       metadata: Mapping[str, Any] | None = None,
                       key: str | None = None) -> TxResult:
        return await self._do(_transfer_op(
            channel, sender, recipient, amount, send_type=send_type, receive_type=receive_type,
            kind=kind, reason=reason, metadata=metadata, key=key))

    async def credit_many(self, channel: str, awards: Sequence[Award], *,
                          key: str | None = None) -> TxResult:
        kept = await _gated(self._shared.gate, channel, awards)
        if awards and not kept:
            return TxResult(True, (), {})
        return await self._do(_credit_many_op(channel, kept, key=key))

    async def escrow(self, channel: str, username: str, amount: int, *, purpose: str,
                     type: str = "escrow", kind: Kind = Kind.SPEND, reason: str = "",
                     metadata: Mapping[str, Any] | None = None,
                     key: str | None = None) -> TxResult:
        return await self._do(_escrow_op(
            channel, username, amount, purpose=purpose, type=type, kind=kind, reason=reason,
            metadata=metadata, key=key))

    async def release(self, escrow_id: int, *, payouts: Sequence[Award] = (), reason: str = "",
                      key: str | None = None) -> TxResult:
        return await self._do(_release_op(escrow_id, payouts=payouts, reason=reason, key=key))

    async def refund(self, escrow_id: int, *, reason: str = "",
                     key: str | None = None) -> TxResult:
        return await self._do(_refund_op(escrow_id, reason=reason, key=key))

    async def bump_daily(self, channel: str, username: str, day: date, counter: str,
                         by: int = 1) -> int:
        return await self._do(_bump_daily_op(channel, username, day, counter, by))

    async def bump_daily_many(self, channel: str, day: date, counter: str,
                              usernames: Sequence[str], by: int = 1) -> None:
        await self._do(_bump_daily_many_op(channel, day, counter, usernames, by))

    async def take_cap(self, channel: str, username: str, cap_key: str, max_count: int,
                       window: timedelta | Literal["day"]) -> bool:
        return await self._do(_take_cap_op(channel, username, cap_key, max_count, window))

    async def return_cap(self, channel: str, username: str, cap_key: str) -> None:
        await self._do(_return_cap_op(channel, username, cap_key))

    async def balance(self, channel: str, username: str) -> int:
        """The balance as this transaction sees it (0 without an account)."""
        return await self._do(_balance_op(channel, username))

    async def account(self, channel: str, username: str) -> Account | None:
        """The account as this transaction sees it."""
        return await self._do(_account_op(channel, username))


# -- the ledger -------------------------------------------------------------------------------


class Ledger:
    """The money store; see the module docstring for the guarantees. ``start()`` before use."""

    def __init__(self, engine: AsyncEngine, clock: Clock, *, tz: tzinfo = UTC,
                 source: str = "core",
                 on_commit: Callable[[Sequence[Posting]], Awaitable[None]] | None = None,
                 max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._shared = _Shared(engine, clock, tz, on_commit, max_batch)
        self.source = _check_text("source", source, 100)

    def for_source(self, source: str) -> Ledger:
        """A view sharing this ledger's writer that stamps ``source`` on its postings."""
        view = Ledger.__new__(Ledger)
        view._shared = self._shared
        view.source = _check_text("source", source, 100)
        return view

    @property
    def engine(self) -> AsyncEngine:
        return self._shared.engine

    @property
    def tz(self) -> tzinfo:
        return self._shared.tz

    def set_earn_gate(self, gate: EarnGate | None) -> None:
        """Install the gate consulted before earn-class credits (shared by every view)."""
        self._shared.gate = gate

    @property
    def stats(self) -> tuple[int, int]:
        """(committed groups, jobs in them) since creation: jobs/groups is the grouping."""
        return self._shared.batches, self._shared.jobs

    # -- life cycle --

    async def start(self) -> None:
        """Create or upgrade the ledger's tables and start the writer (idempotent)."""
        shared = self._shared
        if shared.task is not None:
            return
        await migrate(shared.engine, LEDGER_COMPONENT, ledger_metadata, LEDGER_SCHEMA_VERSION)
        shared.closing = False
        shared.queue = asyncio.Queue()
        shared.task = asyncio.create_task(shared.run_writer(), name="ledger-writer")

    async def close(self) -> None:
        """Stop taking writes, let every write already queued finish and its caller get its
        result, then stop the writer and release its connection. Reads keep working."""
        shared = self._shared
        if shared.task is None or shared.queue is None:
            return
        shared.closing = True
        shared.queue.put_nowait(_STOP)
        task, shared.task = shared.task, None
        await task

    # -- writes --

    async def atomic(self, fn: Callable[[LedgerTx], Awaitable[T]]) -> T:
        """Run ``fn`` with a :class:`LedgerTx` in one database transaction and return its
        result; if ``fn`` raises, everything it did rolls back and the exception propagates."""
        return await self._shared.submit(None, fn, self.source)

    async def _write(self, op: Op[T]) -> T:
        return await self._shared.submit(op, None, self.source)

    async def credit(self, channel: str, username: str, amount: int, *, type: str = "earn",
                     kind: Kind = Kind.EARN, reason: str = "", trigger_id: str | None = None,
                     related_user: str | None = None, metadata: Mapping[str, Any] | None = None,
                     key: str | None = None) -> TxResult:
        """Add ``amount`` to the user's account (created on first need). An earn-class credit
        the earn gate withholds writes nothing: ok=False, error "withheld"."""
        if await _withheld_one(self._shared.gate, channel, username, type, kind):
            return TxResult(False, (), {user_key(username): await self.balance(channel, username)},
                            WITHHELD)
        return await self._write(_credit_op(
            channel, username, amount, type=type, kind=kind, reason=reason,
            trigger_id=trigger_id, related_user=related_user, metadata=metadata, key=key))

    async def debit(self, channel: str, username: str, amount: int, *, type: str = "spend",
                    kind: Kind = Kind.SPEND, reason: str = "", trigger_id: str | None = None,
                    related_user: str | None = None, metadata: Mapping[str, Any] | None = None,
                    key: str | None = None) -> TxResult:
        """Debit-or-fail: ok=False "insufficient_funds" (nothing written) when short; the
        result's ``balance`` is then the current balance."""
        return await self._write(_debit_op(
            channel, username, amount, type=type, kind=kind, reason=reason,
            trigger_id=trigger_id, related_user=related_user, metadata=metadata, key=key))

    async def transfer(self, channel: str, sender: str, recipient: str, amount: int, *,
                       send_type: str = "tip_send", receive_type: str = "tip_receive",
                       kind: Kind = Kind.TRANSFER, reason: str = "",
                       metadata: Mapping[str, Any] | None = None,
                       key: str | None = None) -> TxResult:
        """Sender → recipient, both postings or neither (the sender's debit-or-fail decides);
        ValueError when they are the same user. Balances: sender first."""
        return await self._write(_transfer_op(
            channel, sender, recipient, amount, send_type=send_type, receive_type=receive_type,
            kind=kind, reason=reason, metadata=metadata, key=key))

    async def credit_many(self, channel: str, awards: Sequence[Award], *,
                          key: str | None = None) -> TxResult:
        """Credit many awards (a user may appear more than once) in one transaction, with bulk
        statements. Balances: each user once, in order of first appearance. Earn-class awards
        the earn gate withholds are left out (all withheld: nothing is written, ok=True)."""
        kept = await _gated(self._shared.gate, channel, awards)
        if awards and not kept:
            return TxResult(True, (), {})
        return await self._write(_credit_many_op(channel, kept, key=key))

    async def escrow(self, channel: str, username: str, amount: int, *, purpose: str,
                     type: str = "escrow", kind: Kind = Kind.SPEND, reason: str = "",
                     metadata: Mapping[str, Any] | None = None,
                     key: str | None = None) -> TxResult:
        """Debit-or-fail into a new open escrow (``result.escrow``)."""
        return await self._write(_escrow_op(
            channel, username, amount, purpose=purpose, type=type, kind=kind, reason=reason,
            metadata=metadata, key=key))

    async def release(self, escrow_id: int, *, payouts: Sequence[Award] = (), reason: str = "",
                      key: str | None = None) -> TxResult:
        """Claim an open escrow as released (``WHERE status='open'``), then credit ``payouts``
        in its channel, in one transaction. Not open → ok=False "escrow_closed"; no such id →
        "unknown_escrow"; nothing moves then."""
        return await self._write(_release_op(escrow_id, payouts=payouts, reason=reason, key=key))

    async def refund(self, escrow_id: int, *, reason: str = "",
                     key: str | None = None) -> TxResult:
        """Claim an open escrow as refunded and give its amount back (type "refund", kind
        CORRECTION), reversing the escrow's counter (floor 0)."""
        return await self._write(_refund_op(escrow_id, reason=reason, key=key))

    async def bump_daily(self, channel: str, username: str, day: date, counter: str,
                         by: int = 1) -> int:
        """Add ``by`` to a user's daily counter (created at 0); returns the new value."""
        return await self._write(_bump_daily_op(channel, username, day, counter, by))

    async def bump_daily_many(self, channel: str, day: date, counter: str,
                              usernames: Sequence[str], by: int = 1) -> None:
        """Add ``by`` to one daily counter of many users, in one transaction (a name listed
        twice counts twice)."""
        await self._write(_bump_daily_many_op(channel, day, counter, usernames, by))

    async def take_cap(self, channel: str, username: str, cap_key: str, max_count: int,
                       window: timedelta | Literal["day"]) -> bool:
        """Use one slot of a cap, atomically (SPEC §2.3): no counter or an expired window →
        (1, now), allowed; ``count >= max_count`` → refused; else count + 1, allowed.
        ``window="day"`` expires when the ledger-local day changes."""
        return await self._write(_take_cap_op(channel, username, cap_key, max_count, window))

    async def return_cap(self, channel: str, username: str, cap_key: str) -> None:
        """Give one use of a cap back (count − 1, floor 0), e.g. after a refund."""
        await self._write(_return_cap_op(channel, username, cap_key))

    # -- reads --

    async def _read(self, stmt: sa.Executable) -> sa.CursorResult[Any]:
        async with self._shared.engine.connect() as conn:
            conn = await conn.execution_options(sqlite_begin="DEFERRED")
            return await conn.execute(stmt)  # async results are fully buffered

    async def balance(self, channel: str, username: str) -> int:
        """The committed balance (0 without an account)."""
        result = await self._read(sa.select(accounts.c.balance).where(
            accounts.c.channel == channel, accounts.c.user_key == _check_user(username)[0]))
        found = result.scalar_one_or_none()
        return 0 if found is None else int(found)

    async def account(self, channel: str, username: str) -> Account | None:
        """The account, or None when the user never had one in this channel."""
        result = await self._read(sa.select(accounts).where(
            accounts.c.channel == channel, accounts.c.user_key == _check_user(username)[0]))
        row = result.first()
        return None if row is None else _account(row)

    async def account_count(self, channel: str | None = None) -> int:
        """How many accounts exist (in one channel, or in all)."""
        stmt = sa.select(sa.func.count()).select_from(accounts)
        if channel is not None:
            stmt = stmt.where(accounts.c.channel == channel)
        return int((await self._read(stmt)).scalar_one())

    async def history(self, channel: str, username: str, limit: int = 10) -> list[Posting]:
        """The user's postings, newest first."""
        result = await self._read(
            sa.select(transactions).where(transactions.c.channel == channel,
                                          transactions.c.user_key == _check_user(username)[0])
            .order_by(transactions.c.id.desc()).limit(limit))
        return [_posting(row) for row in result]

    async def postings(self, tx_id: str) -> list[Posting]:
        """Every posting of one ledger operation, in order."""
        result = await self._read(sa.select(transactions).where(transactions.c.tx_id == tx_id)
                                  .order_by(transactions.c.id))
        return [_posting(row) for row in result]

    async def top(self, channel: str, limit: int = 10,
                  by: Literal["balance", "lifetime_earned"] = "balance") -> list[Account]:
        """Accounts with the highest ``by`` (ties by user key)."""
        if by not in ("balance", "lifetime_earned"):
            raise ValueError("top() orders by 'balance' or 'lifetime_earned'")
        column = accounts.c[by]
        result = await self._read(sa.select(accounts).where(accounts.c.channel == channel)
                                  .order_by(column.desc(), accounts.c.user_key).limit(limit))
        return [_account(row) for row in result]

    async def holders(self, channel: str, minimum: int) -> list[Holder]:
        """Every account of the channel with ``balance >= minimum``, ordered by user key, as
        lean (key, name, balance) records (for jobs that go over all holders, such as a nightly
        balance rule: 100,000 of them read in a fraction of a second)."""
        result = await self._read(
            sa.select(accounts.c.user_key, accounts.c.username, accounts.c.balance).where(
                accounts.c.channel == channel, accounts.c.balance >= minimum)
            .order_by(accounts.c.user_key))
        return [Holder(row.user_key, row.username, int(row.balance)) for row in result]

    async def circulation(self, channel: str) -> int:
        """Σ balances in the channel."""
        result = await self._read(sa.select(sa.func.coalesce(sa.func.sum(accounts.c.balance), 0))
                                  .where(accounts.c.channel == channel))
        return int(result.scalar_one())

    async def open_escrows(self, channel: str | None = None,
                           purpose: str | None = None) -> list[Escrow]:
        """Escrows still open (oldest first), optionally of one channel and/or purpose."""
        stmt = sa.select(escrows).where(escrows.c.status == "open")
        if channel is not None:
            stmt = stmt.where(escrows.c.channel == channel)
        if purpose is not None:
            stmt = stmt.where(escrows.c.purpose == purpose)
        result = await self._read(stmt.order_by(escrows.c.id))
        return [_escrow(row) for row in result]

    async def escrow_by_id(self, escrow_id: int) -> Escrow | None:
        """One escrow in any state, or None."""
        row = (await self._read(sa.select(escrows).where(escrows.c.id == escrow_id))).first()
        return None if row is None else _escrow(row)

    async def daily(self, channel: str, username: str, day: date) -> dict[str, int]:
        """Every daily counter of the user on ``day`` (counter → value)."""
        result = await self._read(
            sa.select(daily_counters.c.counter, daily_counters.c.value).where(
                daily_counters.c.channel == channel,
                daily_counters.c.user_key == _check_user(username)[0],
                daily_counters.c.day == day))
        return {row.counter: int(row.value) for row in result}

    async def daily_many(self, channel: str, day: date, counter: str,
                         usernames: Sequence[str]) -> dict[str, int]:
        """One daily counter of many users: user key → value (users without one are absent)."""
        keys = list(dict.fromkeys(_check_user(n)[0] for n in usernames))
        found: dict[str, int] = {}
        for part in _chunks(keys):
            result = await self._read(
                sa.select(daily_counters.c.user_key, daily_counters.c.value).where(
                    daily_counters.c.channel == channel, daily_counters.c.day == day,
                    daily_counters.c.counter == counter, daily_counters.c.user_key.in_(part)))
            found.update({row.user_key: int(row.value) for row in result})
        return found

    async def top_daily(self, channel: str, day: date, counter: str,
                        limit: int = 10) -> list[tuple[str, int]]:
        """(display name, value) of the highest values of one daily counter on ``day``."""
        d = daily_counters
        result = await self._read(
            sa.select(sa.func.coalesce(accounts.c.username, d.c.user_key).label("name"),
                      d.c.value)
            .select_from(d.outerjoin(accounts, sa.and_(accounts.c.channel == d.c.channel,
                                                       accounts.c.user_key == d.c.user_key)))
            .where(d.c.channel == channel, d.c.day == day, d.c.counter == counter)
            .order_by(d.c.value.desc(), d.c.user_key).limit(limit))
        return [(row.name, int(row.value)) for row in result]

    async def cap_state(self, channel: str, username: str, cap_key: str) -> CapState | None:
        """A cap's stored counter (an expired window is reported as stored)."""
        row = (await self._read(sa.select(caps.c.count, caps.c.window_start).where(
            caps.c.channel == channel, caps.c.user_key == _check_user(username)[0],
            caps.c.cap_key == cap_key))).first()
        if row is None:
            return None
        return CapState(int(row._mapping["count"]), row._mapping["window_start"])

    async def verify(self, channel: str | None = None) -> list[Mismatch]:
        """Accounts whose balance differs from Σ of their postings, or is negative (postings of
        users without an account count as an account with balance 0). Empty = all is well."""
        sums = sa.select(transactions.c.channel, transactions.c.user_key,
                         sa.func.sum(transactions.c.amount).label("total"))
        bals = sa.select(accounts.c.channel, accounts.c.user_key, accounts.c.balance)
        if channel is not None:
            sums = sums.where(transactions.c.channel == channel)
            bals = bals.where(accounts.c.channel == channel)
        async with self._shared.engine.connect() as conn:
            conn = await conn.execution_options(sqlite_begin="DEFERRED")
            totals = {(r.channel, r.user_key): int(r.total) for r in await conn.execute(
                sums.group_by(transactions.c.channel, transactions.c.user_key))}
            balances = {(r.channel, r.user_key): int(r.balance)
                        for r in await conn.execute(bals)}
        out = []
        for k in sorted(set(totals) | set(balances)):
            balance, total = balances.get(k, 0), totals.get(k, 0)
            if balance != total or balance < 0:
                out.append(Mismatch(k[0], k[1], balance, total))
        return out
