"""``[plugins.ranks]``: the tiers, what they give, and what is said about promotions
(SPEC §3.10, §2.6 ``rank_up``)."""

from __future__ import annotations

import itertools
from typing import Any

import attrs

from economy_core import setting, template_validator

ANNOUNCE_FIELDS = ("user", "rank")
"""Placeholders of the public line for one promotion (SPEC §2.6 ``rank_up``)."""
ANNOUNCE_MANY_FIELDS = ("promotions", "count")
"""Placeholders of the public line for several promotions at once."""
NOTICE_FIELDS = ("user", "rank", "perks")
"""Placeholders of the promoted user's PM."""
MAX_TIERS = 50


def _not_blank(_instance: Any, _attribute: Any, value: str) -> None:
    if not value.strip():
        raise ValueError("must not be empty")


def _level_valid(_instance: Any, _attribute: Any, value: int) -> None:
    if not 0 <= value <= 3:
        raise ValueError(f"must be 0 (none) or a CyTube channel rank 1-3, got {value}")


@attrs.frozen
class Tier:
    """One rank. Perk texts are shown to users; some also give a service (module
    :mod:`.tiers`): "+N ... queue" extra queues a day, "rain ... +N%" a bigger share of rain,
    "free daily fortune" one free fortune a day; texts naming a "discount" are replaced by the
    discount computed from ``spend_discount_per_rank``."""

    name: str = setting(validator=_not_blank, help="The rank's name (unique, any case)")
    min_lifetime_earned: int = setting(validator=attrs.validators.ge(0),
                                       help="Lifetime earnings that reach this rank")
    perks: list[str] = setting(factory=list, help="Perk texts shown for this rank")
    cytube_level_promotion: int = setting(
        0, validator=_level_valid,
        help="Reaching this rank raises the user's CyTube channel rank to this level when "
             "theirs is lower (0 = no promotion)")


def default_tiers() -> list[Tier]:
    """SPEC §3.10's ten tiers."""
    return [
        Tier("Extra", 0),
        Tier("Grip", 1_000, ["1 free daily fortune"]),
        Tier("Key Grip", 5_000, ["2% spend discount"]),
        Tier("Gaffer", 15_000, ["4% discount", "rain drops +20%"]),
        Tier("Best Boy", 40_000, ["6% discount", "+1 queue/day"]),
        Tier("Associate Producer", 100_000, ["8% discount", "premium vanity items"]),
        Tier("Producer", 250_000, ["10% discount", "priority queue position"]),
        Tier("Director", 500_000, ["12% discount", "+2 queues/day"]),
        Tier("Executive Producer", 1_000_000, ["15% discount"]),
        Tier("Studio Mogul", 5_000_000, ["20% discount", "custom everything",
                                         "legendary status"], cytube_level_promotion=2),
    ]


def _tiers_valid(_instance: Any, _attribute: Any, value: list[Tier]) -> None:
    if not value:
        raise ValueError("at least one tier is required")
    if len(value) > MAX_TIERS:
        raise ValueError(f"at most {MAX_TIERS} tiers")
    if value[0].min_lifetime_earned != 0:
        raise ValueError("the first tier must start at min_lifetime_earned = 0 (everyone has "
                         "a rank)")
    for before, after in itertools.pairwise(value):
        if after.min_lifetime_earned <= before.min_lifetime_earned:
            raise ValueError(f"tier {after.name!r}: min_lifetime_earned must be above the "
                             f"previous tier's ({before.min_lifetime_earned})")
    names = [t.name.strip().casefold() for t in value]
    twice = sorted({t.name for t, n in zip(value, names, strict=True) if names.count(n) > 1})
    if twice:
        raise ValueError(f"tier names must be unique: {', '.join(twice)}")


def _discount_valid(instance: Any, _attribute: Any, value: float) -> None:
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")
    top = value * (len(instance.tiers) - 1)
    if top >= 0.95:
        raise ValueError(f"the top tier's discount would be {top:.0%}; keep it below 95 %")


@attrs.frozen
class CytubePromotionConfig:
    """Buying CyTube channel level 2 (``buy_level cytube2``)."""

    enabled: bool = setting(True, help="Allow CyTube level promotions from this plugin at all")
    purchasable: bool = setting(True, help="Sell level 2 with `buy_level cytube2` (or level2)")
    cost: int = setting(50_000, validator=[attrs.validators.ge(1),
                                           attrs.validators.le(10**12)],
                        help="The base price (the buyer's rank discount applies)")
    min_rank: str = setting("Associate Producer", validator=_not_blank,
                            help="The lowest rank (a tier name) that may buy it")


def _min_rank_known(instance: Any, _attribute: Any, value: CytubePromotionConfig) -> None:
    names = [t.name.strip().casefold() for t in instance.tiers]
    if value.min_rank.strip().casefold() not in names:
        raise ValueError(f"min_rank {value.min_rank!r} is not a tier (tiers: "
                         f"{', '.join(t.name for t in instance.tiers)})")


@attrs.frozen
class RanksConfig:
    """Ranks by lifetime earnings, their perks, and CyTube level promotions."""

    tiers: list[Tier] = setting(factory=default_tiers, validator=_tiers_valid,
                                help="The ranks, lowest first")
    spend_discount_per_rank: float = setting(
        0.02, validator=_discount_valid,
        help="Spend discount per tier index (Grip 2 %, Key Grip 4 % ...); price = max(1, "
             "floor(price x (1 - discount)))")
    earn_multiplier_per_rank: float = setting(
        0.0, validator=[attrs.validators.ge(0.0), attrs.validators.le(10.0)],
        help="Activity earnings are multiplied by 1 + this x tier index (0 = off)")
    rain_triggers: list[str] = setting(
        factory=lambda: ["rain.ambient"],
        help="Trigger ids of earnings the rain perk (\"rain ... +N%\") multiplies")
    notify_message: str = setting(
        "🎖️ You are now {rank}! Perks: {perks}",
        validator=template_validator(NOTICE_FIELDS),
        help="PM to the promoted user; placeholders {user} {rank} {perks}")
    announce: bool = setting(True, help="Announce promotions in public chat")
    announce_message: str = setting(
        "🎬 {user} is now {rank}!", validator=template_validator(ANNOUNCE_FIELDS),
        help="The public line for one promotion (rank_up); placeholders {user} {rank}")
    announce_many_message: str = setting(
        "🎬 Promotions: {promotions}!", validator=template_validator(ANNOUNCE_MANY_FIELDS),
        help="The public line for several promotions at once; placeholders {promotions} "
             "(\"alice → Grip, bob → Gaffer\") {count}")
    announce_interval_minutes: int = setting(
        60, validator=attrs.validators.ge(0),
        help="At most one promotion line per channel this often, unless a promotion beats "
             "today's highest announced rank")
    cytube_promotion: CytubePromotionConfig = setting(
        factory=CytubePromotionConfig, validator=_min_rank_known,
        help="CyTube channel level promotions")
