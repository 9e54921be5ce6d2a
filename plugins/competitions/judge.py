"""Who wins a competition and what they get, as pure functions (SPEC §3.13)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

import attrs

from economy_core import user_key

from .config import Competition

EARNINGS = "z_earned"
"""The ledger's daily counter of earnings (no tips, gambling or refunds: SPEC §2.3)."""


@attrs.frozen
class Standing:
    """One user's value of a counter on the judged day."""

    username: str
    value: int

    @property
    def key(self) -> str:
        return user_key(self.username)


def ranked(standings: Sequence[Standing]) -> list[Standing]:
    """Highest value first; a tie in alphabetical order of the (case-folded) name."""
    return sorted(standings, key=lambda s: (-s.value, s.key))


def without(standings: Sequence[Standing], prizes: Mapping[str, int]) -> list[Standing]:
    """``standings`` with each user's ``prizes`` (user key → amount) taken off their value."""
    return [Standing(s.username, s.value - prizes.get(s.key, 0)) for s in standings]


def winners(competition: Competition, standings: Sequence[Standing]) -> list[Standing]:
    """``daily_threshold``: everyone at or over the threshold (ranked); ``daily_top``: the top
    user with a value above 0 (ties: alphabetical), or nobody."""
    condition = competition.condition
    ordered = ranked(standings)
    if condition.type == "daily_threshold":
        return [s for s in ordered if s.value >= condition.threshold]
    return ordered[:1] if ordered and ordered[0].value > 0 else []


def prize(competition: Competition, earned: int) -> int:
    """The fixed ``reward``, or max(1, floor(earned × percent / 100)) computed exactly (the
    percent as the decimal the operator wrote)."""
    if competition.reward is not None:
        return competition.reward
    percent = competition.reward_percent_of_earnings
    assert percent is not None
    share = Fraction(repr(percent)) * max(0, earned) / 100
    return max(1, share.numerator // share.denominator)
