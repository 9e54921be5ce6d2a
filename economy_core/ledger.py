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
  refund of an escrow, which reverses the escrow's own counter (floor 0), daily counter included
  (on the day the escrow was taken). Other kind/sign pairs count nothing.
- **Idempotency.** A write given ``key`` stores its result under ``(channel, key)`` in the same
  transaction; a second write with that key returns the stored result with ``replayed=True`` and
  moves nothing. A failed write (``ok=False`` or an exception) stores nothing.
- **Escrow.** ``escrow`` debits-or-fails and opens an escrow row; ``release`` and ``refund`` first
  claim it with ``UPDATE ... WHERE status='open'`` and only then move money, in one transaction,
  so of two racing resolutions exactly one wins and the other gets "escrow_closed". Open escrows
  survive restarts (they are rows), so a starting plugin can refund or resolve them.
- **Group commit.** Writes go to one writer task. It takes up to ``max_batch`` waiting jobs, runs
  each in its own SAVEPOINT inside one database transaction (a job that raises rolls back only
  itself and gets its exception), commits once, then resolves every caller and then calls
  ``on_commit(postings)`` once per job that posted something (errors there are logged and never
  affect money). A lone job runs at once and without a savepoint (its transaction is its own).
  ``on_commit`` runs on the writer task: it must not await ledger writes (doing so raises
  :class:`LedgerError` instead of deadlocking); hand work to a queue instead.
- **Atomic plugin work.** :meth:`Ledger.atomic` runs a plugin function and its money moves in one
  transaction through a :class:`LedgerTx`; raising rolls everything back.

Amounts are ``int`` (not ``bool``) in ``1 .. MAX_AMOUNT``; anything else raises ValueError before
the database is touched. Users are identified by :func:`~economy_core.events.user_key`; the
display name kept on an account is the casing first seen. Timestamps come from the injected clock;
days (daily counters) are the clock's instant in the ledger's time zone.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Literal, TypeVar, cast

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
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

_IN_CHUNK = 500  # keys per IN (...) list


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
    sa.Column("balance", _Money, nullable=False, default=0),
    sa.Column("lifetime_earned", _Money, nullable=False, default=0),
    sa.Column("lifetime_spent", _Money, nullable=False, default=0),
    sa.Column("gambled_in", _Money, nullable=False, default=0),
    sa.Column("gambled_out", _Money, nullable=False, default=0),
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
    sa.Column("reason", sa.Text, nullable=False, default=""),
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
    sa.Column("reason", sa.Text, nullable=False, default=""),
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
    if not isinstance(username, str):
        raise ValueError(f"username must be a str, not {type(username).__name__}")
    key = user_key(username)
    if not key:
        raise ValueError("username must not be empty")
    if len(key) > 100:
        raise ValueError("username is longer than 100 characters")
    return key, username.strip()


def _check_type(type_: str) -> str:
    if not isinstance(type_, str) or not type_ or len(type_) > 50:
        raise ValueError(f"posting type must be a non-empty str of at most 50 chars: {type_!r}")
    return type_


def _check_key(key: str | None) -> str | None:
    if key is not None and (not isinstance(key, str) or not key or len(key) > 200):
        raise ValueError("idempotency key must be a non-empty str of at most 200 chars")
    return key


def _effects(kind: Kind, amount: int) -> tuple[str | None, str | None]:
    """(account counter column, daily counter) moved by a posting of signed ``amount``."""
    if kind is Kind.EARN and amount > 0:
        return "lifetime_earned", "z_earned"
    if kind is Kind.SPEND and amount < 0:
        return "lifetime_spent", "z_spent"
    if kind is Kind.GAMBLE:
        return ("gambled_in", "z_gambled_in") if amount < 0 else ("gambled_out", "z_gambled_out")
    return None, None


_COUNTER_COLUMNS = ("lifetime_earned", "lifetime_spent", "gambled_in", "gambled_out")


def _deltas(kind: Kind, amount: int) -> dict[str, int]:
    column, _ = _effects(kind, amount)
    return {c: (abs(amount) if c == column else 0) for c in _COUNTER_COLUMNS}


def _floor0(column: sa.ColumnElement[int], by: Any) -> sa.ColumnElement[int]:
    return sa.case((column - by < 0, 0), else_=column - by)


def _chunks(items: Sequence[T], size: int = _IN_CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


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


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


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
             "metadata": p.metadata, "at": _when(p.at)}
            for p in result.postings],
        "escrow": None if escrow is None else {
            "id": escrow.id, "channel": escrow.channel, "user_key": escrow.user_key,
            "username": escrow.username, "amount": escrow.amount, "purpose": escrow.purpose,
            "source": escrow.source, "status": escrow.status, "type": escrow.type,
            "kind": escrow.kind.value, "created_at": _when(escrow.created_at),
            "resolved_at": _when(escrow.resolved_at), "metadata": escrow.metadata},
    }


def _result_from_json(data: Mapping[str, Any]) -> TxResult:
    postings = tuple(
        Posting(id=p["id"], tx_id=p["tx_id"], channel=p["channel"], user_key=p["user_key"],
                username=p["username"], amount=p["amount"], balance_after=p["balance_after"],
                type=p["type"], kind=Kind(p["kind"]), source=p["source"],
                trigger_id=p["trigger_id"], reason=p["reason"], related_user=p["related_user"],
                metadata=dict(p["metadata"]), at=cast(datetime, _parse_when(p["at"])))
        for p in data["postings"])
    e = data.get("escrow")
    escrow = None if e is None else Escrow(
        id=e["id"], channel=e["channel"], user_key=e["user_key"], username=e["username"],
        amount=e["amount"], purpose=e["purpose"], source=e["source"], status=e["status"],
        type=e["type"], kind=Kind(e["kind"]),
        created_at=cast(datetime, _parse_when(e["created_at"])),
        resolved_at=_parse_when(e["resolved_at"]), metadata=dict(e["metadata"]))
    return TxResult(ok=bool(data["ok"]), postings=postings,
                    balances={k: int(v) for k, v in data["balances"]}, error=data["error"],
                    replayed=True, escrow=escrow)


# -- statements, built once per dialect -------------------------------------------------------


@attrs.frozen
class _Statements:
    credit_account: Any
    credit_account_many: Any
    debit_account: Any
    daily_upsert: Any
    daily_upsert_many: Any


def _statements(dialect: str) -> _Statements:
    insert = pg_dialect.insert if dialect == "postgresql" else sqlite_dialect.insert
    acc = insert(accounts)
    credit = acc.on_conflict_do_update(
        index_elements=[accounts.c.channel, accounts.c.user_key],
        set_={
            "balance": accounts.c.balance + acc.excluded.balance,
            "lifetime_earned": accounts.c.lifetime_earned + acc.excluded.lifetime_earned,
            "lifetime_spent": accounts.c.lifetime_spent + acc.excluded.lifetime_spent,
            "gambled_in": accounts.c.gambled_in + acc.excluded.gambled_in,
            "gambled_out": accounts.c.gambled_out + acc.excluded.gambled_out,
            "updated_at": acc.excluded.updated_at,
        })
    amount = sa.bindparam("b_amount", type_=sa.BigInteger)
    debit = (accounts.update()
             .where(accounts.c.channel == sa.bindparam("b_channel"),
                    accounts.c.user_key == sa.bindparam("b_key"),
                    accounts.c.balance >= amount)
             .values(balance=accounts.c.balance - amount,
                     lifetime_earned=accounts.c.lifetime_earned + sa.bindparam("b_earned"),
                     lifetime_spent=accounts.c.lifetime_spent + sa.bindparam("b_spent"),
                     gambled_in=accounts.c.gambled_in + sa.bindparam("b_gin"),
                     gambled_out=accounts.c.gambled_out + sa.bindparam("b_gout"),
                     updated_at=sa.bindparam("b_now", type_=UtcDateTime))
             .returning(accounts.c.balance, accounts.c.username))
    d = insert(daily_counters)
    daily = d.on_conflict_do_update(
        index_elements=[daily_counters.c.channel, daily_counters.c.user_key,
                        daily_counters.c.day, daily_counters.c.counter],
        set_={"value": daily_counters.c.value + d.excluded.value})
    return _Statements(
        credit_account=credit.returning(accounts.c.balance, accounts.c.username),
        credit_account_many=credit,
        debit_account=debit,
        daily_upsert=daily.returning(daily_counters.c.value),
        daily_upsert_many=daily,
    )


# -- the writer -------------------------------------------------------------------------------


@attrs.define(eq=False)
class _Job:
    fn: Callable[[LedgerTx], Awaitable[Any]]
    source: str
    future: asyncio.Future[Any]
    postings: list[Posting] = attrs.field(factory=list)
    outcome: tuple[bool, Any] | None = None  # (ok, value or exception)


_STOP = object()


class _Shared:
    """What a ledger and all its per-source views share: engine, clock, writer queue."""

    def __init__(self, engine: AsyncEngine, clock: Clock, tz: tzinfo,
                 on_commit: Callable[[Sequence[Posting]], Awaitable[None]] | None,
                 max_batch: int) -> None:
        self.engine = engine
        self.clock = clock
        self.tz = tz
        self.on_commit = on_commit
        self.max_batch = max_batch
        self.dialect = engine.dialect.name
        self.stmts = _statements(self.dialect)
        self.queue: asyncio.Queue[Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self.closing = False
        self.batches = 0
        self.jobs = 0

    def today(self, now: datetime) -> date:
        return now.astimezone(self.tz).date()

    async def submit(self, fn: Callable[[LedgerTx], Awaitable[T]], source: str) -> T:
        if self.queue is None or self.task is None:
            raise LedgerError("the ledger is not started")
        if self.closing:
            raise LedgerError("the ledger is closed")
        if asyncio.current_task() is self.task:
            raise LedgerError("a ledger write was awaited on the ledger's writer (from inside "
                              "atomic() or on_commit): use the LedgerTx, or hand off to a task")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(_Job(fn, source, future))
        return await future

    async def run_writer(self) -> None:
        assert self.queue is not None
        queue = self.queue
        stop = False
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
            try:
                await self._run_batch(batch)
            except BaseException as exc:  # the writer must never leave a caller hanging
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc if isinstance(exc, Exception)
                                                 else LedgerError("ledger writer stopped"))
                if not isinstance(exc, Exception):
                    raise
        self._fail_pending(LedgerError("the ledger is closed"))

    def _fail_pending(self, exc: Exception) -> None:
        assert self.queue is not None
        while True:
            try:
                job = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if job is not _STOP and not job.future.done():
                job.future.set_exception(exc)

    async def _run_batch(self, batch: list[_Job]) -> None:
        live = [job for job in batch if not job.future.done()]  # skip cancelled callers
        if not live:
            return
        single = len(live) == 1
        async with self.engine.connect() as conn:
            trans = await conn.begin()
            try:
                for job in live:
                    await self._run_job(conn, job, savepoint=not single)
                if single and live[0].outcome is not None and not live[0].outcome[0]:
                    await trans.rollback()
                else:
                    await trans.commit()
            except BaseException:
                if trans.is_active:
                    await trans.rollback()
                raise
        self.batches += 1
        self.jobs += len(live)
        for job in live:
            assert job.outcome is not None
            ok, value = job.outcome
            if job.future.done():
                continue
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

    async def _run_job(self, conn: AsyncConnection, job: _Job, *, savepoint: bool) -> None:
        tx = LedgerTx(conn, self, job.source)
        if not savepoint:
            try:
                job.outcome = (True, await job.fn(tx))
                job.postings = tx.postings
            except Exception as exc:
                job.outcome = (False, exc)
            return
        sp = await conn.begin_nested()
        try:
            value = await job.fn(tx)
        except Exception as exc:
            await sp.rollback()
            job.outcome = (False, exc)
            return
        await sp.commit()
        job.outcome = (True, value)
        job.postings = tx.postings


# -- operations inside one transaction --------------------------------------------------------


class LedgerTx:
    """Money moves inside one database transaction (see :meth:`Ledger.atomic`).

    ``conn`` is the transaction's connection, for the caller's own tables. Every method here has
    the semantics of the :class:`Ledger` method of the same name, but runs in this transaction:
    nothing is committed until the atomic function returns, and raising rolls it all back.
    """

    def __init__(self, conn: AsyncConnection, shared: _Shared, source: str) -> None:
        self.conn = conn
        self._shared = shared
        self._stmts = shared.stmts
        self.source = source
        self.postings: list[Posting] = []
        self._now: datetime | None = None

    @property
    def now(self) -> datetime:
        """The instant stamped on this transaction's rows (taken once, from the clock)."""
        if self._now is None:
            self._now = self._shared.clock.now()
        return self._now

    @property
    def today(self) -> date:
        """The ledger-local day of :attr:`now` (the day daily counters are booked on)."""
        return self._shared.today(self.now)

    # -- idempotency --

    async def _replay(self, channel: str, key: str | None) -> TxResult | None:
        if key is None:
            return None
        row = await self.conn.execute(sa.select(idempotency.c.result).where(
            idempotency.c.channel == channel, idempotency.c.key == key))
        stored = row.scalar_one_or_none()
        return None if stored is None else _result_from_json(stored)

    async def _store(self, channel: str, key: str | None, result: TxResult) -> TxResult:
        if key is not None and result.ok:
            await self.conn.execute(idempotency.insert().values(
                channel=channel, key=key, result=_result_to_json(result), at=self.now))
        return result

    # -- primitives --

    async def _post(self, rows: list[dict[str, Any]]) -> list[Posting]:
        """Insert posting rows (all of one tx_id); return them as Postings, in order."""
        if len(rows) == 1:
            result = await self.conn.execute(
                transactions.insert().returning(transactions.c.id), rows[0])
            ids = [int(result.scalar_one())]
        else:
            await self.conn.execute(transactions.insert(), rows)
            found = await self.conn.execute(
                sa.select(transactions.c.id).where(transactions.c.tx_id == rows[0]["tx_id"])
                .order_by(transactions.c.id))
            ids = [int(i) for i in found.scalars()][-len(rows):]
        postings = [
            Posting(id=i, tx_id=r["tx_id"], channel=r["channel"], user_key=r["user_key"],
                    username=r["username"], amount=r["amount"], balance_after=r["balance_after"],
                    type=r["type"], kind=Kind(r["kind"]), source=r["source"],
                    trigger_id=r["trigger_id"], reason=r["reason"],
                    related_user=r["related_user"], metadata=r["meta"], at=r["at"])
            for i, r in zip(ids, rows, strict=True)]
        self.postings.extend(postings)
        return postings

    def _row(self, tx_id: str, channel: str, key: str, username: str, amount: int,
             balance_after: int, type_: str, kind: Kind, trigger_id: str | None, reason: str,
             related_user: str | None, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
        return {"tx_id": tx_id, "channel": channel, "user_key": key, "username": username,
                "amount": amount, "balance_after": balance_after, "type": type_,
                "kind": kind.value, "source": self.source, "trigger_id": trigger_id,
                "reason": reason, "related_user": related_user, "meta": dict(metadata or {}),
                "at": self.now}

    async def _add(self, channel: str, key: str, username: str, amount: int,
                   kind: Kind) -> tuple[int, str]:
        """Credit an account (created on first need); returns (balance after, display name)."""
        now = self.now
        params = {"channel": channel, "user_key": key, "username": username, "balance": amount,
                  "created_at": now, "updated_at": now, **_deltas(kind, amount)}
        row = (await self.conn.execute(self._stmts.credit_account, params)).one()
        return int(row.balance), row.username

    async def _take(self, channel: str, key: str, amount: int,
                    kind: Kind) -> tuple[int, str] | None:
        """Debit-or-fail; returns (balance after, display name), or None when short of money."""
        deltas = _deltas(kind, -amount)
        row = (await self.conn.execute(self._stmts.debit_account, {
            "b_channel": channel, "b_key": key, "b_amount": amount,
            "b_earned": deltas["lifetime_earned"], "b_spent": deltas["lifetime_spent"],
            "b_gin": deltas["gambled_in"], "b_gout": deltas["gambled_out"],
            "b_now": self.now})).first()
        return None if row is None else (int(row.balance), row.username)

    async def _count(self, channel: str, key: str, kind: Kind, amount: int) -> None:
        _, counter = _effects(kind, amount)
        if counter is not None:
            await self.conn.execute(self._stmts.daily_upsert_many, {
                "channel": channel, "user_key": key, "day": self.today, "counter": counter,
                "value": abs(amount)})

    async def _balance_of(self, channel: str, key: str) -> int:
        row = await self.conn.execute(sa.select(accounts.c.balance).where(
            accounts.c.channel == channel, accounts.c.user_key == key))
        found = row.scalar_one_or_none()
        return 0 if found is None else int(found)

    # -- writes --

    async def credit(self, channel: str, username: str, amount: int, *, type: str = "earn",
                     kind: Kind = Kind.EARN, reason: str = "", trigger_id: str | None = None,
                     related_user: str | None = None, metadata: Mapping[str, Any] | None = None,
                     key: str | None = None) -> TxResult:
        """Add ``amount`` to the user's account (created on first need)."""
        check_amount(amount)
        ukey, name = _check_user(username)
        kind, type, key = Kind(kind), _check_type(type), _check_key(key)
        replay = await self._replay(channel, key)
        if replay is not None:
            return replay
        balance, display = await self._add(channel, ukey, name, amount, kind)
        postings = await self._post([self._row(
            uuid.uuid4().hex, channel, ukey, display, amount, balance, type, kind, trigger_id,
            reason, related_user, metadata)])
        await self._count(channel, ukey, kind, amount)
        return await self._store(channel, key, TxResult(True, tuple(postings), {ukey: balance}))

    async def debit(self, channel: str, username: str, amount: int, *, type: str = "spend",
                    kind: Kind = Kind.SPEND, reason: str = "", trigger_id: str | None = None,
                    related_user: str | None = None, metadata: Mapping[str, Any] | None = None,
                    key: str | None = None) -> TxResult:
        """Take ``amount`` if the balance covers it, else ok=False "insufficient_funds" and
        nothing written (``balance`` is then the current balance)."""
        check_amount(amount)
        ukey, _ = _check_user(username)
        kind, type, key = Kind(kind), _check_type(type), _check_key(key)
        replay = await self._replay(channel, key)
        if replay is not None:
            return replay
        taken = await self._take(channel, ukey, amount, kind)
        if taken is None:
            current = await self._balance_of(channel, ukey)
            return TxResult(False, (), {ukey: current}, INSUFFICIENT_FUNDS)
        balance, display = taken
        postings = await self._post([self._row(
            uuid.uuid4().hex, channel, ukey, display, -amount, balance, type, kind, trigger_id,
            reason, related_user, metadata)])
        await self._count(channel, ukey, kind, -amount)
        return await self._store(channel, key, TxResult(True, tuple(postings), {ukey: balance}))

    async def transfer(self, channel: str, sender: str, recipient: str, amount: int, *,
                       send_type: str = "tip_send", receive_type: str = "tip_receive",
                       kind: Kind = Kind.TRANSFER, reason: str = "",
                       metadata: Mapping[str, Any] | None = None,
                       key: str | None = None) -> TxResult:
        """Move ``amount`` from sender to recipient (both postings or neither). Balances in the
        result: sender first, then recipient."""
        check_amount(amount)
        skey, _ = _check_user(sender)
        rkey, rname = _check_user(recipient)
        if skey == rkey:
            raise ValueError("sender and recipient are the same user")
        kind, key = Kind(kind), _check_key(key)
        _check_type(send_type)
        _check_type(receive_type)
        replay = await self._replay(channel, key)
        if replay is not None:
            return replay
        taken = await self._take(channel, skey, amount, kind)
        if taken is None:
            current = await self._balance_of(channel, skey)
            return TxResult(False, (), {skey: current}, INSUFFICIENT_FUNDS)
        sbal, sdisplay = taken
        rbal, rdisplay = await self._add(channel, rkey, rname, amount, kind)
        tx_id = uuid.uuid4().hex
        postings = await self._post([
            self._row(tx_id, channel, skey, sdisplay, -amount, sbal, send_type, kind, None,
                      reason, rdisplay, metadata),
            self._row(tx_id, channel, rkey, rdisplay, amount, rbal, receive_type, kind, None,
                      reason, sdisplay, metadata)])
        await self._count(channel, skey, kind, -amount)
        await self._count(channel, rkey, kind, amount)
        return await self._store(channel, key, TxResult(True, tuple(postings),
                                                        {skey: sbal, rkey: rbal}))

    async def credit_many(self, channel: str, awards: Sequence[Award], *,
                          key: str | None = None) -> TxResult:
        """Credit every award (several may name the same user) with bulk statements."""
        checked = self._check_awards(awards)
        key = _check_key(key)
        replay = await self._replay(channel, key)
        if replay is not None:
            return replay
        postings, balances = await self._credit_awards(channel, checked, uuid.uuid4().hex, {})
        return await self._store(channel, key, TxResult(True, tuple(postings), balances))

    @staticmethod
    def _check_awards(awards: Sequence[Award]) -> list[tuple[Award, str, str, Kind]]:
        checked = []
        for award in awards:
            check_amount(award.amount)
            ukey, name = _check_user(award.username)
            _check_type(award.type)
            checked.append((award, ukey, name, Kind(award.kind)))
        return checked

    async def _credit_awards(self, channel: str, checked: list[tuple[Award, str, str, Kind]],
                             tx_id: str, extra_meta: Mapping[str, Any]
                             ) -> tuple[list[Posting], dict[str, int]]:
        if not checked:
            return [], {}
        now, today = self.now, self.today
        per_user: dict[str, dict[str, Any]] = {}
        per_counter: dict[tuple[str, str], int] = {}
        for award, ukey, name, kind in checked:
            entry = per_user.get(ukey)
            if entry is None:
                entry = per_user[ukey] = {
                    "channel": channel, "user_key": ukey, "username": name, "balance": 0,
                    "lifetime_earned": 0, "lifetime_spent": 0, "gambled_in": 0,
                    "gambled_out": 0, "created_at": now, "updated_at": now}
            entry["balance"] += award.amount
            column, counter = _effects(kind, award.amount)
            if column is not None:
                entry[column] += award.amount
            if counter is not None:
                per_counter[(ukey, counter)] = per_counter.get((ukey, counter), 0) + award.amount
        await self.conn.execute(self._stmts.credit_account_many, list(per_user.values()))
        finals: dict[str, tuple[int, str]] = {}
        keys = list(per_user)
        for part in _chunks(keys):
            found = await self.conn.execute(
                sa.select(accounts.c.user_key, accounts.c.balance, accounts.c.username)
                .where(accounts.c.channel == channel, accounts.c.user_key.in_(part)))
            for row in found:
                finals[row.user_key] = (int(row.balance), row.username)
        running = {k: finals[k][0] - per_user[k]["balance"] for k in keys}
        rows = []
        for award, ukey, _, kind in checked:
            running[ukey] += award.amount
            meta = dict(award.metadata)
            meta.update(extra_meta)
            rows.append(self._row(tx_id, channel, ukey, finals[ukey][1], award.amount,
                                  running[ukey], award.type, kind, award.trigger_id,
                                  award.reason, award.related_user, meta))
        postings = await self._post(rows)
        if per_counter:
            await self.conn.execute(self._stmts.daily_upsert_many, [
                {"channel": channel, "user_key": k, "day": today, "counter": c, "value": v}
                for (k, c), v in per_counter.items()])
        return postings, {k: finals[k][0] for k in keys}

    async def escrow(self, channel: str, username: str, amount: int, *, purpose: str,
                     type: str = "escrow", kind: Kind = Kind.SPEND, reason: str = "",
                     metadata: Mapping[str, Any] | None = None,
                     key: str | None = None) -> TxResult:
        """Debit-or-fail ``amount`` into a new open escrow (``result.escrow``)."""
        check_amount(amount)
        ukey, _ = _check_user(username)
        kind, type, key = Kind(kind), _check_type(type), _check_key(key)
        if not isinstance(purpose, str) or not purpose or len(purpose) > 100:
            raise ValueError("escrow purpose must be a non-empty str of at most 100 chars")
        replay = await self._replay(channel, key)
        if replay is not None:
            return replay
        taken = await self._take(channel, ukey, amount, kind)
        if taken is None:
            current = await self._balance_of(channel, ukey)
            return TxResult(False, (), {ukey: current}, INSUFFICIENT_FUNDS)
        balance, display = taken
        meta = dict(metadata or {})
        row = (await self.conn.execute(escrows.insert().returning(*escrows.c).values(
            channel=channel, user_key=ukey, username=display, amount=amount, purpose=purpose,
            source=self.source, status="open", type=type, kind=kind.value, reason=reason,
            created_at=self.now, resolved_at=None, meta=meta))).one()
        held = _escrow(row)
        postings = await self._post([self._row(
            uuid.uuid4().hex, channel, ukey, display, -amount, balance, type, kind, None, reason,
            None, {**meta, "escrow_id": held.id, "purpose": purpose})])
        await self._count(channel, ukey, kind, -amount)
        return await self._store(channel, key, TxResult(True, tuple(postings), {ukey: balance},
                                                        escrow=held))

    async def _claim(self, escrow_id: int, status: str) -> Escrow | None:
        row = (await self.conn.execute(
            escrows.update().where(escrows.c.id == escrow_id, escrows.c.status == "open")
            .values(status=status, resolved_at=self.now).returning(*escrows.c))).first()
        return None if row is None else _escrow(row)

    async def _find_escrow(self, escrow_id: int) -> Escrow | None:
        if isinstance(escrow_id, bool) or not isinstance(escrow_id, int):
            raise ValueError(f"escrow id must be an int, not {escrow_id!r}")
        row = (await self.conn.execute(
            sa.select(escrows).where(escrows.c.id == escrow_id))).first()
        return None if row is None else _escrow(row)

    async def release(self, escrow_id: int, *, payouts: Sequence[Award] = (), reason: str = "",
                      key: str | None = None) -> TxResult:
        """Close an open escrow as released and credit ``payouts`` (in the escrow's channel).
        The claim comes first: an escrow that is not open gives ok=False "escrow_closed" (or
        "unknown_escrow") and nothing moves."""
        checked = self._check_awards(payouts)
        key = _check_key(key)
        found = await self._find_escrow(escrow_id)
        if found is None:
            return TxResult(False, (), {}, UNKNOWN_ESCROW)
        replay = await self._replay(found.channel, key)
        if replay is not None:
            return replay
        claimed = await self._claim(escrow_id, "released")
        if claimed is None:
            return TxResult(False, (), {}, ESCROW_CLOSED, escrow=found)
        if reason:
            checked = [(attrs.evolve(a, reason=a.reason or reason), k, n, kd)
                       for a, k, n, kd in checked]
        postings, balances = await self._credit_awards(
            claimed.channel, checked, uuid.uuid4().hex,
            {"escrow_id": claimed.id, "purpose": claimed.purpose})
        return await self._store(claimed.channel, key, TxResult(
            True, tuple(postings), balances, escrow=claimed))

    async def refund(self, escrow_id: int, *, reason: str = "",
                     key: str | None = None) -> TxResult:
        """Close an open escrow as refunded: its amount goes back as type "refund", kind
        CORRECTION, and the escrow's own counter is reversed (floor 0), daily one included."""
        key = _check_key(key)
        found = await self._find_escrow(escrow_id)
        if found is None:
            return TxResult(False, (), {}, UNKNOWN_ESCROW)
        replay = await self._replay(found.channel, key)
        if replay is not None:
            return replay
        claimed = await self._claim(escrow_id, "refunded")
        if claimed is None:
            return TxResult(False, (), {}, ESCROW_CLOSED, escrow=found)
        channel, ukey, amount = claimed.channel, claimed.user_key, claimed.amount
        balance, display = await self._add(channel, ukey, claimed.username, amount,
                                           Kind.CORRECTION)
        postings = await self._post([self._row(
            uuid.uuid4().hex, channel, ukey, display, amount, balance, "refund",
            Kind.CORRECTION, None, reason or f"refund: {claimed.purpose}", None,
            {"escrow_id": claimed.id, "purpose": claimed.purpose})])
        await self._reverse_counter(claimed)
        return await self._store(channel, key, TxResult(True, tuple(postings), {ukey: balance},
                                                        escrow=claimed))

    async def _reverse_counter(self, held: Escrow) -> None:
        column, counter = _effects(held.kind, -held.amount)
        if column is None or counter is None:
            return
        col = accounts.c[column]
        await self.conn.execute(
            accounts.update().where(accounts.c.channel == held.channel,
                                    accounts.c.user_key == held.user_key)
            .values({column: _floor0(col, held.amount)}))
        await self.conn.execute(
            daily_counters.update().where(
                daily_counters.c.channel == held.channel,
                daily_counters.c.user_key == held.user_key,
                daily_counters.c.day == self._shared.today(held.created_at),
                daily_counters.c.counter == counter)
            .values(value=_floor0(daily_counters.c.value, held.amount)))

    # -- counters --

    async def bump_daily(self, channel: str, username: str, day: date, counter: str,
                         by: int = 1) -> int:
        """Add ``by`` to a user's daily counter (created at 0); returns the new value."""
        ukey, _ = _check_user(username)
        row = await self.conn.execute(self._stmts.daily_upsert, {
            "channel": channel, "user_key": ukey, "day": day, "counter": counter, "value": by})
        return int(row.scalar_one())

    async def bump_daily_many(self, channel: str, day: date, counter: str,
                              usernames: Sequence[str], by: int = 1) -> None:
        """Add ``by`` to the same daily counter of many users (a name listed twice counts
        twice)."""
        totals: dict[str, int] = {}
        for name in usernames:
            ukey, _ = _check_user(name)
            totals[ukey] = totals.get(ukey, 0) + by
        if totals:
            await self.conn.execute(self._stmts.daily_upsert_many, [
                {"channel": channel, "user_key": k, "day": day, "counter": counter, "value": v}
                for k, v in totals.items()])

    async def take_cap(self, channel: str, username: str, cap_key: str, max_count: int,
                       window: timedelta | Literal["day"]) -> bool:
        """Use one slot of a cap (SPEC §2.3): no counter or an expired window → (1, now),
        allowed; ``count >= max_count`` → refused; else count + 1, allowed. ``window="day"``
        expires when the ledger-local day changes."""
        if isinstance(max_count, bool) or not isinstance(max_count, int) or max_count < 1:
            raise ValueError("max_count must be an int >= 1")
        ukey, _ = _check_user(username)
        now = self.now
        where = (caps.c.channel == channel, caps.c.user_key == ukey, caps.c.cap_key == cap_key)
        row = (await self.conn.execute(
            sa.select(caps.c.count, caps.c.window_start).where(*where).with_for_update())
        ).first()
        if row is None:
            await self.conn.execute(caps.insert().values(
                channel=channel, user_key=ukey, cap_key=cap_key, count=1, window_start=now))
            return True
        count, start = int(row[0]), row[1]
        if self._expired(start, now, window):
            await self.conn.execute(caps.update().where(*where)
                                    .values(count=1, window_start=now))
            return True
        if count >= max_count:
            return False
        await self.conn.execute(caps.update().where(*where).values(count=caps.c.count + 1))
        return True

    def _expired(self, start: datetime, now: datetime, window: timedelta | str) -> bool:
        if window == "day":
            return self._shared.today(start) != self._shared.today(now)
        if not isinstance(window, timedelta) or window <= timedelta(0):
            raise ValueError("window must be a positive timedelta or 'day'")
        return now - start >= window

    async def return_cap(self, channel: str, username: str, cap_key: str) -> None:
        """Give one use back (count − 1, floor 0), e.g. after refunding what used it."""
        ukey, _ = _check_user(username)
        await self.conn.execute(caps.update().where(
            caps.c.channel == channel, caps.c.user_key == ukey, caps.c.cap_key == cap_key)
            .values(count=_floor0(caps.c.count, 1)))

    # -- reads inside the transaction --

    async def balance(self, channel: str, username: str) -> int:
        """The balance as this transaction sees it (0 without an account)."""
        return await self._balance_of(channel, _check_user(username)[0])

    async def account(self, channel: str, username: str) -> Account | None:
        row = (await self.conn.execute(sa.select(accounts).where(
            accounts.c.channel == channel,
            accounts.c.user_key == _check_user(username)[0]))).first()
        return None if row is None else _account(row)


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
        self.source = source

    @classmethod
    def _view(cls, shared: _Shared, source: str) -> Ledger:
        view = cls.__new__(cls)
        view._shared = shared
        view.source = source
        return view

    def for_source(self, source: str) -> Ledger:
        """A view sharing this ledger's writer that stamps ``source`` on its postings."""
        if not source or len(source) > 100:
            raise ValueError("source must be a non-empty str of at most 100 chars")
        return Ledger._view(self._shared, source)

    @property
    def engine(self) -> AsyncEngine:
        return self._shared.engine

    @property
    def tz(self) -> tzinfo:
        return self._shared.tz

    @property
    def stats(self) -> tuple[int, int]:
        """(committed batches, jobs in them) since start: jobs/batches is the grouping factor."""
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
        result, then stop the writer. Reads keep working (the engine is the caller's)."""
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
        return await self._shared.submit(fn, self.source)

    async def credit(self, channel: str, username: str, amount: int, *, type: str = "earn",
                     kind: Kind = Kind.EARN, reason: str = "", trigger_id: str | None = None,
                     related_user: str | None = None, metadata: Mapping[str, Any] | None = None,
                     key: str | None = None) -> TxResult:
        """Add ``amount`` to the user's account (created on first need)."""
        check_amount(amount)
        _check_user(username)
        return await self.atomic(lambda tx: tx.credit(
            channel, username, amount, type=type, kind=kind, reason=reason,
            trigger_id=trigger_id, related_user=related_user, metadata=metadata, key=key))

    async def debit(self, channel: str, username: str, amount: int, *, type: str = "spend",
                    kind: Kind = Kind.SPEND, reason: str = "", trigger_id: str | None = None,
                    related_user: str | None = None, metadata: Mapping[str, Any] | None = None,
                    key: str | None = None) -> TxResult:
        """Debit-or-fail: ok=False "insufficient_funds" (nothing written) when short."""
        check_amount(amount)
        _check_user(username)
        return await self.atomic(lambda tx: tx.debit(
            channel, username, amount, type=type, kind=kind, reason=reason,
            trigger_id=trigger_id, related_user=related_user, metadata=metadata, key=key))

    async def transfer(self, channel: str, sender: str, recipient: str, amount: int, *,
                       send_type: str = "tip_send", receive_type: str = "tip_receive",
                       kind: Kind = Kind.TRANSFER, reason: str = "",
                       metadata: Mapping[str, Any] | None = None,
                       key: str | None = None) -> TxResult:
        """Sender → recipient in one transaction; ValueError when they are the same user."""
        check_amount(amount)
        if _check_user(sender)[0] == _check_user(recipient)[0]:
            raise ValueError("sender and recipient are the same user")
        return await self.atomic(lambda tx: tx.transfer(
            channel, sender, recipient, amount, send_type=send_type, receive_type=receive_type,
            kind=kind, reason=reason, metadata=metadata, key=key))

    async def credit_many(self, channel: str, awards: Sequence[Award], *,
                          key: str | None = None) -> TxResult:
        """Credit many awards in one transaction with bulk statements."""
        awards = list(awards)
        LedgerTx._check_awards(awards)
        return await self.atomic(lambda tx: tx.credit_many(channel, awards, key=key))

    async def escrow(self, channel: str, username: str, amount: int, *, purpose: str,
                     type: str = "escrow", kind: Kind = Kind.SPEND, reason: str = "",
                     metadata: Mapping[str, Any] | None = None,
                     key: str | None = None) -> TxResult:
        """Debit-or-fail into a new open escrow (``result.escrow``)."""
        check_amount(amount)
        _check_user(username)
        return await self.atomic(lambda tx: tx.escrow(
            channel, username, amount, purpose=purpose, type=type, kind=kind, reason=reason,
            metadata=metadata, key=key))

    async def release(self, escrow_id: int, *, payouts: Sequence[Award] = (), reason: str = "",
                      key: str | None = None) -> TxResult:
        """Claim an open escrow as released, then credit ``payouts`` (same transaction)."""
        payouts = list(payouts)
        LedgerTx._check_awards(payouts)
        return await self.atomic(lambda tx: tx.release(escrow_id, payouts=payouts,
                                                       reason=reason, key=key))

    async def refund(self, escrow_id: int, *, reason: str = "",
                     key: str | None = None) -> TxResult:
        """Claim an open escrow as refunded and give its amount back (type "refund")."""
        return await self.atomic(lambda tx: tx.refund(escrow_id, reason=reason, key=key))

    async def bump_daily(self, channel: str, username: str, day: date, counter: str,
                         by: int = 1) -> int:
        """Add ``by`` to a daily counter; returns the new value."""
        _check_user(username)
        return await self.atomic(lambda tx: tx.bump_daily(channel, username, day, counter, by))

    async def bump_daily_many(self, channel: str, day: date, counter: str,
                              usernames: Sequence[str], by: int = 1) -> None:
        """Add ``by`` to one daily counter of many users, in one transaction."""
        names = list(usernames)
        await self.atomic(lambda tx: tx.bump_daily_many(channel, day, counter, names, by))

    async def take_cap(self, channel: str, username: str, cap_key: str, max_count: int,
                       window: timedelta | Literal["day"]) -> bool:
        """Atomically use one slot of a cap; False when the cap is reached."""
        _check_user(username)
        return await self.atomic(lambda tx: tx.take_cap(channel, username, cap_key, max_count,
                                                        window))

    async def return_cap(self, channel: str, username: str, cap_key: str) -> None:
        """Give one use of a cap back (floor 0)."""
        _check_user(username)
        await self.atomic(lambda tx: tx.return_cap(channel, username, cap_key))

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
        result = await self._read(sa.select(accounts).where(
            accounts.c.channel == channel, accounts.c.user_key == _check_user(username)[0]))
        row = result.first()
        return None if row is None else _account(row)

    async def account_count(self, channel: str | None = None) -> int:
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
        """Accounts with the highest ``by``, ties by name."""
        if by not in ("balance", "lifetime_earned"):
            raise ValueError("top() orders by 'balance' or 'lifetime_earned'")
        column = accounts.c[by]
        result = await self._read(sa.select(accounts).where(accounts.c.channel == channel)
                                  .order_by(column.desc(), accounts.c.user_key).limit(limit))
        return [_account(row) for row in result]

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
        """A cap's stored counter (expired windows are reported as stored)."""
        row = (await self._read(sa.select(caps.c.count, caps.c.window_start).where(
            caps.c.channel == channel, caps.c.user_key == _check_user(username)[0],
            caps.c.cap_key == cap_key))).first()
        return None if row is None else CapState(int(row._mapping["count"]),
                                                     row._mapping["window_start"])

    async def verify(self, channel: str | None = None) -> list[Mismatch]:
        """Accounts whose balance differs from Σ of their postings, or is negative (postings of
        users without an account count as an account with balance 0)."""
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
