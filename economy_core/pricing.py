"""One quote function for everything users buy, and per-user daily allowances.

``ctx.pricing.quote(channel, user, sink, base)`` asks every plugin's
``economy_price_adjustments`` and combines the answers: the "scale" factors multiplied and the
price rounded to the nearest unit, then the "discount" factors multiplied and the price rounded
down, never below 1. Every front-end (a PM command, an API call) of a plugin that sells something
asks here, so the same thing costs the same everywhere. With no plugin answering, the price is
the base price.

``ctx.pricing.allowance(channel, user, name, base)`` is ``base`` plus every plugin's
``economy_allowance_bonus`` for that allowance (never below 0).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from .hooktypes import PriceAdjustment, PriceQuote

Collect = Callable[..., Awaitable[list[Any]]]


@attrs.frozen
class Price:
    """What a user pays: ``amount``, from ``base`` through ``adjustments`` (in the order
    applied)."""

    amount: int
    base: int
    adjustments: tuple[PriceAdjustment, ...] = ()

    @property
    def discount_percent(self) -> float:
        """How much below the base the price is, in percent (0 when it is not)."""
        if self.base <= 0 or self.amount >= self.base:
            return 0.0
        return (self.base - self.amount) * 100.0 / self.base

    @property
    def visible(self) -> tuple[PriceAdjustment, ...]:
        return tuple(a for a in self.adjustments if not a.hidden)


def combine(base: int, adjustments: list[PriceAdjustment]) -> Price:
    """The price after ``adjustments`` (see the module docstring)."""
    if isinstance(base, bool) or not isinstance(base, int) or base < 1:
        raise ValueError(f"a base price is a whole number >= 1, not {base!r}")
    ordered = sorted((a for a in adjustments if math.isfinite(a.factor) and a.factor >= 0),
                     key=lambda a: 0 if a.stage == "scale" else 1)
    scale = math.prod(a.factor for a in ordered if a.stage == "scale")
    amount = max(1, math.floor(base * scale + 0.5))  # to the nearest, halves up
    discount = math.prod(a.factor for a in ordered if a.stage == "discount")
    amount = max(1, math.floor(amount * min(discount, 1.0) + 1e-9))
    return Price(amount, base, tuple(ordered))


class Pricing:
    """Asks the plugins' price and allowance hooks (see the module docstring)."""

    def __init__(self, collect: Collect) -> None:
        self._collect = collect

    async def quote(self, channel: str, username: str, sink: str, base: int) -> Price:
        answers = await self._collect("economy_price_adjustments",
                                      quote=PriceQuote(channel, username, sink, base))
        return combine(base, [a for a in answers if isinstance(a, PriceAdjustment)])

    async def allowance(self, channel: str, username: str, name: str, base: int) -> int:
        answers = await self._collect("economy_allowance_bonus", channel=channel,
                                      username=username, allowance=name)
        extra = sum(a for a in answers if isinstance(a, int) and not isinstance(a, bool))
        return max(0, base + extra)
