"""Database plumbing shared by the core and plugins: engines, UTC timestamps, versioned migrations.

Contracts:

- :func:`make_engine` accepts a SQLAlchemy URL or a plain file path (no ``://`` → a SQLite file).
  SQLite connections run in WAL mode with a 30 s busy timeout, ``synchronous=NORMAL`` and
  foreign keys on. The driver's own transaction handling is switched off and SQLAlchemy emits
  ``BEGIN IMMEDIATE`` itself, so SAVEPOINTs work and a write transaction holds the write lock from
  its first statement (no "database is locked" surprise when a read turns into a write). A
  connection may ask for ``execution_options(sqlite_begin="DEFERRED")`` for read-only work.
- :class:`UtcDateTime` stores instants as UTC and always returns aware UTC datetimes (SQLite has
  no time zones; PostgreSQL uses ``timestamptz``).
- :func:`migrate` keeps one version number per component in ``core_schema_versions`` and brings a
  component's tables from the recorded version to the code's version, one step per transaction.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

NAMING: dict[str, str] = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""The constraint naming convention every MetaData in the project uses (stable names make
migrations that alter constraints possible on every backend)."""

SQLITE_PRAGMAS = (
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)

BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})


IN_CHUNK = 400
"""Values per ``IN (...)`` list: well inside SQLite's and asyncpg's parameter limits."""

_T = TypeVar("_T")


def chunks(items: Sequence[_T], size: int = IN_CHUNK) -> Iterator[Sequence[_T]]:
    """``items`` in consecutive slices of at most ``size`` (for ``IN`` lists of any length)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


class SchemaError(RuntimeError):
    """The database schema cannot be brought to the version this code needs."""


def sqlite_url(path: str) -> str:
    """The async SQLAlchemy URL of a SQLite file."""
    return "sqlite+aiosqlite:///" + path


WAL_SWITCH_ATTEMPTS = 200
"""How often a connection retries switching a new SQLite file to WAL (10 ms apart) before it
gives up and reports the lock."""


def _is_wal(cursor: Any) -> bool:
    cursor.execute("PRAGMA journal_mode")
    row = cursor.fetchone()
    return row is not None and str(row[0]).lower() == "wal"


def _switch_to_wal(cursor: Any) -> None:
    """Put the file in WAL mode. Several first connections to a new file race for the switch;
    the losers are refused ("database is locked") at once, without the busy handler, while the
    winner converts it. WAL is a property of the file: once any connection set it, all have it,
    so a loser retries until it sees WAL (or wins the switch) and raises only if it never does."""
    for attempt in range(WAL_SWITCH_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            try:
                if _is_wal(cursor):
                    return
            except sqlite3.OperationalError:
                pass
            if attempt == WAL_SWITCH_ATTEMPTS - 1:
                raise
            time.sleep(0.01)


def _in_transaction(dbapi_conn: Any) -> bool:
    driver = getattr(dbapi_conn, "driver_connection", dbapi_conn)
    return bool(getattr(driver, "in_transaction", False))


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the driver so SQLAlchemy's BEGIN/SAVEPOINT rule.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("PRAGMA busy_timeout=30000")
            _switch_to_wal(cursor)
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_conn: Any, _record: Any, state: Any) -> None:
        # A COMMIT that failed (disk full, I/O error, a hook raising) leaves SQLAlchemy's
        # transaction closed but SQLite's open, and the pool then skips its rollback: the
        # connection would go back holding the write lock (BEGIN IMMEDIATE) and every later
        # writer would wait on it. Roll such a connection back on its way into the pool.
        if state.transaction_was_reset and state.asyncio_safe and _in_transaction(dbapi_conn):
            dbapi_conn.rollback()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = str(conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")).upper()
        if mode not in BEGIN_MODES:
            raise ValueError(f"sqlite_begin must be one of {sorted(BEGIN_MODES)}, not {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str) -> AsyncEngine:
    """An async engine for ``url`` (or a SQLite file path), configured as the module describes."""
    if "://" not in url:
        url = sqlite_url(url)
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_async_engine(parsed)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(parsed, pool_pre_ping=True)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An aware instant stored as UTC; naive datetimes are refused on the way in."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware instant is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_versions_metadata = sa.MetaData(naming_convention=NAMING)

schema_versions = sa.Table(
    "core_schema_versions", _versions_metadata,
    sa.Column("component", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

MigrationStep = Callable[[sa.Connection], None]


def _lock_id(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def _serialise(conn: AsyncConnection) -> None:
    """Make migrations of the same database take turns (SQLite's BEGIN IMMEDIATE already does)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"),
                           {"k": _lock_id("cytube_economy.migrate")})


async def _recorded(conn: AsyncConnection, component: str) -> int | None:
    await conn.run_sync(lambda sync: _versions_metadata.create_all(sync, checkfirst=True))
    row = await conn.execute(sa.select(schema_versions.c.version)
                             .where(schema_versions.c.component == component))
    found = row.scalar_one_or_none()
    return None if found is None else int(found)


async def _record(conn: AsyncConnection, component: str, version: int, exists: bool) -> None:
    now = datetime.now(UTC)
    if exists:
        await conn.execute(schema_versions.update()
                           .where(schema_versions.c.component == component)
                           .values(version=version, updated_at=now))
    else:
        await conn.execute(schema_versions.insert()
                           .values(component=component, version=version, updated_at=now))


async def migrate(engine: AsyncEngine, component: str, metadata: sa.MetaData, version: int,
                  steps: Mapping[int, MigrationStep] | None = None) -> int:
    """Bring ``component``'s tables to ``version``; return the version found before (0 = fresh).

    - Not recorded yet: ``metadata.create_all`` (that metadata's tables only, existing ones kept)
      and ``version`` is recorded.
    - Recorded ``r < version``: ``steps[v]`` runs for each ``v`` in ``r+1 .. version``, each in its
      own transaction together with recording ``v`` (a failed step leaves ``v-1`` recorded and the
      database as it was before that step). Every needed step must exist, else SchemaError before
      anything runs.
    - Recorded ``r > version``: SchemaError (this code is older than the database).

    Concurrent and repeated calls are safe: each transaction re-reads the recorded version under
    the database's write lock (SQLite) or an advisory lock (PostgreSQL).
    """
    if version < 1:
        raise ValueError("schema versions start at 1")
    steps = steps or {}
    found: int | None = None
    while True:
        async with engine.begin() as conn:
            await _serialise(conn)
            recorded = await _recorded(conn, component)
            if found is None:
                found = recorded or 0
            if recorded is None:
                await conn.run_sync(lambda sync: metadata.create_all(sync, checkfirst=True))
                await _record(conn, component, version, exists=False)
                return found
            if recorded > version:
                raise SchemaError(f"database schema of {component} is version {recorded}, "
                                  f"this code knows {version}")
            if recorded == version:
                return found
            missing = [v for v in range(recorded + 1, version + 1) if v not in steps]
            if missing:
                raise SchemaError(f"no migration step for {component} to version {missing[0]} "
                                  f"(database has {recorded}, code needs {version})")
            step = steps[recorded + 1]
            await conn.run_sync(step)
            await _record(conn, component, recorded + 1, exists=True)


def check_table_prefix(metadata: sa.MetaData, prefix: str) -> None:
    """Raise ValueError naming every table of ``metadata`` whose name does not start with
    ``prefix`` (a plugin's tables must be named ``<plugin>_*``)."""
    wrong = sorted(name for name in metadata.tables if not name.startswith(prefix))
    if wrong:
        raise ValueError(f"table(s) {', '.join(wrong)} must be named {prefix}*")
