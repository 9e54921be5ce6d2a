"""``[plugins.achievements]``: the achievements, what they pay and what is said about them
(SPEC §3.11)."""

from __future__ import annotations

import re
from typing import Any

import attrs

from economy_core import setting, template_validator

from .conditions import TYPES

MESSAGE_FIELDS = ("user", "achievement", "description", "amount", "currency")
"""Placeholders of the PM and of the public line."""
MAX_REWARD = 1_000_000_000
_ID = re.compile(r"[a-z0-9_]{1,60}")


def _id_valid(_instance: Any, _attribute: Any, value: str) -> None:
    if not _ID.fullmatch(value):
        raise ValueError(f"{value!r}: use 1-60 lower-case letters, digits and _")


def _type_known(instance: Any, _attribute: Any, value: Condition) -> None:
    if value.type not in TYPES:
        raise ValueError(f"achievement {instance.id!r}: unknown condition type {value.type!r} "
                         f"(known: {', '.join(TYPES)})")


def _not_blank(_instance: Any, _attribute: Any, value: str) -> None:
    if not value.strip():
        raise ValueError("must not be empty")


@attrs.frozen
class Condition:
    """What earns an achievement: a value of ``type`` at or above ``threshold``."""

    type: str = setting(help=f"What is measured: {', '.join(TYPES)}")
    threshold: int = setting(validator=[attrs.validators.ge(1), attrs.validators.le(10**12)],
                             help="The value that earns it (value >= threshold)")


@attrs.frozen
class Achievement:
    """One achievement: earned once per user, ever."""

    id: str = setting(validator=_id_valid,
                      help="Its id (unique; the posting's trigger is achievement.<id>)")
    description: str = setting(validator=_not_blank, help="What users read")
    condition: Condition = setting(validator=_type_known, help="What earns it")
    reward: int = setting(0, validator=[attrs.validators.ge(0),
                                        attrs.validators.le(MAX_REWARD)],
                          help="Paid once when it is earned (0 = honour only)")
    hidden: bool = setting(True, help="Not listed (nor its progress) until earned")
    enabled: bool = setting(True, help="false: never checked, never listed")


def default_achievements() -> list[Achievement]:
    """SPEC §3.11's defaults (all hidden); the tip ones ship switched off (they need tipping)."""
    return [
        Achievement("messages_100", "100 chat lines", Condition("lifetime_messages", 100), 50),
        Achievement("messages_1000", "1,000 chat lines", Condition("lifetime_messages", 1000),
                    500),
        Achievement("presence_24h", "24 hours in the room",
                    Condition("lifetime_presence_hours", 24), 100),
        Achievement("streak_7", "7 days in a row", Condition("daily_streak", 7), 200),
        Achievement("streak_30", "30 days in a row", Condition("daily_streak", 30), 2000),
        Achievement("tipped_10_unique", "Tipped 10 different users",
                    Condition("unique_tip_recipients", 10), 100, enabled=False),
        Achievement("received_tips_10", "Tipped by 10 different users",
                    Condition("unique_tip_senders", 10), 100, enabled=False),
    ]


def _ids_unique(_instance: Any, _attribute: Any, value: list[Achievement]) -> None:
    ids = [a.id for a in value]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ValueError(f"achievement ids must be unique: {', '.join(twice)}")


@attrs.frozen
class AchievementsConfig:
    """One-time achievements for lasting activity."""

    achievements: list[Achievement] = setting(
        factory=default_achievements, validator=_ids_unique,
        help="The achievements (condition types: see the README)")
    notify_message: str = setting(
        "🏆 Achievement unlocked: {description}! +{amount} {currency}",
        validator=template_validator(MESSAGE_FIELDS),
        help="PM to the user; placeholders {user} {achievement} {description} {amount} "
             "{currency}")
    announce: bool = setting(True, help="Announce each achievement in public chat")
    announce_message: str = setting(
        "🏆 {user} unlocked an achievement: {description}!",
        validator=template_validator(MESSAGE_FIELDS),
        help="The public line (achievement_milestone); placeholders {user} {achievement} "
             "{description} {amount} {currency}")
