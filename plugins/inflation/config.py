"""``[plugins.inflation]``: the governor's anchor, bounds and refresh interval (SPEC §6)."""

from __future__ import annotations

from typing import Any

import attrs

from economy_core import setting


def _positive(_instance: Any, attribute: Any, value: float) -> None:
    if not value > 0:
        raise ValueError(f"must be > 0, got {value}")


def _max_not_below_min(instance: Any, _attribute: Any, value: float) -> None:
    if value < instance.min_multiplier:
        raise ValueError(f"must be >= min_multiplier ({instance.min_multiplier}), got {value}")


@attrs.frozen
class InflationConfig:
    """Scale what everything sold costs by how much money is in circulation."""

    enabled: bool = setting(
        False, help="Govern prices (off: every price is its base price; the plugin stays loaded)")
    anchor_float: int = setting(
        100_000_000, validator=_positive,
        help="The circulation (sum of balances in the channel) at which prices are as configured")
    min_multiplier: float = setting(0.25, validator=_positive,
                                    help="Prices never fall below this factor of their base")
    max_multiplier: float = setting(8.0, validator=[_positive, _max_not_below_min],
                                    help="Prices never rise above this factor of their base")
    update_interval_seconds: int = setting(
        3600, validator=attrs.validators.ge(10),
        help="How often the factor is computed again from the circulation")
    exempt_sinks: list[str] = setting(
        factory=list,
        help="Things sold that keep their base price whatever the factor (sink names, as "
             "`cytube-economy plugins` and the selling plugin's docs show them)")
