"""The money moves the Ledger and a LedgerTx share: one definition, two ways to run it.

:class:`MoneyMoves` defines each write once; a subclass says how an operation runs
(:meth:`MoneyMoves._run`): the :class:`~economy_core.ledger.Ledger` queues it to the writer as its
own transaction, a :class:`~economy_core.ledger.LedgerTx` runs it inside the open one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ..events import user_key
from .gate import WITHHELD, _gated, _withheld_one
from .model import Award, Kind, TxResult
from .ops import (
    _bump_daily_many_op,
    _bump_daily_op,
    _credit_many_op,
    _credit_op,
    _debit_op,
    _escrow_op,
    _refund_op,
    _release_op,
    _return_cap_op,
    _take_cap_op,
    _transfer_op,
)
from .policy import _enforce
from .work import Op

if TYPE_CHECKING:
    from .writer import _Shared

T = TypeVar("T")


class MoneyMoves(ABC):
    """The write surface of the ledger. Every method is all-or-nothing; where it runs (its own
    transaction or an open one) is the subclass's :meth:`_run`."""

    _shared: _Shared
    source: str

    def _allowed(self, posting_type: str, kind: Kind) -> None:
        policy = self._shared.policy
        if policy is not None:
            _enforce(policy.check_type(self.source, posting_type, Kind(kind)))

    def _awards_allowed(self, awards: Sequence[Award]) -> None:
        policy = self._shared.policy
        if policy is None:
            return
        for award_type, award_kind in {(a.type, a.kind) for a in awards
                                       if isinstance(a, Award)}:  # others: refused by the op
            _enforce(policy.check_type(self.source, award_type, Kind(award_kind)))

    def _counter_allowed(self, counter: str) -> None:
        policy = self._shared.policy
        if policy is not None:
            _enforce(policy.check_counter(self.source, counter))

    @abstractmethod
    async def _run(self, op: Op[T]) -> T:
        """Run one ledger operation and return its value."""

    @abstractmethod
    async def balance(self, channel: str, username: str) -> int:
        """The user's balance as this runner sees it (0 without an account)."""

    async def credit(self, channel: str, username: str, amount: int, *, type: str = "earn",
                     kind: Kind = Kind.EARN, reason: str = "", trigger_id: str | None = None,
                     related_user: str | None = None, metadata: Mapping[str, Any] | None = None,
                     key: str | None = None) -> TxResult:
        """Add ``amount`` to the user's account (created on first need). An earn-class credit
        the earn gate withholds writes nothing: ok=False, error "withheld"."""
        self._allowed(type, kind)
        if await _withheld_one(self._shared.gate, channel, username, type, kind):
            return TxResult(False, (), {user_key(username): await self.balance(channel, username)},
                            WITHHELD)
        return await self._run(_credit_op(
            channel, username, amount, type=type, kind=kind, reason=reason,
            trigger_id=trigger_id, related_user=related_user, metadata=metadata, key=key))

    async def debit(self, channel: str, username: str, amount: int, *, type: str = "spend",
                    kind: Kind = Kind.SPEND, reason: str = "", trigger_id: str | None = None,
                    related_user: str | None = None, metadata: Mapping[str, Any] | None = None,
                    key: str | None = None) -> TxResult:
        """Debit-or-fail: ok=False "insufficient_funds" (nothing written) when short; the
        result's ``balance`` is then the current balance."""
        self._allowed(type, kind)
        return await self._run(_debit_op(
            channel, username, amount, type=type, kind=kind, reason=reason,
            trigger_id=trigger_id, related_user=related_user, metadata=metadata, key=key))

    async def transfer(self, channel: str, sender: str, recipient: str, amount: int, *,
                       send_type: str, receive_type: str,
                       kind: Kind = Kind.TRANSFER, reason: str = "",
                       metadata: Mapping[str, Any] | None = None,
                       key: str | None = None) -> TxResult:
        """Sender → recipient, both postings or neither (the sender's debit-or-fail decides);
        ValueError when they are the same user. Balances: sender first. The caller names both
        posting types (the sender's and the recipient's)."""
        self._allowed(send_type, kind)
        self._allowed(receive_type, kind)
        return await self._run(_transfer_op(
            channel, sender, recipient, amount, send_type=send_type, receive_type=receive_type,
            kind=kind, reason=reason, metadata=metadata, key=key))

    async def credit_many(self, channel: str, awards: Sequence[Award], *,
                          key: str | None = None) -> TxResult:
        """Credit many awards (a user may appear more than once) in one transaction, with bulk
        statements. Balances: each user once, in order of first appearance. Earn-class awards
        the earn gate withholds are left out (all withheld: nothing is written, ok=True)."""
        self._awards_allowed(awards)
        kept = await _gated(self._shared.gate, channel, awards)
        if awards and not kept:
            return TxResult(True, (), {})
        return await self._run(_credit_many_op(channel, kept, key=key))

    async def escrow(self, channel: str, username: str, amount: int, *, purpose: str,
                     type: str = "escrow", kind: Kind = Kind.SPEND, reason: str = "",
                     metadata: Mapping[str, Any] | None = None,
                     key: str | None = None) -> TxResult:
        """Debit-or-fail into a new open escrow (``result.escrow``)."""
        self._allowed(type, kind)
        return await self._run(_escrow_op(
            channel, username, amount, purpose=purpose, type=type, kind=kind, reason=reason,
            metadata=metadata, key=key))

    async def release(self, escrow_id: int, *, payouts: Sequence[Award] = (), reason: str = "",
                      key: str | None = None) -> TxResult:
        """Claim an open escrow as released (``WHERE status='open'``), then credit ``payouts``
        in its channel, in one transaction. Not open → ok=False "escrow_closed"; no such id →
        "unknown_escrow"; nothing moves then."""
        self._awards_allowed(payouts)
        return await self._run(_release_op(escrow_id, payouts=payouts, reason=reason, key=key))

    async def refund(self, escrow_id: int, *, reason: str = "", key: str | None = None,
                     amount: int | None = None, burn_type: str | None = None,
                     burn_kind: Kind = Kind.SPEND, burn_reason: str = "") -> TxResult:
        """Claim an open escrow as refunded and give its amount back (type "refund", kind
        CORRECTION), reversing the escrow's counter (floor 0).

        ``amount`` gives back only part of it (0 … the escrow's amount; more raises ValueError
        and nothing moves) and burns the rest as a visible posting: after the full refund above,
        the same transaction debits the remainder from the holder as ``burn_type`` (declared
        like any posting type, of ``burn_kind``, counted as that kind counts a debit, reason
        ``burn_reason``). The holder's balance ends ``amount`` higher, the two postings share
        one ``tx_id`` (metadata ``burned`` / ``refunded``), and the burned money leaves
        circulation through a posting, so balances, Σ postings and the circulation agree."""
        if amount is not None:
            if burn_type is None:
                raise ValueError("a partial refund needs the burn_type its remainder is "
                                 "recorded as")
            self._allowed(burn_type, burn_kind)
        return await self._run(_refund_op(escrow_id, reason=reason, key=key, amount=amount,
                                          burn_type=burn_type, burn_kind=burn_kind,
                                          burn_reason=burn_reason))

    async def bump_daily(self, channel: str, username: str, day: date, counter: str,
                         by: int = 1) -> int:
        """Add ``by`` to a user's daily counter (created at 0); returns the new value."""
        self._counter_allowed(counter)
        return await self._run(_bump_daily_op(channel, username, day, counter, by))

    async def bump_daily_many(self, channel: str, day: date, counter: str,
                              usernames: Sequence[str], by: int = 1) -> None:
        """Add ``by`` to one daily counter of many users, in one transaction (a name listed
        twice counts twice)."""
        self._counter_allowed(counter)
        await self._run(_bump_daily_many_op(channel, day, counter, usernames, by))

    async def take_cap(self, channel: str, username: str, cap_key: str, max_count: int,
                       window: timedelta | Literal["day"]) -> bool:
        """Use one slot of a cap, atomically (SPEC §2.3): no counter or an expired window →
        (1, now), allowed; ``count >= max_count`` → refused; else count + 1, allowed.
        ``window="day"`` expires when the ledger-local day changes."""
        return await self._run(_take_cap_op(channel, username, cap_key, max_count, window))

    async def return_cap(self, channel: str, username: str, cap_key: str) -> None:
        """Give one use of a cap back (count − 1, floor 0), e.g. after a refund."""
        await self._run(_return_cap_op(channel, username, cap_key))
