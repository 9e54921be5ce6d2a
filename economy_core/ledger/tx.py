"""Money moves inside one plugin transaction (Ledger.atomic)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from ..events import user_key
from .gate import WITHHELD, _gated, _withheld_one
from .model import Account, Award, Holder, Kind, Posting, TxResult
from .ops import (
    _account_op,
    _balance_op,
    _bump_daily_many_op,
    _bump_daily_op,
    _credit_many_op,
    _credit_op,
    _debit_op,
    _escrow_op,
    _holders_op,
    _refund_op,
    _release_op,
    _return_cap_op,
    _take_cap_op,
    _transfer_op,
)
from .sql import _ConnRunner, _Hop, _SqliteRunner
from .work import Op, _sync_job

if TYPE_CHECKING:
    from .writer import _Shared

T = TypeVar("T")


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

    async def holders(self, channel: str, minimum: int) -> list[Holder]:
        """:meth:`Ledger.holders` as this transaction sees it: every account of the channel with
        ``balance >= minimum``, ordered by user key. Money moved on these balances in the same
        transaction cannot have changed since they were read (no other write can land in
        between: ledger writes take turns), so a rule computed from them is exact."""
        return await self._do(_holders_op(channel, minimum))


# -- the ledger -------------------------------------------------------------------------------
