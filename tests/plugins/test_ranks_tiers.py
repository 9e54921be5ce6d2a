"""The rank rules as pure functions (plugins/ranks/tiers.py): thresholds, promote only with an
admin's set holding, effective perks accumulated over the tiers (largest value per kind)."""

from __future__ import annotations

import math

from economy_plugins.ranks.config import RanksConfig, Tier, default_tiers
from economy_plugins.ranks.tiers import (
    find_tier,
    perks_of,
    progress_bar,
    promoted_to,
    threshold_of_next,
    tier_of,
)

TIERS = default_tiers()


def test_tier_of_uses_at_least() -> None:
    assert [tier_of(TIERS, n) for n in (0, 999, 1_000, 4_999, 5_000, 10**12)] == [
        0, 0, 1, 1, 2, 9]


def test_find_tier_is_exact_in_any_case() -> None:
    assert find_tier(TIERS, "studio mogul") == 9
    assert find_tier(TIERS, " Key Grip ") == 2
    assert find_tier(TIERS, "Mogul") is None and find_tier(TIERS, "Grip ") == 1


def test_promotion_needs_a_tier_above_the_rank_and_what_was_held() -> None:
    assert promoted_to(TIERS, 5_000, 0, None) == 2
    assert promoted_to(TIERS, 5_000, 2, None) is None
    assert promoted_to(TIERS, 5_000, 3, None) is None  # never down
    assert promoted_to(TIERS, 9_000, 0, 2) is None  # an admin's set holds ...
    assert promoted_to(TIERS, 15_000, 0, 2) == 3  # ... until earnings pass a higher tier
    assert threshold_of_next(TIERS, 0, 2) == 15_000
    assert threshold_of_next(TIERS, 9, None) == math.inf


def test_perks_accumulate_largest_per_kind() -> None:
    mogul = perks_of(TIERS, 9, 0.02)
    assert (mogul.discount, mogul.extra_queues, mogul.rain_percent, mogul.free_fortunes) == (
        0.18, 2, 20.0, 1)
    assert mogul.shown == ("premium vanity items", "priority queue position",
                           "custom everything", "legendary status")
    assert perks_of(TIERS, 0, 0.02).describe() == "none"
    assert perks_of(TIERS, 4, 0.02).describe() == (
        "8% off purchases · 1 free daily fortune · +1 queue/day · rain +20%")


def test_perk_texts_are_parsed_not_trusted() -> None:
    tiers = [Tier("A", 0), Tier("B", 10, ["+3 queues a day", "queue jumping", "Rain +7.5 %",
                                          "free daily fortune", "+50% sparkle"])]
    perks = perks_of(tiers, 1, 0.0)
    assert (perks.extra_queues, perks.rain_percent, perks.free_fortunes) == (3, 7.5, 1)
    assert perks.shown == ("queue jumping", "+50% sparkle")


def test_the_bar_has_twenty_cells() -> None:
    assert progress_bar(0.5) == "█" * 10 + "░" * 10
    assert progress_bar(1.7) == "█" * 20 and progress_bar(-1) == "░" * 20


def test_shipped_defaults_follow_the_spec() -> None:
    cfg = RanksConfig()
    assert [(t.name, t.min_lifetime_earned) for t in cfg.tiers] == [
        ("Extra", 0), ("Grip", 1_000), ("Key Grip", 5_000), ("Gaffer", 15_000),
        ("Best Boy", 40_000), ("Associate Producer", 100_000), ("Producer", 250_000),
        ("Director", 500_000), ("Executive Producer", 1_000_000), ("Studio Mogul", 5_000_000)]
    assert cfg.tiers[-1].cytube_level_promotion == 2
    assert (cfg.spend_discount_per_rank, cfg.earn_multiplier_per_rank) == (0.02, 0.0)
    promo = cfg.cytube_promotion
    assert (promo.enabled, promo.purchasable, promo.cost, promo.min_rank) == (
        True, True, 50_000, "Associate Producer")
