"""``[plugins.chat_triggers]``: one table per trigger (SPEC §3.3), each switched on and off with
``enabled`` and left out of ``rewards`` with ``hidden``."""

from __future__ import annotations

import math
import re
from typing import Any

import attrs

from economy_core import setting

MAX_REWARD = 1_000_000.0
"""The largest configurable base reward of one hit."""

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,20}$")


def _reward(_instance: Any, attribute: Any, value: float) -> None:
    if not math.isfinite(value) or not 0 <= value <= MAX_REWARD:
        raise ValueError(f"must be between 0 and {MAX_REWARD:g}, got {value}")


def _positive(limit: int) -> list[Any]:
    return [attrs.validators.ge(1), attrs.validators.le(limit)]


def _bot_name(_instance: Any, _attribute: Any, value: str) -> None:
    if value and not _NAME.fullmatch(value):
        raise ValueError(f"not a CyTube user name: {value!r} (empty = off)")


def _enabled() -> Any:
    return setting(True, help="Pay this trigger (false: it never pays and is not listed)")


def _hidden() -> Any:
    return setting(True, help="Leave it out of `rewards` (only counted in the 'more to discover' "
                              "hint)")


@attrs.frozen
class LongMessageConfig:
    """chat.long_message"""

    enabled: bool = _enabled()
    hidden: bool = _hidden()
    min_chars: int = setting(30, validator=_positive(10_000),
                             help="A line of at least this many characters is long")
    reward: float = setting(1.0, validator=_reward, help="Paid per long line")
    max_per_hour: int = setting(30, validator=_positive(10_000),
                                help="Long lines paid per user per rolling hour")


@attrs.frozen
class FirstMessageConfig:
    """chat.first_message_of_day"""

    enabled: bool = _enabled()
    hidden: bool = _hidden()
    reward: float = setting(5.0, validator=_reward, help="Paid for a user's first line of the day")


@attrs.frozen
class ConversationStarterConfig:
    """chat.conversation_starter"""

    enabled: bool = _enabled()
    hidden: bool = _hidden()
    min_silence_minutes: int = setting(
        10, validator=_positive(10_000),
        help="Minutes without a chat line after which the next line starts a conversation")
    reward: float = setting(10.0, validator=_reward, help="Paid for starting a conversation")


@attrs.frozen
class FirstAfterMediaConfig:
    """chat.first_after_media_change"""

    enabled: bool = _enabled()
    hidden: bool = _hidden()
    window_seconds: int = setting(
        30, validator=_positive(86_400),
        help="The first line this many seconds or less after a media change pays (one claimant)")
    reward: float = setting(3.0, validator=_reward, help="Paid to the first commenter")


@attrs.frozen
class CommentDuringMediaConfig:
    """content.comment_during_media"""

    enabled: bool = _enabled()
    hidden: bool = _hidden()
    reward_per_message: float = setting(0.5, validator=_reward,
                                        help="Paid per line while media plays (fractions add up)")
    max_per_item_base: int = setting(10, validator=_positive(100_000),
                                     help="Lines paid per user per media item")
    scale_with_duration: bool = setting(
        True, help="Longer items allow more: max(base, floor(base x minutes / 30))")


@attrs.frozen
class LaughReceivedConfig:
    """chat.laugh_received"""

    enabled: bool = _enabled()
    hidden: bool = _hidden()
    reward_per_laugher: float = setting(
        2.0, validator=_reward,
        help="Paid to the sender of the last non-laugh line per distinct laugher")
    max_laughers_per_joke: int = setting(
        10, validator=_positive(10_000),
        help="Laughers paid per joke teller per rolling 5 minutes")


@attrs.frozen
class KudosReceivedConfig:
    """chat.kudos_received"""

    enabled: bool = _enabled()
    hidden: bool = _hidden()
    reward: float = setting(3.0, validator=_reward,
                            help="Paid to the target of each `name++` (once per target per line)")
    recent_minutes: int = setting(
        30, validator=_positive(100_000),
        help="A target must have an account and be present or have left at most this many "
             "minutes ago")
    max_per_hour_same_user: int = setting(
        5, validator=_positive(10_000),
        help="Kudos paid per giver -> target pair per rolling hour")


@attrs.frozen
class GreetedNewcomerConfig:
    """social.greeted_newcomer"""

    enabled: bool = _enabled()
    hidden: bool = _hidden()
    window_seconds: int = setting(
        60, validator=_positive(86_400),
        help="A line naming a user who genuinely joined this many seconds ago or less pays "
             "(genuine as the presence plugin judges arrivals: its join_debounce_minutes; "
             "without presence enabled nobody is a newcomer)")
    reward: float = setting(3.0, validator=_reward, help="Paid to the first greeter")
    bot_joins_excluded: bool = setting(
        True, help="Greeting the bot_interaction bot when it joins pays nothing")


@attrs.frozen
class MentionedByOtherConfig:
    """social.mentioned_by_other"""

    enabled: bool = _enabled()
    hidden: bool = _hidden()
    reward: float = setting(1.0, validator=_reward,
                            help="Paid to a present user named (as a whole word) by someone else")
    max_per_hour_same_user: int = setting(
        5, validator=_positive(10_000),
        help="Mentions paid per sender -> target pair per rolling hour")


@attrs.frozen
class BotInteractionConfig:
    """social.bot_interaction"""

    enabled: bool = _enabled()
    hidden: bool = _hidden()
    reward: float = setting(2.0, validator=_reward,
                            help="Paid to the previous human speaker when a chat bot answers")
    max_per_day: int = setting(10, validator=_positive(10_000),
                               help="Bot interactions paid per user per day")
    bot_username: str = setting(
        "", validator=_bot_name,
        help="A chat bot with its own account whose lines also count as answers (empty: only "
             "lines another service sends through the economy bot's own account count); it must "
             "not be the economy bot nor in ignored_users")


@attrs.frozen
class LikeCurrentConfig:
    """content.like_current"""

    enabled: bool = _enabled()
    hidden: bool = _hidden()
    reward: float = setting(2.0, validator=_reward,
                            help="Paid for PM `like` while media plays (once per user per item)")


@attrs.frozen
class SurvivedFullMediaConfig:
    """content.survived_full_media"""

    enabled: bool = _enabled()
    hidden: bool = _hidden()
    min_presence_percent: int = setting(
        80, validator=_positive(100),
        help="At a media change, the previous item must have played this % of its duration")
    reward: float = setting(
        5.0, validator=_reward,
        help="Paid to everyone present at the item's start and still present at its end")


@attrs.frozen
class PresentAtEventStartConfig:
    """content.present_at_event_start"""

    enabled: bool = _enabled()
    hidden: bool = _hidden()
    default_reward: float = setting(
        100.0, validator=_reward,
        help="Paid to everyone present when an event starts, unless the event sets its own")


@attrs.frozen
class ChatTriggersConfig:
    long_message: LongMessageConfig = setting(
        factory=LongMessageConfig, help="chat.long_message: long chat lines")
    first_message_of_day: FirstMessageConfig = setting(
        factory=FirstMessageConfig, help="chat.first_message_of_day: a user's first line today")
    conversation_starter: ConversationStarterConfig = setting(
        factory=ConversationStarterConfig,
        help="chat.conversation_starter: the first line after a silence")
    first_after_media_change: FirstAfterMediaConfig = setting(
        factory=FirstAfterMediaConfig,
        help="chat.first_after_media_change: the first line after a new item starts")
    comment_during_media: CommentDuringMediaConfig = setting(
        factory=CommentDuringMediaConfig,
        help="content.comment_during_media: chatting while something plays")
    laugh_received: LaughReceivedConfig = setting(
        factory=LaughReceivedConfig, help="chat.laugh_received: making others laugh")
    kudos_received: KudosReceivedConfig = setting(
        factory=KudosReceivedConfig, help="chat.kudos_received: `name++` from someone else")
    greeted_newcomer: GreetedNewcomerConfig = setting(
        factory=GreetedNewcomerConfig,
        help="social.greeted_newcomer: greeting a user who just arrived, by name")
    mentioned_by_other: MentionedByOtherConfig = setting(
        factory=MentionedByOtherConfig,
        help="social.mentioned_by_other: being named by someone else")
    bot_interaction: BotInteractionConfig = setting(
        factory=BotInteractionConfig,
        help="social.bot_interaction: getting an answer from a chat bot")
    like_current: LikeCurrentConfig = setting(
        factory=LikeCurrentConfig, help="content.like_current: PM `like` for what plays")
    survived_full_media: SurvivedFullMediaConfig = setting(
        factory=SurvivedFullMediaConfig,
        help="content.survived_full_media: watching an item from start to end")
    present_at_event_start: PresentAtEventStartConfig = setting(
        factory=PresentAtEventStartConfig,
        help="content.present_at_event_start: being here when an event begins (events come "
             "from an events plugin)")
