"""``[plugins.streaks]``: what a qualifying day is, what streaks and the weekly bridge pay, and
what is said about them (SPEC §3.2)."""

from __future__ import annotations

from typing import Any

import attrs

from economy_core import setting, template_validator

NOTICE_FIELDS = ("days", "amount", "currency", "user")
"""Placeholders of the PMs about a paid streak day or milestone."""
ANNOUNCE_FIELDS = ("user", "days")
"""Placeholders of the public milestone line (SPEC §2.6 ``streak`` template)."""
BRIDGE_FIELDS = ("amount", "currency", "user")
"""Placeholders of the bridge PMs (payment and weekend reminder)."""
MAX_BONUS = 1_000_000_000
"""The largest configurable single reward."""

_amount = [attrs.validators.ge(0), attrs.validators.le(MAX_BONUS)]


def _rewards_valid(_instance: Any, _attribute: Any, value: dict[int, int]) -> None:
    for day, amount in value.items():
        if day < 2:
            raise ValueError(f"streak day {day}: rewards start at day 2 (day 1 starts a streak)")
        if day > 10_000:
            raise ValueError(f"streak day {day} is beyond 10000")
        if not 0 <= amount <= MAX_BONUS:
            raise ValueError(f"streak day {day}: amount must be 0-{MAX_BONUS}, got {amount}")


@attrs.frozen
class DailyConfig:
    """Consecutive qualifying days."""

    enabled: bool = setting(
        True, help="Pay and show daily streaks (false: nothing paid or shown; the bridge below "
                   "still counts qualifying days)")
    min_presence_minutes: int = setting(
        15, validator=[attrs.validators.ge(1), attrs.validators.le(1440)],
        help="Minutes present in one (channel-local) day that make it a qualifying day")
    rewards: dict[int, int] = setting(
        factory=lambda: {2: 10, 3: 20, 4: 30, 5: 50, 6: 75, 7: 100}, validator=_rewards_valid,
        help="Streak day -> bonus that day; a day missing from the table pays the entry of the "
             "latest day before it (beyond the table: its last entry)")
    milestone_7_bonus: int = setting(200, validator=_amount,
                                     help="Extra bonus on the 7th day in a row (announced)")
    milestone_30_bonus: int = setting(2000, validator=_amount,
                                      help="Extra bonus on the 30th day in a row (announced)")
    bonus_message: str = setting(
        "🔥 Day {days} of your streak: +{amount} {currency}!",
        validator=template_validator(NOTICE_FIELDS),
        help="PM for a paid streak day; placeholders {days} {amount} {currency} {user}")
    milestone_message: str = setting(
        "🏅 {days} days in a row: +{amount} {currency} milestone bonus!",
        validator=template_validator(NOTICE_FIELDS),
        help="PM for a 7- or 30-day milestone; placeholders {days} {amount} {currency} {user}")
    announce_milestones: bool = setting(
        True, help="Announce 7- and 30-day milestones in public chat")
    announce_message: str = setting(
        "🔥 {user} has been here {days} days in a row!",
        validator=template_validator(ANNOUNCE_FIELDS),
        help="The public milestone line; placeholders {user} {days}")


@attrs.frozen
class BridgeConfig:
    """A weekday and a weekend day in the same ISO week (Mon-Sun)."""

    enabled: bool = setting(
        True, help="Pay the bridge bonus for qualifying on a weekday and a weekend day of one "
                   "ISO week")
    bonus: int = setting(500, validator=_amount, help="The bridge bonus (at most once a week)")
    bonus_message: str = setting(
        "🌉 Weekday + weekend this week: +{amount} {currency} bridge bonus!",
        validator=template_validator(BRIDGE_FIELDS),
        help="PM when the bridge bonus is paid; placeholders {amount} {currency} {user}")
    announce_on_weekend: bool = setting(
        True, help="On a qualifying Saturday with no weekday this week, PM the reminder below "
                   "(once a week)")
    message: str = setting(
        "🌉 Weekend visit counted! Come by on a weekday and a weekend day of the same week "
        "(Mon-Sun) for a {amount} {currency} bridge bonus; the next week starts Monday.",
        validator=template_validator(BRIDGE_FIELDS),
        help="The Saturday reminder; placeholders {amount} {currency} {user}")


@attrs.frozen
class StreaksConfig:
    daily: DailyConfig = setting(factory=DailyConfig, help="Daily presence streaks")
    weekend_weekday_bridge: BridgeConfig = setting(
        factory=BridgeConfig, help="Weekly bonus for a weekday and a weekend visit")
