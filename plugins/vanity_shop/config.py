"""``[plugins.vanity_shop]``: what the shop sells, at what base price, and its public wording.

Prices are base prices: what a user pays comes from ``ctx.pricing.quote`` (a rank's discount,
an inflation factor; the shop shows "was X" when it is lower). The item tables keep the SPEC's
names (``custom_greeting``, ``custom_title``, ``chat_color``, ``channel_gif``, ``shoutout``,
``daily_fortune``, ``rename_currency_personal``); users buy them by their short words
(``buy greeting|title|color|gif|rename|shoutout``, ``shoutout``, ``fortune``).
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from economy_core import MAX_AMOUNT, setting, template_validator

from .contrast import parse_hex

GREETING_FIELDS = ("greeting",)
"""Placeholders of the public greeting line (SPEC §2.6 ``greeting``)."""
SHOUTOUT_FIELDS = ("user", "message")
"""Placeholders of the public shoutout line."""


def _cost(_instance: Any, _attribute: Any, value: int) -> None:
    if not 1 <= value <= MAX_AMOUNT:
        raise ValueError(f"must be between 1 and {MAX_AMOUNT:,}, got {value}")


def _length(high: int) -> Any:
    def check(_instance: Any, _attribute: Any, value: int) -> None:
        if not 1 <= value <= high:
            raise ValueError(f"must be between 1 and {high}, got {value}")
    return check


def _hex(_instance: Any, _attribute: Any, value: str) -> None:
    if parse_hex(value) is None:
        raise ValueError(f"expected a colour as #RGB or #RRGGBB, got {value!r}")


def _lc(_instance: Any, _attribute: Any, value: float) -> None:
    if not 0 <= value <= 110:
        raise ValueError(f"must be between 0 and 110 (APCA Lc), got {value}")


def _warn_not_below_min(instance: Any, attribute: Any, value: float) -> None:
    _lc(instance, attribute, value)
    if value < instance.min_contrast_lc:
        raise ValueError(f"must be >= min_contrast_lc ({instance.min_contrast_lc}), got {value}")


def _palette_valid(_instance: Any, _attribute: Any, value: list[PaletteColour]) -> None:
    names = [c.name.casefold() for c in value]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"colour names listed more than once: {', '.join(twice)}")


def _fortunes_valid(_instance: Any, _attribute: Any, value: list[str]) -> None:
    if not value or any(not f.strip() for f in value):
        raise ValueError("needs at least one fortune, none of them empty")


_COLOUR_NAME = re.compile(r"[A-Za-z][A-Za-z0-9 '-]{0,29}")


def _colour_name(_instance: Any, _attribute: Any, value: str) -> None:
    if not _COLOUR_NAME.fullmatch(value):
        raise ValueError(f"a colour name is 1-30 letters, digits, spaces, ' or -: {value!r}")


@attrs.frozen
class PaletteColour:
    """A pre-approved chat colour users may buy by name (any case)."""

    name: str = setting(validator=_colour_name, help="The colour's name")
    hex: str = setting(validator=_hex, help="Its value, #RRGGBB")


def default_palette() -> list[PaletteColour]:
    """SPEC §3.8's palette."""
    return [PaletteColour("Crimson", "#DC143C"), PaletteColour("Gold", "#FFD700"),
            PaletteColour("Emerald", "#50C878"), PaletteColour("Royal Blue", "#4169E1"),
            PaletteColour("Orchid", "#DA70D6"), PaletteColour("Coral", "#FF7F50"),
            PaletteColour("Teal", "#008080"), PaletteColour("Silver Screen", "#C0C0C0")]


DEFAULT_FORTUNES = (
    "A plot twist is coming. You will see it before everyone else.",
    "The next video you queue will be somebody's new favourite.",
    "Your popcorn will last exactly as long as the film.",
    "Someone in this room laughs at your jokes more than they admit.",
    "Tonight the subtitles will be in sync. Treasure it.",
    "A forgotten classic will find you this week.",
    "Fortune favours the one who stays for the credits.",
    "Your next coin flip is just a coin flip. Choose wisely anyway.",
    "The buffering wheel fears you.",
    "A stranger's recommendation will surprise you.",
    "Today is a good day to say hello to a newcomer.",
    "Patience: the best scene is always after the slow part.",
    "You will quote a movie line at exactly the right moment.",
    "Luck comes to those who are here when it rains.",
    "Your streak is stronger than you think.",
    "A sequel you doubted will be better than the original.",
    "The chat will remember your best pun for a long time.",
    "Something you skipped deserves a second look.",
)
"""Shipped fortunes (SPEC §3.8: at least 15)."""


@attrs.frozen
class GreetingItem:
    enabled: bool = setting(True, help="Sell `buy greeting <text>`")
    cost: int = setting(500, validator=_cost, help="Base price")
    max_length: int = setting(200, validator=_length(400), help="Longest greeting (characters)")
    description: str = setting("posted in chat when you arrive",
                               help="What the shop says the item is")


@attrs.frozen
class TitleItem:
    enabled: bool = setting(True, help="Sell `buy title <text>`")
    cost: int = setting(1000, validator=_cost, help="Base price")
    max_length: int = setting(100, validator=_length(200), help="Longest title (characters)")
    description: str = setting("shown by your name in announcements: name [title]",
                               help="What the shop says the item is")


@attrs.frozen
class ColourItem:
    enabled: bool = setting(True, help="Sell `buy color <palette name or #hex>`")
    cost: int = setting(750, validator=_cost, help="Base price")
    description: str = setting("your chat colour (a palette name or a readable #hex)",
                               help="What the shop says the item is")
    enforce_contrast: bool = setting(
        True, help="Check #hex colours against contrast_bg (APCA-W3 0.1.9, weighted against "
                   "reds); palette colours are always allowed")
    contrast_bg: str = setting("#111111", validator=_hex,
                               help="The chat background the colours are read on")
    min_contrast_lc: float = setting(30.0, validator=_lc,
                                     help="Below this score a #hex colour is refused, nothing "
                                          "charged")
    warn_contrast_lc: float = setting(40.0, validator=_warn_not_below_min,
                                      help="Below this score it is sold with a warning")
    palette: list[PaletteColour] = setting(factory=default_palette, validator=_palette_valid,
                                           help="Colours sold by name")


@attrs.frozen
class GifItem:
    enabled: bool = setting(True, help="Sell `buy gif <http(s) url>`")
    cost: int = setting(5000, validator=_cost, help="Base price")
    description: str = setting("your channel GIF (an admin approves it first)",
                               help="What the shop says the item is")
    requires_admin_approval: bool = setting(
        True, help="Hold the charge until an admin approves (approve_gif/reject_gif, or the "
                   "core's approve/reject); refunded in full if rejected")


@attrs.frozen
class ShoutoutItem:
    enabled: bool = setting(True, help="Sell `shoutout <message>` (also `buy shoutout`)")
    cost: int = setting(50, validator=_cost, help="Base price")
    max_length: int = setting(200, validator=_length(400), help="Longest message (characters)")
    cooldown_minutes: int = setting(60, validator=attrs.validators.ge(0),
                                    help="Minutes between one user's shoutouts (checked before "
                                         "charging; 0 = none)")
    description: str = setting("a message posted in public chat",
                               help="What the shop says the item is")


@attrs.frozen
class FortuneItem:
    enabled: bool = setting(True, help="Sell `fortune` (once a day per user)")
    cost: int = setting(10, validator=_cost, help="Base price (free once a day with the "
                                                   "free_fortune allowance, a rank perk)")
    description: str = setting("today's fortune, once a day", help="What the shop says it is")
    fortunes: list[str] = setting(factory=lambda: list(DEFAULT_FORTUNES),
                                  validator=_fortunes_valid,
                                  help="The fortunes; a user's fortune of the day is chosen by "
                                       "a hash of their name and the date")


@attrs.frozen
class RenameItem:
    enabled: bool = setting(True, help="Sell `buy rename <name>`")
    cost: int = setting(2500, validator=_cost, help="Base price")
    description: str = setting("your own name for the currency, in balance and profile",
                               help="What the shop says the item is")


@attrs.frozen
class VanityShopConfig:
    """Vanity items, shoutouts, fortunes and custom greetings (SPEC §3.8)."""

    custom_greeting: GreetingItem = setting(factory=GreetingItem, help="Custom greeting")
    custom_title: TitleItem = setting(factory=TitleItem, help="Title shown by your name")
    chat_color: ColourItem = setting(factory=ColourItem, help="Chat colour")
    channel_gif: GifItem = setting(factory=GifItem, help="Channel GIF (approved by an admin)")
    shoutout: ShoutoutItem = setting(factory=ShoutoutItem, help="Paid public shoutout")
    daily_fortune: FortuneItem = setting(factory=FortuneItem, help="Fortune of the day")
    rename_currency_personal: RenameItem = setting(factory=RenameItem,
                                                   help="Personal currency name")
    greeting_absence_minutes: int = setting(
        60, validator=attrs.validators.ge(0),
        help="An owned greeting is posted on a genuine arrival after at least this long away "
             "(a first visit counts)")
    greeting_flush_seconds: float = setting(
        3.0, validator=attrs.validators.ge(0.0),
        help="Greetings are posted this long after the last arrival queued one; several "
             "become one line joined by ' | '")
    greeting_template: str = setting(
        "👋 {greeting}", validator=template_validator(GREETING_FIELDS),
        help="The public greeting line; {greeting} is one greeting, or several joined by ' | '")
    shoutout_template: str = setting(
        "📢 {user}: {message}", validator=template_validator(SHOUTOUT_FIELDS),
        help="The public shoutout line; placeholders {user} {message}")
