"""``[plugins.gambling]``: every game's limits, odds and public lines (SPEC §3.6, §2.6).

Every number that decides money lives here (integrity rule G4) and every key is read by the code
(G5). Two defaults differ from the SPEC's seed table on purpose (SPEC §7 "open: retune"): the slot
table is retuned to return 0.95 of the wager (the seed returned 1.15), and the heist's success
chance and multipliers are retuned so a heist returns less than the buy-in for every crew size up
to ``max_participants`` (the seed returned more than 1 from a crew of 4). ``odds.py`` shows the
math; ``cytube-economy gambling odds`` prints it for a config.
"""

from __future__ import annotations

from typing import Any

import attrs

from economy_core import setting, template_validator

MAX_WAGER = 10**9
"""The largest wager any game may be configured to accept."""

PLAYER_FIELDS = ("user", "amount", "currency")
"""Placeholders of the one-player win lines (SPEC §2.6 ``jackpot``, ``flip_win`` ...)."""
CHALLENGE_FIELDS = ("winner", "loser", "amount", "currency", "wager", "rake")
"""Placeholders of ``challenge_win``: SPEC §2.6's four plus the wager and the rake."""


def _probability(_instance: Any, _attribute: Any, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be between 0 and 1, got {value}")


def _not_negative(_instance: Any, _attribute: Any, value: float) -> None:
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")


def _wager_bound(_instance: Any, _attribute: Any, value: int) -> None:
    if not 1 <= value <= MAX_WAGER:
        raise ValueError(f"must be between 1 and {MAX_WAGER:,}, got {value}")


def _max_not_below_min(instance: Any, attribute: Any, value: int) -> None:
    _wager_bound(instance, attribute, value)
    if value < instance.min_wager:
        raise ValueError(f"must be >= min_wager ({instance.min_wager}), got {value}")


def _crew_bound(instance: Any, _attribute: Any, value: int) -> None:
    if value < instance.min_participants:
        raise ValueError(f"must be >= min_participants ({instance.min_participants}), got {value}")


def _symbols_valid(_instance: Any, _attribute: Any, value: str) -> None:
    if not value.strip():
        raise ValueError("must not be empty (three symbols, or 'partial' or 'loss')")


def _table_valid(_instance: Any, _attribute: Any, value: list[SlotPayout]) -> None:
    if not value:
        raise ValueError("the slot table needs at least one row")


@attrs.frozen
class SlotPayout:
    """One row of the slot table. Rows are tried in order: a roll r in [0, 1) lands on the first
    row whose cumulative probability is >= r; a roll past the last row is a loss."""

    symbols: str = setting(validator=_symbols_valid,
                           help="Three symbols shown for this row, or 'partial' (two equal + one "
                                "other) or 'loss' (three different)")
    multiplier: float = setting(validator=_not_negative,
                                help="Payout = floor(wager x multiplier); 50 or more is a jackpot")
    probability: float = setting(validator=_probability, help="Chance of this row (0-1)")


def default_slot_table() -> list[SlotPayout]:
    """The shipped table: the SPEC's symbols, retuned to an expected return of exactly 0.95
    (0.08×3 + 0.04×5 + 0.015×10 + 0.002×50 + 0.13×2 = 0.95)."""
    return [
        SlotPayout("🍒🍒🍒", 3.0, 0.08),
        SlotPayout("🍋🍋🍋", 5.0, 0.04),
        SlotPayout("💎💎💎", 10.0, 0.015),
        SlotPayout("7️⃣7️⃣7️⃣", 50.0, 0.002),
        SlotPayout("partial", 2.0, 0.13),
        SlotPayout("loss", 0.0, 0.733),
    ]


@attrs.frozen
class SpinConfig:
    enabled: bool = setting(True, help="Offer `spin <wager>` (the slot machine)")
    min_wager: int = setting(10, validator=_wager_bound, help="Smallest spin wager")
    max_wager: int = setting(500, validator=_max_not_below_min, help="Largest spin wager")
    cooldown_seconds: int = setting(30, validator=attrs.validators.ge(0),
                                    help="Seconds a user waits between spins (0 = none)")
    daily_limit: int = setting(50, validator=attrs.validators.ge(0),
                               help="Spins per user per day (0 = no limit)")
    announce_jackpots_public: bool = setting(
        True, help="Announce big spin payouts (and big free-spin payouts) in public chat")
    jackpot_announce_threshold: int = setting(
        500, validator=attrs.validators.ge(0),
        help="A payout at least this big (and at least announcements.jackpot_min_amount) is "
             "announced as a jackpot, always")
    payouts: list[SlotPayout] = setting(factory=default_slot_table, validator=_table_valid,
                                        help="The slot table (rows tried in order)")


@attrs.frozen
class FlipConfig:
    enabled: bool = setting(True, help="Offer `flip <wager>` (heads pays 2x, tails loses)")
    min_wager: int = setting(10, validator=_wager_bound, help="Smallest flip wager")
    max_wager: int = setting(1000, validator=_max_not_below_min, help="Largest flip wager")
    win_chance: float = setting(0.45, validator=_probability,
                                help="Chance of heads (2x); 0.45 is a 10 % house edge")
    cooldown_seconds: int = setting(15, validator=attrs.validators.ge(0),
                                    help="Seconds a user waits between flips (0 = none)")
    daily_limit: int = setting(100, validator=attrs.validators.ge(0),
                               help="Flips per user per day (0 = no limit)")


@attrs.frozen
class ChallengeConfig:
    enabled: bool = setting(True, help="Offer `challenge @user <wager>` duels (50/50)")
    min_wager: int = setting(50, validator=_wager_bound, help="Smallest duel wager")
    max_wager: int = setting(5000, validator=_max_not_below_min, help="Largest duel wager")
    accept_timeout_seconds: int = setting(
        120, validator=attrs.validators.ge(1),
        help="Seconds the challenged user has to accept; then the stake is refunded")
    rake_percent: int = setting(5, validator=[attrs.validators.ge(0), attrs.validators.le(100)],
                                help="Percent of the pot (2x wager) the house keeps")
    announce_public: bool = setting(True, help="Announce each duel's result in public chat")


@attrs.frozen
class DailyFreeSpinConfig:
    enabled: bool = setting(True, help="`spin` alone is one free spin a day")
    equivalent_wager: int = setting(50, validator=_wager_bound,
                                    help="The free spin pays as if this much was wagered")


@attrs.frozen
class HeistConfig:
    enabled: bool = setting(False, help="Offer channel heists: `heist <wager>`, others say join")
    min_participants: int = setting(3, validator=attrs.validators.ge(1),
                                    help="Smallest crew that goes; fewer = everyone refunded")
    max_participants: int = setting(
        10, validator=_crew_bound,
        help="Largest crew; with the shipped odds every crew size up to 10 returns < 1")
    join_window_seconds: int = setting(120, validator=attrs.validators.ge(1),
                                       help="Seconds others have to say join in public chat")
    success_chance: float = setting(0.35, validator=_probability,
                                    help="Chance the heist succeeds (retuned from 0.40)")
    push_chance: float = setting(0.15, validator=_probability,
                                 help="Chance of a push: everyone gets the buy-in back minus "
                                      "push_fee_pct")
    push_fee_pct: float = setting(0.05, validator=_probability,
                                  help="Fraction (0-1) of the buy-in kept on a push")
    payout_multiplier: float = setting(1.9, validator=_not_negative,
                                       help="Success pays floor(wager x (this + (crew-1) x "
                                            "crew_bonus_per_player)) (retuned from 1.5)")
    crew_bonus_per_player: float = setting(0.05, validator=_not_negative,
                                           help="Extra multiplier per crew member beyond the "
                                                "first (retuned from 0.25)")
    cooldown_seconds: int = setting(180, validator=attrs.validators.ge(0),
                                    help="Seconds after a heist before the next one may start")
    min_wager: int = setting(20, validator=_wager_bound, help="Smallest buy-in")
    max_wager: int = setting(5000, validator=_max_not_below_min, help="Largest buy-in")
    announce_public: bool = setting(
        True, help="Narrate the heist's outcome in public chat (the start and joins are always "
                   "announced: the crew is gathered there)")


@attrs.frozen
class AnnouncementsConfig:
    """Public lines (SPEC §2.6): wording free, placeholders fixed."""

    jackpot_min_amount: int = setting(
        500, validator=attrs.validators.ge(0),
        help="Jackpot lines need at least this payout (the higher of this and "
             "spin.jackpot_announce_threshold applies)")
    announce_wins: bool = setting(
        True, help="Announce ordinary (non-jackpot) wins of spin, flip and free spin")
    win_gap_minutes: int = setting(
        60, validator=attrs.validators.ge(0),
        help="After the day's first announced win, the next ordinary win is announced only this "
             "long after the last one, or when it beats today's best")
    jackpot: str = setting("🎰 JACKPOT! {user} just won {amount} {currency}!",
                           validator=template_validator(PLAYER_FIELDS),
                           help="Jackpot line; placeholders {user} {amount} {currency}")
    spin_win: str = setting("🎰 {user} won {amount} {currency} on the slots.",
                            validator=template_validator(PLAYER_FIELDS),
                            help="Ordinary spin win; placeholders {user} {amount} {currency}")
    flip_win: str = setting("🪙 Heads! {user} won {amount} {currency} on a coin flip.",
                            validator=template_validator(PLAYER_FIELDS),
                            help="Flip win; placeholders {user} {amount} {currency}")
    free_spin_win: str = setting("🎁 {user}'s free spin paid {amount} {currency}.",
                                 validator=template_validator(PLAYER_FIELDS),
                                 help="Free spin win; placeholders {user} {amount} {currency}")
    challenge_win: str = setting(
        "⚔️ {winner} beat {loser} in a {wager} duel and takes {amount} {currency} "
        "(rake {rake}).",
        validator=template_validator(CHALLENGE_FIELDS),
        help="Duel result; placeholders {winner} {loser} {amount} {currency} {wager} {rake}")


@attrs.frozen
class GamblingConfig:
    enabled: bool = setting(True, help="Gambling on/off for every game")
    allow_house_loss: bool = setting(
        False, help="Run even with a game table whose expected return is >= 1.0 (players win "
                    "from the house on average); without it such a table stops start-up")
    min_account_age_minutes: int = setting(
        60, validator=attrs.validators.ge(0),
        help="Minutes since the bot first saw a user before they may gamble (start, join, "
             "accept)")
    spin: SpinConfig = setting(factory=SpinConfig, help="The slot machine")
    flip: FlipConfig = setting(factory=FlipConfig, help="Coin flip")
    challenge: ChallengeConfig = setting(factory=ChallengeConfig, help="Duels between two users")
    daily_free_spin: DailyFreeSpinConfig = setting(factory=DailyFreeSpinConfig,
                                                   help="One free spin a day")
    heist: HeistConfig = setting(factory=HeistConfig, help="Channel heists (off by default)")
    announcements: AnnouncementsConfig = setting(factory=AnnouncementsConfig,
                                                 help="Public chat lines about games")
