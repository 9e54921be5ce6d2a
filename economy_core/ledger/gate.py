"""The earn gate: which earn-class credits the core's onboarding minimums withhold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..events import user_key
from .model import Award, Kind


class EarnGate(Protocol):
    """Decides whether earn-class credits reach a user now (the core's onboarding minimums).

    The ledger asks it before every EARN credit whose ``type`` it ``applies`` to; withheld users
    get nothing from that credit (no posting, no counters, no idempotency record)."""

    def applies(self, type: str) -> bool: ...

    async def withheld(self, channel: str, usernames: Sequence[str]) -> set[str]: ...


WITHHELD = "withheld"
"""``TxResult.error`` of a single credit the earn gate withheld."""


async def _gated(gate: EarnGate | None, channel: str, awards: Sequence[Award]) -> list[Award]:
    """``awards`` without the earn-class ones the gate withholds (``applies`` is asked once per
    distinct posting type)."""
    if gate is None:
        return list(awards)
    applies: dict[str, bool] = {}

    def gated(award: Award) -> bool:
        if award.kind != Kind.EARN:  # a plain "earn" str is earn-class too
            return False
        found = applies.get(award.type)
        if found is None:
            found = applies[award.type] = gate.applies(award.type)
        return found

    names = [a.username for a in awards if gated(a)]
    if not names:
        return list(awards)
    out = await gate.withheld(channel, names)
    if not out:
        return list(awards)
    return [a for a in awards if not (gated(a) and user_key(a.username) in out)]


async def _withheld_one(gate: EarnGate | None, channel: str, username: str, type: str,
                        kind: Kind) -> bool:
    if gate is None or Kind(kind) is not Kind.EARN or not gate.applies(type):
        return False
    return bool(await gate.withheld(channel, [username]))
