"""A plugin's own tables: its schema with upgrade steps, and database access fenced to them.

**Schema.** A plugin declares its tables and their history in one object, as maubot's upgrade
table does: the version is the list of registered steps, never a constant beside them::

    schema = Schema(metadata)                # every table named <plugin>_*

    @schema.upgrade("remember who added a value")
    def add_creator(conn: sa.Connection) -> None:
        conn.execute(sa.text("ALTER TABLE hello_values ADD COLUMN creator TEXT"))

A fresh database gets ``metadata.create_all`` at the current version (the metadata describes
the newest tables); an older one runs each missing step in its own transaction
(:func:`economy_core.db.migrate`). Version = 1 + the number of steps.

**Fenced access.** ``ctx.db`` and ``tx.conn`` (inside ``ctx.ledger.atomic``) hand a plugin a
:class:`PluginConnection`: it reads any table, but a statement that writes (INSERT, UPDATE,
DELETE, REPLACE, CREATE/ALTER/DROP TABLE) to a table not named ``<plugin>_*`` raises
:class:`PermissionError` before it reaches the database. Money and the core's tables change
only through the ledger and the core's services.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .db import MigrationStep


class Schema:
    """A plugin's tables and their upgrade steps (see the module docstring)."""

    def __init__(self, metadata: sa.MetaData) -> None:
        self.metadata = metadata
        self._steps: list[tuple[str, MigrationStep]] = []

    def upgrade(self, description: str) -> Callable[[MigrationStep], MigrationStep]:
        """Register the next upgrade step (steps run in the order they are registered)."""
        if not description.strip():
            raise ValueError("an upgrade step needs a description")

        def register(step: MigrationStep) -> MigrationStep:
            self._steps.append((description, step))
            return step

        return register

    @property
    def version(self) -> int:
        """1 for the first tables, plus one per registered upgrade step."""
        return 1 + len(self._steps)

    @property
    def steps(self) -> dict[int, MigrationStep]:
        """Version → the step that brings the tables from ``version - 1`` to it."""
        return {index + 2: step for index, (_, step) in enumerate(self._steps)}

    @property
    def history(self) -> list[tuple[int, str]]:
        """(version, description) of every upgrade step."""
        return [(index + 2, text) for index, (text, _) in enumerate(self._steps)]


_WRITE_RE = re.compile(
    r"\b(?:insert\s+(?:or\s+\w+\s+)?into|replace\s+into|delete\s+from|update(?!\s+set\b)"
    r"|alter\s+table|drop\s+table(?:\s+if\s+exists)?"
    r"|create\s+(?:temporary\s+|temp\s+)?table(?:\s+if\s+not\s+exists)?)"
    r"\s+[\"`\[]?([A-Za-z0-9_]+)", re.IGNORECASE)


def written_tables(statement: Any) -> list[str]:
    """The tables a statement writes (empty for reads)."""
    if isinstance(statement, sa.Insert | sa.Update | sa.Delete):
        table = statement.table
        return [str(getattr(table, "name", table))]
    if isinstance(statement, sa.TextClause):
        return _WRITE_RE.findall(statement.text)
    if isinstance(statement, sa.schema.ExecutableDDLElement):
        target = getattr(statement, "element", None)
        name = getattr(target, "name", None)
        return [str(name)] if name is not None else ["?"]
    return []


class PluginConnection:
    """One plugin's fenced view of a database connection (see the module docstring)."""

    def __init__(self, conn: AsyncConnection, owner: str) -> None:
        self._conn = conn
        self._prefix = f"{owner}_"
        self.owner = owner

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    def _check(self, statement: Any) -> None:
        wrong = [t for t in written_tables(statement) if not t.startswith(self._prefix)]
        if wrong:
            raise PermissionError(
                f"plugin {self.owner!r} may only write its own tables ({self._prefix}*), not "
                f"{', '.join(sorted(set(wrong)))}: money and the core's records change through "
                "the ledger and the core's services")

    async def execute(self, statement: Any,
                      parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
                      ) -> sa.CursorResult[Any]:
        self._check(statement)
        result: sa.CursorResult[Any] = await self._conn.execute(statement, parameters)
        return result

    async def scalar(self, statement: Any,
                     parameters: Mapping[str, Any] | None = None) -> Any:
        self._check(statement)
        return await self._conn.scalar(statement, parameters)

    async def scalars(self, statement: Any,
                      parameters: Mapping[str, Any] | None = None) -> sa.ScalarResult[Any]:
        self._check(statement)
        return await self._conn.scalars(statement, parameters)


class PluginDatabase:
    """``ctx.db``: connections fenced to the plugin's own tables (reads of any table)."""

    def __init__(self, engine: AsyncEngine, owner: str) -> None:
        self._engine = engine
        self.owner = owner

    @property
    def dialect(self) -> Dialect:
        return self._engine.dialect

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[PluginConnection]:
        """A connection for reads (each statement its own transaction, nothing committed)."""
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(sqlite_begin="DEFERRED")
            yield PluginConnection(conn, self.owner)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[PluginConnection]:
        """A connection in a transaction, committed when the block ends without error."""
        async with self._engine.begin() as conn:
            yield PluginConnection(conn, self.owner)


def schema_of(cls: type) -> Schema | None:
    """The plugin class's ``schema`` (None: it keeps no tables)."""
    found = getattr(cls, "schema", None)
    if found is None:
        if getattr(cls, "metadata", None) is not None:
            raise TypeError(f"plugin class {cls.__qualname__}: declare its tables as "
                            "`schema = Schema(metadata)` (the version is its upgrade steps)")
        return None
    if not isinstance(found, Schema):
        raise TypeError(f"plugin class {cls.__qualname__}: 'schema' must be a "
                        f"economy_core Schema, not {type(found).__name__}")
    return found


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The integer primary key of the one row an INSERT created."""
    key = result.inserted_primary_key
    if key is None or key[0] is None:
        raise ValueError("the statement inserted no row with an integer key")
    return int(key[0])
