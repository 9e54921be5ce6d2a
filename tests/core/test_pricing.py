"""ctx.pricing: one quote for every sink (scale first, rounded; then discounts, floored; never
below 1), and daily allowances with every plugin's bonus."""

from __future__ import annotations

import pytest

from economy_core import PluginContext, PriceAdjustment, PriceQuote, hookimpl
from economy_core.pricing import combine
from economy_core.testing import MakeApp

CHANNEL = "testroom"


@pytest.mark.parametrize(("base", "adjustments", "expected"), [
    (1000, [], 1000),
    (1000, [PriceAdjustment("rank", 0.92)], 920),                       # 8 % off
    (999, [PriceAdjustment("rank", 0.98)], 979),                         # floor(979.02)
    (1000, [PriceAdjustment("inflation", 1.5, "scale")], 1500),
    (250, [PriceAdjustment("rank", 0.9), PriceAdjustment("inflation", 0.25, "scale")], 56),
    (1, [PriceAdjustment("rank", 0.5)], 1),                              # never below 1
    (3, [PriceAdjustment("inflation", 0.1, "scale")], 1),
    (100, [PriceAdjustment("odd", float("nan")), PriceAdjustment("neg", -2.0)], 100),
])
def test_combining(base: int, adjustments: list[PriceAdjustment], expected: int) -> None:
    price = combine(base, adjustments)
    assert price.amount == expected and price.base == base
    assert all(a.stage == "scale" for a in price.adjustments[:1]) or not any(
        a.stage == "scale" for a in price.adjustments)


def test_a_base_price_must_be_a_positive_whole_number() -> None:
    for bad in (0, -5, True, 2.5):
        with pytest.raises(ValueError):
            combine(bad, [])  # type: ignore[arg-type]


class Perks:
    """Answers the price and allowance hooks as a rank plugin would."""

    name = "perks"

    def __init__(self, ctx: PluginContext[None]) -> None:
        self.ctx = ctx

    @hookimpl
    def economy_price_adjustments(self, quote: PriceQuote) -> list[PriceAdjustment]:
        if quote.username == "vip":
            return [PriceAdjustment("rank discount", 0.8),
                    PriceAdjustment("secret", 0.5, hidden=True)]
        return []

    @hookimpl
    def economy_allowance_bonus(self, channel: str, username: str, allowance: str) -> int:
        return 2 if (username, allowance) == ("vip", "queue") else 0


async def test_quotes_and_allowances_ask_every_plugin(make_app: MakeApp) -> None:
    app = await make_app(plugins=[Perks])
    pricing = app.plugin("perks").ctx.pricing
    plain = await pricing.quote(CHANNEL, "alice", "test.item", 1000)
    assert (plain.amount, plain.discount_percent) == (1000, 0.0)
    vip = await pricing.quote(CHANNEL, "vip", "test.item", 1000)
    assert vip.amount == 400 and vip.discount_percent == 60.0
    assert [a.name for a in vip.visible] == ["rank discount"]
    assert await pricing.allowance(CHANNEL, "vip", "queue", 3) == 5
    assert await pricing.allowance(CHANNEL, "alice", "queue", 3) == 3


async def test_without_any_answer_the_base_price_stands(make_app: MakeApp) -> None:
    app = await make_app(plugins=["wallet"])
    price = await app.app.pricing.quote(CHANNEL, "alice", "x.y", 250)
    assert price.amount == 250 and price.adjustments == ()
