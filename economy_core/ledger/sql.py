"""The write path's SQL, per dialect, and the runners that execute it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol, TypeVar

import attrs
from sqlalchemy.ext.asyncio import AsyncConnection

from .checks import _COUNTER_COLUMNS
from .model import Escrow, Kind

T = TypeVar("T")


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
_HOLDERS = ("SELECT user_key, username, balance FROM core_accounts "
            "WHERE channel = ? AND balance >= ? ORDER BY user_key")
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
        self.holders = q(_HOLDERS)
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
