"""The award pipeline for activity earnings: multipliers, fractional accumulation, one credit.

``earn`` / ``earn_many`` take a base amount (it may be fractional), ask every plugin's
``economy_award_multiplier`` for factors (unless ``multiply=False``), multiply them together
(clamped to ``[0, MAX_FACTOR]``), add the result to an in-memory accumulator per
(channel, user, trigger), and credit only the whole part, keeping the remainder for next time.
A restart may therefore lose less than 1 unit per accumulator, never create any.
The posting's metadata records the base amount, the combined factor and the visible factors.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs

from .events import user_key
from .hooktypes import AwardRequest, Multiplier
from .ledger import Award, Kind, LedgerView

MAX_FACTOR = 50.0

CollectMultipliers = Callable[[AwardRequest], Awaitable[list[Any]]]


@attrs.frozen
class Paid:
    """What one user received from an award: the credited whole amount and the factor used."""

    username: str
    amount: int
    factor: float


class Awards:
    """Pays activity earnings for one plugin (``source``); see the module docstring."""

    def __init__(self, ledger: LedgerView, source: str, collect: CollectMultipliers,
                 accumulators: dict[tuple[str, str, str], float]) -> None:
        self._ledger = ledger
        self._source = source
        self._collect = collect
        self._acc = accumulators

    async def factor(self, channel: str, username: str, trigger_id: str,
                     amount: float = 0.0) -> tuple[float, list[Multiplier]]:
        """The combined multiplier for one earning and the factors that made it."""
        answers = await self._collect(AwardRequest(channel, username, amount, self._source,
                                                   trigger_id))
        factors = [m for m in answers if isinstance(m, Multiplier)]
        combined = 1.0
        for m in factors:
            combined *= max(0.0, m.factor)
        return min(combined, MAX_FACTOR), factors

    def _accumulate(self, channel: str, username: str, trigger_id: str, value: float) -> int:
        key = (channel, user_key(username), trigger_id)
        total = self._acc.get(key, 0.0) + value
        whole = math.floor(total + 1e-9)
        self._acc[key] = max(0.0, total - whole)
        return whole

    async def earn(self, channel: str, username: str, base: float, *, trigger_id: str,
                   type: str = "earn", reason: str = "", multiply: bool = True,
                   related_user: str | None = None, key: str | None = None,
                   metadata: Mapping[str, Any] | None = None) -> Paid:
        """Pay one activity earning; returns what was credited (possibly 0)."""
        paid = await self.earn_many(channel, [(username, base)], trigger_id=trigger_id,
                                    type=type, reason=reason, multiply=multiply,
                                    related_user=related_user, key=key, metadata=metadata)
        return paid[0]

    async def earn_many(self, channel: str, items: Sequence[tuple[str, float]], *,
                        trigger_id: str, type: str = "earn", reason: str = "",
                        multiply: bool = True, related_user: str | None = None,
                        key: str | None = None,
                        metadata: Mapping[str, Any] | None = None) -> list[Paid]:
        """Pay many users in ONE ledger transaction; returns one :class:`Paid` per item."""
        paid, awards = await self.quote_many(channel, items, trigger_id=trigger_id, type=type,
                                             reason=reason, multiply=multiply,
                                             related_user=related_user, metadata=metadata)
        if awards:
            await self._ledger.credit_many(channel, awards, key=key)
        return paid

    async def quote_many(self, channel: str, items: Sequence[tuple[str, float]], *,
                         trigger_id: str, type: str = "earn", reason: str = "",
                         multiply: bool = True, related_user: str | None = None,
                         metadata: Mapping[str, Any] | None = None
                         ) -> tuple[list[Paid], list[Award]]:
        """Apply multipliers and accumulators and return the awards to credit, without paying.

        For callers that write the awards together with their own rows in one transaction
        (``ledger.atomic``). The accumulators are already advanced: if the caller's write
        fails, less than 1 unit per user is lost, never created.
        """
        if any(not math.isfinite(base) or base < 0 for _, base in items):
            raise ValueError("award bases must be finite and >= 0")
        paid: list[Paid] = []
        awards: list[Award] = []
        for username, base in items:
            factor, factors = (await self.factor(channel, username, trigger_id, base)
                               if multiply else (1.0, []))
            whole = self._accumulate(channel, username, trigger_id, base * factor)
            paid.append(Paid(username, whole, factor))
            if whole <= 0:
                continue
            meta = dict(metadata or {})
            meta.update(base=base, factor=round(factor, 6),
                        factors={m.name: m.factor for m in factors if not m.hidden})
            awards.append(Award(username=username, amount=whole, type=type, kind=Kind.EARN,
                                reason=reason, trigger_id=trigger_id,
                                related_user=related_user, metadata=meta))
        return paid, awards
