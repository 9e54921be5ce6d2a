"""Where the outbox keeps unsent replies and money notices across a restart.

One core table, ``core_outbox_pending`` (component ``core_outbox``): a row per message still to
send (channel, user, the unsent text, reply or notice, when it was stored). The outbox writes
the rows in :meth:`OutboxStore.save` at close, reads them all in :meth:`OutboxStore.load` at
start and deletes each one once its message is sent (:meth:`OutboxStore.forget`): a message is
sent at least once, even when the process dies between start and sending.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .clock import Clock
from .db import IN_CHUNK, NAMING, UtcDateTime, chunks, migrate
from .outbox import PendingMessage

outbox_metadata = sa.MetaData(naming_convention=NAMING)

core_outbox_pending = sa.Table(
    "core_outbox_pending", outbox_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("reply", sa.Boolean, nullable=False),
    sa.Column("stored_at", UtcDateTime, nullable=False),
)

OUTBOX_SCHEMA_VERSION = 1


class OutboxStore:
    """The outbox's :class:`~economy_core.outbox.PendingStore` on the app's database;
    :meth:`start` before use."""

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    async def start(self) -> None:
        await migrate(self._engine, "core_outbox", outbox_metadata, OUTBOX_SCHEMA_VERSION)

    async def load(self) -> list[PendingMessage]:
        """Every stored message, oldest first (a read: nothing is committed)."""
        table = core_outbox_pending
        async with self._engine.connect() as conn:
            result = await conn.execute(sa.select(table).order_by(table.c.id))
            rows = result.all()
        return [PendingMessage(r.channel, r.username, r.text, bool(r.reply), int(r.id))
                for r in rows]

    async def save(self, messages: Sequence[PendingMessage], forget: Sequence[int]) -> None:
        """In one transaction: delete the rows ``forget``, store ``messages``."""
        if not messages and not forget:
            return
        now = self._clock.now()
        async with self._engine.begin() as conn:
            await self._delete(conn, forget)
            if messages:
                await conn.execute(core_outbox_pending.insert(), [
                    {"channel": m.channel[:100], "username": m.username[:100], "text": m.text,
                     "reply": m.reply, "stored_at": now} for m in messages])

    async def forget(self, ids: Sequence[int]) -> None:
        """Delete these rows (their messages were sent)."""
        if not ids:
            return
        async with self._engine.begin() as conn:
            await self._delete(conn, ids)

    @staticmethod
    async def _delete(conn: AsyncConnection, ids: Sequence[int]) -> None:
        for part in chunks(list(ids), IN_CHUNK):
            await conn.execute(core_outbox_pending.delete()
                               .where(core_outbox_pending.c.id.in_(part)))
