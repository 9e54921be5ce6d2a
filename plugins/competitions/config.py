"""``[plugins.competitions]``: the daily competitions judged at 23:59 channel time and what is
said about them (SPEC §3.13)."""

from __future__ import annotations

import re
from typing import Any, Literal

import attrs

from economy_core import setting, template_validator

MAX_REWARD = 1_000_000_000
WINNER_FIELDS = ("description", "amount", "currency", "user", "id")
"""Placeholders of the PM each winner gets."""
SUMMARY_FIELDS = ("winners", "day")
"""Placeholders of the public summary line."""

_ID_RE = re.compile(r"[a-z0-9_]{1,40}")
_COUNTER_RE = re.compile(r"[a-z][a-z0-9_.]{0,59}")


def _id(_instance: Any, _attribute: Any, value: str) -> None:
    if not _ID_RE.fullmatch(value):
        raise ValueError(f"an id is 1-40 lower-case letters, digits or _, got {value!r}")


def _field(_instance: Any, _attribute: Any, value: str) -> None:
    if not _COUNTER_RE.fullmatch(value):
        raise ValueError(f"expected a daily counter's name (e.g. messages_sent), got {value!r}")


def _description(_instance: Any, _attribute: Any, value: str) -> None:
    if not value.strip() or len(value) > 100:
        raise ValueError("a description is 1-100 characters")


def _reward(_instance: Any, _attribute: Any, value: int | None) -> None:
    if value is not None and not 1 <= value <= MAX_REWARD:
        raise ValueError(f"must be between 1 and {MAX_REWARD}, got {value}")


def _one_reward(instance: Any, _attribute: Any, value: float | None) -> None:
    if value is not None and not 0.0 < value <= 1000.0:
        raise ValueError(f"must be more than 0 and at most 1000, got {value}")
    if (value is None) == (instance.reward is None):
        raise ValueError("set exactly one of reward and reward_percent_of_earnings")


@attrs.frozen
class Condition:
    """Who wins: everyone at or over a threshold, or the day's top user."""

    type: Literal["daily_threshold", "daily_top"] = setting(
        help="daily_threshold: everyone whose counter reached threshold wins; daily_top: the "
             "user with the highest counter (above 0; a tie goes to the first name "
             "alphabetically)")
    field: str = setting(validator=_field,
                         help="The daily counter judged (one some enabled plugin keeps: "
                              "messages_sent, gifs_posted, kudos_given, z_earned ...)")
    threshold: int = setting(1, validator=attrs.validators.ge(1),
                             help="daily_threshold: the value to reach (daily_top ignores it)")


@attrs.frozen
class Competition:
    """One daily competition."""

    id: str = setting(validator=_id, help="Its id (trigger competition.<id>); each is unique")
    description: str = setting(validator=_description,
                               help="What it is, as winners and the summary line read it")
    condition: Condition = setting(help="Who wins")
    reward: int | None = setting(None, validator=_reward, help="A fixed prize")
    reward_percent_of_earnings: float | None = setting(
        None, validator=_one_reward,
        help="Or: this percent of the winner's earnings that day (z_earned: no tips, gambling "
             "or refunds), at least 1; set exactly one of the two")
    hidden: bool = setting(False, help="Leave it out of the `competitions` list")
    enabled: bool = setting(True, help="Judge it")


def _threshold(id: str, description: str, field: str, threshold: int, reward: int,
               enabled: bool = True) -> Competition:
    return Competition(id, description, Condition("daily_threshold", field, threshold), reward,
                       enabled=enabled)


def _top(id: str, description: str, field: str, *, reward: int | None = None,
         percent: float | None = None, enabled: bool = True) -> Competition:
    return Competition(id, description, Condition("daily_top", field), reward, percent,
                       enabled=enabled)


def default_competitions() -> list[Competition]:
    """SPEC §3.13's defaults, and its two optional ones switched off."""
    return [
        _threshold("gif_enthusiast", "GIF enthusiast: 5 GIFs in a day", "gifs_posted", 5, 15),
        _threshold("social_butterfly", "Social butterfly: 5 kudos given in a day",
                   "kudos_given", 5, 15),
        _top("top_earner_bonus", "Top earner: the most earned in a day", "z_earned",
             percent=25.0),
        _threshold("chatterbox", "Chatterbox: 50 chat lines in a day", "messages_sent", 50, 20),
        _top("gif_champion", "GIF champion: the most GIFs in a day", "gifs_posted", reward=35,
             enabled=False),
        _threshold("emote_variety", "Emote variety: 10 different emotes in a day",
                   "unique_emotes_used", 10, 25, enabled=False),
    ]


def _unique_ids(_instance: Any, _attribute: Any, value: list[Competition]) -> None:
    ids = [c.id for c in value]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ValueError(f"an id is used twice: {', '.join(twice)}")


@attrs.frozen
class CompetitionsConfig:
    """Daily competitions over the day's counters, judged at 23:59 channel time."""

    announce: bool = setting(True, help="Post one public summary line of the day's winners")
    announce_message: str = setting("🏆 Today's winners: {winners}",
                                    validator=template_validator(SUMMARY_FIELDS),
                                    help="The summary line; placeholders {winners} {day}")
    winner_message: str = setting("🏆 {description}: +{amount} {currency}!",
                                  validator=template_validator(WINNER_FIELDS),
                                  help="PM to each winner; placeholders {description} {amount} "
                                       "{currency} {user} {id}")
    daily: list[Competition] = setting(factory=default_competitions, validator=_unique_ids,
                                       help="The competitions")
