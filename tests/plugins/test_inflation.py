"""The inflation governor (SPEC §6): off by default; when on, quotes are scaled by
clamp(circulation / anchor, min, max) before any discount; refreshed on its interval; shown to
admins, to the API and to Prometheus."""

from __future__ import annotations

import json
from typing import Any

import pytest
from economy_plugins.inflation.config import InflationConfig
from economy_plugins.inflation.plugin import factor_for

from economy_core import PluginContext, PriceAdjustment, PriceQuote, hookimpl
from economy_core.testing import AppHarness, MakeApp

CHANNEL = "testroom"
TOKEN = "ops-token-0123456789"


class Discount:
    """A 10 % discount for everyone (a rank's, say): applied after the governor's scale."""

    name = "discount"

    def __init__(self, ctx: PluginContext[None]) -> None:
        self.ctx = ctx

    @hookimpl
    def economy_price_adjustments(self, quote: PriceQuote) -> PriceAdjustment:
        return PriceAdjustment("discount", 0.9)


async def governed(make_app: MakeApp, **settings: Any) -> AppHarness:
    section = {"enabled": True, "anchor_float": 1000, "update_interval_seconds": 60, **settings}
    return await make_app(plugins=["inflation", "wallet", Discount], config={
        "plugins": {"inflation": section},
        "api": {"clients": [{"name": "ops", "token": TOKEN, "endpoints": ["stats.*"]}]}})


@pytest.mark.parametrize(("circulation", "expected"), [
    (0, 0.25), (100, 0.25), (500, 0.5), (1000, 1.0), (3000, 3.0), (10**9, 8.0)])
def test_the_factor_is_the_clamped_ratio(circulation: int, expected: float) -> None:
    assert factor_for(circulation, InflationConfig(enabled=True, anchor_float=1000)) == expected
    assert factor_for(circulation, InflationConfig()) == 1.0  # off by default


async def test_off_by_default_every_price_is_the_base_price(make_app: MakeApp) -> None:
    app = await make_app(plugins=["inflation", "wallet"])
    await app.ledger.credit(CHANNEL, "alice", 10**9)
    await app.advance(hours=2)
    assert (await app.app.pricing.quote(CHANNEL, "alice", "x.item", 250)).amount == 250
    assert "off" in (await app.pm("boss", "inflation", rank=4))[0]


async def test_scale_applies_before_the_discount_and_follows_the_circulation(
        make_app: MakeApp) -> None:
    app = await governed(make_app)
    assert (await app.app.pricing.quote(CHANNEL, "alice", "x.item", 250)).amount == 56
    # 250 × 0.25 = 62.5 → 63, then × 0.9 → 56 (floor): the governor scales first
    await app.ledger.credit(CHANNEL, "alice", 1500)
    assert (await app.app.pricing.quote(CHANNEL, "alice", "x.item", 250)).amount == 56
    await app.advance(seconds=60)  # refreshed on its interval: 1500 / 1000 = ×1.5
    price = await app.app.pricing.quote(CHANNEL, "alice", "x.item", 250)
    assert price.amount == 337 and [a.name for a in price.adjustments] == ["inflation",
                                                                             "discount"]
    [reply] = await app.pm("boss", "inflation", rank=4)
    assert "×1.50" in reply and "1,500" in reply
    assert (await app.pm("alice", "inflation"))[0] == "⛔ Admin only."


async def test_exempt_sinks_keep_their_base(make_app: MakeApp) -> None:
    app = await governed(make_app, exempt_sinks=["x.exempt"])
    assert (await app.app.pricing.quote(CHANNEL, "alice", "x.exempt", 250)).amount == 225


async def test_the_api_and_the_gauge_show_the_factor(make_app: MakeApp) -> None:
    app = await governed(make_app)
    await app.ledger.credit(CHANNEL, "alice", 4000)
    await app.advance(seconds=60)
    reply = await app.app.api.handle(json.dumps(
        {"command": "stats.inflation", "token": TOKEN}).encode())
    assert reply["success"] is True
    assert reply["data"]["factor"] == 4.0 and reply["data"]["circulation"] == 4000
    text = app.app.metrics.render()
    assert 'economy_inflation_multiplier{channel="testroom"} 4' in text
