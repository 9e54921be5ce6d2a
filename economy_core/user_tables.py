"""How a plugin describes the tables where it keeps users, and the generic export and forget of
those rows (``cytube-economy user export|forget``, SPEC §6).

A plugin lists its user tables in its contract, ``Contract(personal_data=("what", …),
user_tables=(UserTable(table, keys=…, names=…, delete=…), …))``, and the core exports and forgets
those rows itself, through a connection fenced to the plugin's own tables. A plugin whose data
a table description cannot express (rows reached through another table, say) answers the
``economy_user_export`` / ``economy_user_forget`` hooks as well, usually with
:func:`export_user_rows` and :func:`forget_user_rows` over its own extra descriptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .storage import PluginConnection


@attrs.frozen
class UserTable:
    """Where a table holds a user: ``keys`` are columns holding a user key, ``names`` columns
    holding a display name (matched case-insensitively). ``delete``: the matching rows are the
    user's own (forget deletes them); otherwise they are shared history and forget replaces the
    matching columns by the pseudonym. ``channel`` names the table's channel column (None: the
    table has none, every row matches)."""

    table: sa.Table
    keys: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    delete: bool = True
    channel: str | None = "channel"

    def where(self, channel: str, user_key: str) -> sa.ColumnElement[bool]:
        c = self.table.c
        matches = [c[k] == user_key for k in self.keys]
        matches += [sa.func.lower(c[n]) == user_key for n in self.names]
        clause = sa.or_(*matches)
        if self.channel is not None:
            clause = sa.and_(c[self.channel] == channel, clause)
        return clause


def jsonable(value: Any) -> Any:
    """A database value as JSON shows it (times as ISO 8601)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


Conn = PluginConnection | AsyncConnection


async def export_user_rows(conn: Conn, channel: str, user_key: str,
                           tables: Iterable[UserTable]) -> dict[str, list[dict[str, Any]]]:
    """Table name → the rows naming the user (as dicts), for ``economy_user_export``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for spec in tables:
        rows = (await conn.execute(sa.select(spec.table).where(
            spec.where(channel, user_key)))).mappings().all()
        if rows:
            out.setdefault(spec.table.name, []).extend(
                {str(k): jsonable(v) for k, v in row.items()} for row in rows)
    return out


async def forget_user_rows(conn: Conn, channel: str, user_key: str, pseudonym: str,
                           tables: Iterable[UserTable]) -> int:
    """Delete the user's own rows and pseudonymise shared ones, for ``economy_user_forget``;
    how many rows changed."""
    changed = 0
    for spec in tables:
        c = spec.table.c
        if spec.delete:
            result = await conn.execute(sa.delete(spec.table).where(
                spec.where(channel, user_key)))
            changed += int(result.rowcount or 0)
            continue
        for column in spec.keys:
            scope = c[column] == user_key
            if spec.channel is not None:
                scope = sa.and_(c[spec.channel] == channel, scope)
            result = await conn.execute(sa.update(spec.table).where(scope)
                                        .values({column: pseudonym}))
            changed += int(result.rowcount or 0)
        for column in spec.names:
            scope = sa.func.lower(c[column]) == user_key
            if spec.channel is not None:
                scope = sa.and_(c[spec.channel] == channel, scope)
            result = await conn.execute(sa.update(spec.table).where(scope)
                                        .values({column: pseudonym}))
            changed += int(result.rowcount or 0)
    return changed
