"""The rank rules as pure functions: which tier lifetime earnings reach, what a tier gives
(SPEC §3.10 "effective perks"), when earnings promote, and the progress bar.

**Effective perks** accumulate over the tiers up to the user's, the largest value per kind:

- a text with "queue" and "+N" (not "+N%") → N extra queues a day;
- a text with "rain" and "+N%" → rain shares × (1 + N/100);
- a text with "free daily fortune" → one free fortune a day;
- a text naming a "discount" is not shown: the discount is ``spend_discount_per_rank`` × the
  tier index (SPEC §7: the texts are display-only, and they disagree with the rule);
- any other text is shown as it is (display-only).

**Promotion** (promote only): a user's stored tier rises to the tier their lifetime earnings
reach when that tier is above both the stored one and ``held`` — the tier their earnings reached
when an admin last set their rank (None if never). So an admin's ``set_rank`` holds, up or
down, until earnings pass a higher tier than they had then.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence

import attrs

from .config import Tier

BAR_CELLS = 20
_PLUS_N = re.compile(r"\+(\d+)(?![\d.]*\s*%)")
_PLUS_PERCENT = re.compile(r"\+(\d+(?:\.\d+)?)\s*%")


@attrs.frozen
class Perks:
    """What a tier gives, accumulated over the tiers up to it."""

    discount: float = 0.0
    """The spend discount, 0 … <1."""
    extra_queues: int = 0
    rain_percent: float = 0.0
    free_fortunes: int = 0
    shown: tuple[str, ...] = ()
    """The display-only perk texts (each once, in tier order)."""

    def describe(self, *, discount: bool = True) -> str:
        """One line of every perk (``none`` when there is none), the discount first unless
        left out."""
        parts = []
        if discount and self.discount > 0:
            parts.append(f"{self.discount * 100:g}% off purchases")
        if self.free_fortunes:
            parts.append(f"{self.free_fortunes} free daily fortune")
        if self.extra_queues:
            parts.append(f"+{self.extra_queues} queue{'s' if self.extra_queues > 1 else ''}/day")
        if self.rain_percent:
            parts.append(f"rain +{self.rain_percent:g}%")
        parts.extend(self.shown)
        return " · ".join(parts) if parts else "none"


def tier_of(tiers: Sequence[Tier], lifetime_earned: int) -> int:
    """The index of the highest tier whose threshold ``lifetime_earned`` reaches."""
    thresholds = [t.min_lifetime_earned for t in tiers]
    return max(0, bisect.bisect_right(thresholds, lifetime_earned) - 1)


def find_tier(tiers: Sequence[Tier], name: str) -> int | None:
    """The index of the tier called ``name`` (exactly, in any case), else None."""
    wanted = name.strip().casefold()
    for index, tier in enumerate(tiers):
        if tier.name.strip().casefold() == wanted:
            return index
    return None


def promoted_to(tiers: Sequence[Tier], lifetime_earned: int, stored: int,
                held: int | None) -> int | None:
    """The tier earnings promote a user to now, or None (module docstring)."""
    earned = tier_of(tiers, lifetime_earned)
    floor = stored if held is None else max(stored, held)
    return earned if earned > floor else None


def next_promotion(tiers: Sequence[Tier], stored: int, held: int | None) -> int | None:
    """The tier the next promotion by earnings goes to at least (None: no higher tier)."""
    above = (stored if held is None else max(stored, held)) + 1
    return above if above < len(tiers) else None


def threshold_of_next(tiers: Sequence[Tier], stored: int, held: int | None) -> float:
    """Lifetime earnings at which a promotion becomes possible (infinity at the top)."""
    above = (stored if held is None or held < stored else held) + 1
    return tiers[above].min_lifetime_earned if above < len(tiers) else math.inf


def perks_of(tiers: Sequence[Tier], index: int, discount_per_rank: float) -> Perks:
    """The effective perks of tier ``index`` (module docstring)."""
    queues = fortunes = 0
    rain = 0.0
    shown: list[str] = []
    for tier in tiers[:max(0, index) + 1]:
        for text in tier.perks:
            low = text.casefold()
            if "discount" in low:
                continue
            if "queue" in low and (found := _PLUS_N.search(text)):
                queues = max(queues, int(found.group(1)))
            elif "rain" in low and (pct := _PLUS_PERCENT.search(text)):
                rain = max(rain, float(pct.group(1)))
            elif "free daily fortune" in low:
                fortunes = 1
            elif text.strip() and text.strip() not in shown:
                shown.append(text.strip())
    discount = min(0.95, max(0.0, discount_per_rank * index))
    return Perks(round(discount, 6), queues, rain, fortunes, tuple(shown))


def progress_bar(done: float, cells: int = BAR_CELLS) -> str:
    """``done`` (0 … 1) as a bar of ``cells`` cells."""
    filled = max(0, min(cells, math.floor(done * cells + 1e-9)))
    return "█" * filled + "░" * (cells - filled)
