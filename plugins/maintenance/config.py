"""``[plugins.maintenance]``: which nightly balance rule runs, and its numbers (SPEC §3.5)."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from economy_core import setting

Mode = Literal["interest", "decay", "none"]

_rate = [attrs.validators.ge(0.0), attrs.validators.le(1.0)]


def _not_blank(_instance: Any, _attribute: Any, value: str) -> None:
    if not value.strip():
        raise ValueError("must not be empty")


@attrs.frozen
class InterestConfig:
    """Nightly interest on savings."""

    daily_rate: float = setting(0.001, validator=_rate,
                                help="Share of the balance paid each night (0.001 = 0.1 %)")
    max_daily_interest: int = setting(10, validator=attrs.validators.ge(0),
                                      help="The most one account earns in one night")
    min_balance_to_earn: int = setting(100, validator=attrs.validators.ge(0),
                                       help="Balances below this earn no interest")


@attrs.frozen
class DecayConfig:
    """A nightly fee on large balances."""

    daily_rate: float = setting(0.005, validator=_rate,
                                help="Share of the balance taken each night (0.005 = 0.5 %)")
    exempt_below: int = setting(50_000, validator=attrs.validators.ge(1),
                                help="Balances below this pay no fee")
    label: str = setting("Vault maintenance fee", validator=_not_blank,
                         help="The fee's reason, as users read it in their history")


@attrs.frozen
class MaintenanceConfig:
    """The nightly balance rule (03:00 channel time): interest, decay or none."""

    mode: Mode = setting("interest", validator=attrs.validators.in_(("interest", "decay",
                                                                     "none")),
                         help='"interest" pays savers, "decay" charges large balances, '
                              '"none" turns the nightly rule off')
    interest: InterestConfig = setting(factory=InterestConfig,
                                       help='Used when mode = "interest"')
    decay: DecayConfig = setting(factory=DecayConfig, help='Used when mode = "decay"')
