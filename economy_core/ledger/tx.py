"""Money moves inside one plugin transaction (Ledger.atomic)."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from ..storage import PluginConnection
from .model import Account, Holder, Posting
from .moves import MoneyMoves
from .ops import _account_op, _balance_op, _holders_op
from .sql import _ConnRunner, _Hop, _SqliteRunner
from .work import Op, _sync_job

if TYPE_CHECKING:
    from .writer import _Shared

T = TypeVar("T")


# -- operations inside one transaction --------------------------------------------------------


class LedgerTx(MoneyMoves):
    """Money moves inside one database transaction (see :meth:`Ledger.atomic`).

    ``conn`` is the transaction's connection, fenced to the caller's own tables
    (:class:`~economy_core.storage.PluginConnection`: it reads anything, writes only
    ``<source>_*`` tables). Every method here has
    the semantics of the :class:`Ledger` method of the same name, but runs in this transaction:
    nothing is committed until the atomic function returns, and raising rolls it all back. Each
    method is all-or-nothing on its own too (a savepoint), so catching its error is safe.
    """

    def __init__(self, conn: AsyncConnection, shared: _Shared, source: str, now: datetime,
                 hop: _Hop | None) -> None:
        policy = shared.policy
        self.conn: PluginConnection | AsyncConnection = (
            PluginConnection(conn, source) if policy is not None and policy.fenced(source)
            else conn)
        self._raw = conn
        self.source = source
        self.now = now
        """The instant stamped on this transaction's rows."""
        self.today = now.astimezone(shared.tz).date()
        """The ledger-local day of :attr:`now` (the day daily counters are booked on)."""
        self.postings: list[Posting] = []
        self._shared = shared
        self._hop = hop

    async def _run(self, op: Op[T]) -> T:
        """Run ``op`` inside this transaction (a savepoint of its own)."""
        shared, hop = self._shared, self._hop
        if hop is not None:
            work = shared._work(_SqliteRunner(hop.db), self.now, self.source)
            value: T = await hop.run(partial(_sync_job, hop.db, op, work, True))
        else:
            work = shared._work(_ConnRunner(self._raw), self.now, self.source)
            async with self._raw.begin_nested():
                value = await op(work)
        self.postings.extend(work.postings)
        return value

    async def balance(self, channel: str, username: str) -> int:
        """The balance as this transaction sees it (0 without an account)."""
        return await self._run(_balance_op(channel, username))

    async def account(self, channel: str, username: str) -> Account | None:
        """The account as this transaction sees it."""
        return await self._run(_account_op(channel, username))

    async def holders(self, channel: str, minimum: int) -> list[Holder]:
        """:meth:`Ledger.holders` as this transaction sees it: every account of the channel with
        ``balance >= minimum``, ordered by user key. Money moved on these balances in the same
        transaction cannot have changed since they were read (no other write can land in
        between: ledger writes take turns), so a rule computed from them is exact."""
        return await self._run(_holders_op(channel, minimum))


def core_connection(tx: LedgerTx) -> AsyncConnection:
    """The transaction's unfenced connection, for the core's own services that keep their rows
    in the same transaction as a plugin's money moves (approvals). Never handed to plugins."""
    return tx._raw


# -- the ledger -------------------------------------------------------------------------------
