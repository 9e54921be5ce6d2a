"""The inflation governor (SPEC §6): off by default; when on, every price a plugin quotes
through ``ctx.pricing`` is scaled by factor = clamp(circulation / anchor_float, min, max) of its
channel — a "scale" adjustment, so it applies before any discount (a rank's) and the result is
rounded to the nearest unit, never below 1. The factor is computed from the ledger's circulation
at start-up and every ``update_interval_seconds`` (and at once after a reload); an unchanged
1.00 adds nothing to a quote. Shown to admins by ``inflation``, to other services by the
``stats.inflation`` endpoint, to Prometheus as ``economy_inflation_multiplier{channel}``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from economy_core import (
    ApiError,
    ApiRequest,
    CommandCall,
    PluginContext,
    PriceAdjustment,
    PriceQuote,
    command,
    endpoint,
    hookimpl,
)

from .config import InflationConfig

ADJUSTMENT = "inflation"


@attrs.frozen
class Reading:
    """The factor of one channel and what it was computed from."""

    factor: float
    circulation: int
    at: datetime


def factor_for(circulation: int, cfg: InflationConfig) -> float:
    """clamp(circulation / anchor_float, min_multiplier, max_multiplier), 1.0 when off."""
    if not cfg.enabled:
        return 1.0
    raw = circulation / cfg.anchor_float
    return min(cfg.max_multiplier, max(cfg.min_multiplier, raw))


class Inflation:
    """See the module docstring."""

    name = "inflation"
    Config = InflationConfig

    def __init__(self, ctx: PluginContext[InflationConfig]) -> None:
        self.ctx = ctx
        self.readings: dict[str, Reading] = {}
        self._gauge = ctx.metrics.gauge("multiplier", "Price factor of the inflation governor")

    @property
    def cfg(self) -> InflationConfig:
        return self.ctx.config

    @hookimpl
    async def economy_startup(self) -> None:
        await self.refresh()
        self.ctx.scheduler.every(self.cfg.update_interval_seconds, self.refresh, name="refresh")

    @hookimpl
    async def economy_config_reloaded(self, config: Any) -> None:
        await self.refresh()

    async def refresh(self) -> None:
        """Compute each channel's factor again from its circulation."""
        now = self.ctx.clock.now()
        for channel in self.ctx.channels:
            circulation = await self.ctx.ledger.circulation(channel)
            reading = Reading(factor_for(circulation, self.cfg), circulation, now)
            self.readings[channel] = reading
            self._gauge.set({"channel": channel}, reading.factor)

    def factor(self, channel: str) -> float:
        reading = self.readings.get(channel)
        return reading.factor if reading is not None else 1.0

    @hookimpl
    def economy_price_adjustments(self, quote: PriceQuote) -> PriceAdjustment | None:
        factor = self.factor(quote.channel)
        if factor == 1.0 or quote.sink in self.cfg.exempt_sinks:
            return None
        return PriceAdjustment(ADJUSTMENT, factor, stage="scale")

    @hookimpl(optionalhook=True)
    def economy_snapshot_fields(self, channel: str) -> dict[str, float]:
        """The factor as a snapshot column (``inflation_factor``)."""
        return {"inflation_factor": self.factor(channel)}

    @command("inflation", help="The price factor: circulation against the anchor", admin=True)
    async def inflation(self, call: CommandCall) -> str:
        cfg = self.cfg
        reading = self.readings.get(call.channel)
        if not cfg.enabled:
            return "📈 The inflation governor is off: every price is its base price."
        if reading is None:
            return "📈 The factor has not been computed yet."
        fmt = self.ctx.format_amount
        return (f"📈 Prices ×{reading.factor:.2f} (circulation {fmt(reading.circulation)} / "
                f"anchor {fmt(cfg.anchor_float)}, bounded to {cfg.min_multiplier:g}–"
                f"{cfg.max_multiplier:g}); computed {reading.at:%Y-%m-%d %H:%M} UTC, every "
                f"{cfg.update_interval_seconds} s")

    @endpoint("stats.inflation", help="The channel's price factor and what it comes from")
    async def stats_inflation(self, request: ApiRequest) -> dict[str, Any]:
        reading = self.readings.get(request.channel)
        if reading is None:
            raise ApiError("the factor has not been computed yet")
        cfg = self.cfg
        return {"channel": request.channel, "enabled": cfg.enabled, "factor": reading.factor,
                "circulation": reading.circulation, "anchor_float": cfg.anchor_float,
                "min_multiplier": cfg.min_multiplier, "max_multiplier": cfg.max_multiplier,
                "computed_at": reading.at.isoformat()}
