"""``[plugins.rain]``: how often it rains, how much, and what is said about it."""

from __future__ import annotations

from typing import Any

import attrs

from economy_core import setting, template_validator

NOTICE_FIELDS = ("amount", "currency", "user")
"""Placeholders of the PM each paid user gets."""
ANNOUNCE_FIELDS = ("count", "currency")
"""Placeholders of the public announcement (SPEC §2.6 ``rain`` template)."""
MAX_DROP = 1_000_000
"""The largest configurable drop (multipliers may raise a user's share up to 50×)."""


def _max_not_below_min(instance: Any, _attribute: Any, value: int) -> None:
    if value < instance.min_amount:
        raise ValueError(f"must be >= min_amount ({instance.min_amount}), got {value}")


@attrs.frozen
class RainConfig:
    """Coins for everyone present, every so often."""

    enabled: bool = setting(True, help="Let it rain (false: no drops, the plugin stays loaded)")
    interval_minutes: int = setting(
        45, validator=attrs.validators.ge(1),
        help="Average minutes between drops; each wait is this ±30 % at random, at least 1 min")
    min_amount: int = setting(5, validator=[attrs.validators.ge(1),
                                            attrs.validators.le(MAX_DROP)],
                              help="Smallest drop (one amount is drawn per channel and drop)")
    max_amount: int = setting(25, validator=[_max_not_below_min,
                                             attrs.validators.le(MAX_DROP)],
                              help="Largest drop (at least min_amount)")
    pm_notification: bool = setting(True, help="PM each paid user (quiet users are skipped)")
    message: str = setting("☔ Rain drop: +{amount} {currency} for being here.",
                           validator=template_validator(NOTICE_FIELDS),
                           help="The PM; placeholders {amount} {currency} {user}")
    announce: bool = setting(True, help="Announce each drop in public chat, before paying")
    announce_message: str = setting(
        "☔ It's raining {currency}! {count} user(s) here just got a drop.",
        validator=template_validator(ANNOUNCE_FIELDS),
        help="The public announcement; placeholders {count} {currency}")
