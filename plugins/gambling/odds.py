"""Pure game math: the ledger-free roll functions every game uses, and expected returns.

Nothing here touches the database, the clock or a random source: a roll ``r`` in [0, 1) goes in,
an outcome comes out. The plugin draws ``r`` from its one random source and calls these same
functions, so the expected returns computed here are the returns of the real code path (a seeded
Monte-Carlo test checks it).

Expected return = what a wager of 1 pays back on average (1.0 = break-even; below 1 is the house
edge). The returns are computed exactly as the roll functions behave, also for a table whose
probabilities do not sum to 1 (rows past a cumulative 1 are never reached; a remainder below 1
is a loss).

The retuned defaults (SPEC §7 "open"):

- slots: 0.08×3 + 0.04×5 + 0.015×10 + 0.002×50 + 0.13×2 + 0.733×0 = 0.95;
- flip: 0.45 × 2 = 0.90;
- duel: each player gets back (1 − rake) of the pot on average: 0.95 at 5 %;
- heist, crew n: s × (m + (n−1)·b) + p × (1 − fee) with s = 0.35, p = 0.15, fee = 0.05,
  m = 1.9, b = 0.05: 0.8075 (n = 1) … 0.8425 (n = 3) … 0.965 (n = 10); a crew of 12 would break
  even, so ``max_participants`` is 10. The seed values (s = 0.40, m = 1.5, b = 0.25) returned
  1.0425 from n = 4 on.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Literal

import attrs

from economy_core import ConfigNote

if TYPE_CHECKING:
    from .config import GamblingConfig, HeistConfig, SlotPayout

JACKPOT_MULTIPLIER = 50.0
"""A slot row paying at least this many times the wager is a jackpot."""
FLIP_MULTIPLIER = 2
"""Heads pays twice the wager (the coin's odds, not its payout, set the house edge)."""
DUEL_CHALLENGER_WINS_BELOW = 0.5
"""A duel roll below this makes the challenger the winner: 50/50."""
PROBABILITY_TOLERANCE = 0.01
"""Slot probabilities must sum to 1 within this, or start-up and reload warn (G8)."""

HeistOutcome = Literal["success", "push", "bust"]


def _dec(value: float) -> Decimal:
    """A config float as the decimal the operator wrote (0.1 stays 0.1, not 0.1000…055)."""
    return Decimal(repr(float(value)))


def scaled(wager: int, factor: float | Decimal) -> int:
    """floor(wager × factor), computed in decimal so 100 × (1.9 + 2 × 0.05) is exactly 200."""
    exact = Decimal(wager) * (factor if isinstance(factor, Decimal) else _dec(factor))
    return int(exact.to_integral_value(rounding=ROUND_FLOOR))


# -- slots ------------------------------------------------------------------------------------


def roll_slot(table: Sequence[SlotPayout], r: float) -> SlotPayout | None:
    """The row a roll lands on: the first whose cumulative probability is >= r, or None (a loss
    paying nothing) when the roll lies past the table's total probability."""
    cumulative = 0.0
    for row in table:
        cumulative += row.probability
        if cumulative >= r:
            return row
    return None


def slot_payout(row: SlotPayout | None, wager: int) -> int:
    """What a spin on ``row`` pays for ``wager`` (0 for a roll past the table)."""
    return 0 if row is None else scaled(wager, row.multiplier)


def is_jackpot(row: SlotPayout | None) -> bool:
    return row is not None and row.multiplier >= JACKPOT_MULTIPLIER


def slot_distribution(table: Sequence[SlotPayout]) -> list[tuple[SlotPayout | None, float]]:
    """Each row with the probability :func:`roll_slot` really gives it (rows beyond a cumulative
    1 get 0), then ``(None, rest)`` for rolls past the table when the total is below 1."""
    out: list[tuple[SlotPayout | None, float]] = []
    cumulative = 0.0
    reached = 0.0
    for row in table:
        cumulative += row.probability
        top = min(max(cumulative, 0.0), 1.0)
        out.append((row, max(0.0, top - reached)))
        reached = max(reached, top)
    if reached < 1.0:
        out.append((None, 1.0 - reached))
    return out


def slot_probability_sum(table: Sequence[SlotPayout]) -> float:
    return sum(row.probability for row in table)


def spin_return(table: Sequence[SlotPayout], wager: int | None = None) -> float:
    """Expected payout per unit wagered. With ``wager`` the payouts are floored as paid;
    without, the multipliers are taken as they are (equal for whole multipliers)."""
    total = 0.0
    for row, p in slot_distribution(table):
        if row is None:
            continue
        total += p * (slot_payout(row, wager) / wager if wager else row.multiplier)
    return total


def spin_variance(table: Sequence[SlotPayout]) -> float:
    """Variance of the return of one spin (per unit wagered)."""
    mean = spin_return(table)
    square = sum(p * row.multiplier ** 2 for row, p in slot_distribution(table) if row)
    return square - mean * mean


# -- flip -------------------------------------------------------------------------------------


def roll_flip(win_chance: float, r: float) -> bool:
    """Heads (a win) when r < win_chance."""
    return r < win_chance


def flip_payout(won: bool, wager: int) -> int:
    return wager * FLIP_MULTIPLIER if won else 0


def flip_return(win_chance: float) -> float:
    return min(max(win_chance, 0.0), 1.0) * FLIP_MULTIPLIER


# -- duel -------------------------------------------------------------------------------------


def duel_challenger_wins(r: float) -> bool:
    return r < DUEL_CHALLENGER_WINS_BELOW


@attrs.frozen
class DuelPot:
    pot: int
    rake: int
    prize: int


def duel_pot(wager: int, rake_percent: int) -> DuelPot:
    """Pot 2w; rake floor(pot × rake% / 100); the winner gets the rest."""
    pot = 2 * wager
    rake = pot * rake_percent // 100
    return DuelPot(pot, rake, pot - rake)


def duel_return(rake_percent: int) -> float:
    """Per player, on average: half the time the pot minus the rake, per unit wagered."""
    return (100 - rake_percent) / 100


# -- heist ------------------------------------------------------------------------------------


def heist_multiplier(cfg: HeistConfig, crew: int) -> Decimal:
    """What success pays per unit of buy-in for a crew of ``crew``."""
    return _dec(cfg.payout_multiplier) + (crew - 1) * _dec(cfg.crew_bonus_per_player)


def heist_push_factor(cfg: HeistConfig) -> Decimal:
    return Decimal(1) - _dec(cfg.push_fee_pct)


def roll_heist(cfg: HeistConfig, r: float) -> HeistOutcome:
    """r < success_chance: success; r < success + push: push; else bust (everyone loses)."""
    if r < cfg.success_chance:
        return "success"
    if r < cfg.success_chance + cfg.push_chance:
        return "push"
    return "bust"


def heist_payout(cfg: HeistConfig, outcome: HeistOutcome, crew: int, wager: int) -> int:
    """What each crew member gets back for ``outcome``."""
    if outcome == "success":
        return scaled(wager, heist_multiplier(cfg, crew))
    if outcome == "push":
        return scaled(wager, heist_push_factor(cfg))
    return 0


def heist_return(cfg: HeistConfig, crew: int) -> float:
    """Expected payback per unit of buy-in for a crew of ``crew`` (as :func:`roll_heist`
    splits the roll)."""
    success = min(max(cfg.success_chance, 0.0), 1.0)
    push = min(max(cfg.success_chance + cfg.push_chance, 0.0), 1.0) - success
    return (success * float(heist_multiplier(cfg, crew))
            + max(push, 0.0) * float(heist_push_factor(cfg)))


# -- the whole config -------------------------------------------------------------------------


def warnings(cfg: GamblingConfig) -> list[str]:
    """G8: what start-up and reload must warn about (each line names its game). Only the games
    the house banks (spin, flip, heist) can lose the house money; a duel moves money between two
    players and never returns more than 1."""
    out = []
    table = cfg.spin.payouts
    total = slot_probability_sum(table)
    if abs(total - 1.0) > PROBABILITY_TOLERANCE:
        out.append(f"gambling.spin: the slot probabilities sum to {total:.4f}, not 1 ± "
                   f"{PROBABILITY_TOLERANCE} (rolls past the table lose; rows past 1 are never "
                   "reached)")
    ret = spin_return(table)
    if ret >= 1.0:
        out.append(f"gambling.spin: the slot table's expected return is {ret:.4f} >= 1.0: "
                   "players win money from the house on average")
    ret = flip_return(cfg.flip.win_chance)
    if ret >= 1.0:
        out.append(f"gambling.flip: expected return {ret:.4f} >= 1.0 (win_chance "
                   f"{cfg.flip.win_chance} x {FLIP_MULTIPLIER})")
    heist = cfg.heist
    bad = [(n, heist_return(heist, n))
           for n in range(heist.min_participants, heist.max_participants + 1)
           if heist_return(heist, n) >= 1.0]
    if bad:
        sizes = ", ".join(f"{n}: {r:.4f}" for n, r in bad)
        out.append(f"gambling.heist: expected return >= 1.0 for crew size(s) {sizes}")
    return out


def review(cfg: GamblingConfig) -> list[ConfigNote]:
    """The config review (G8): a game that returns >= 1.0 is an error unless the operator set
    ``allow_house_loss``, then a warning; a slot table whose probabilities are not 1 ± tolerance
    is a warning."""
    notes = []
    for line in warnings(cfg):
        game, _, text = line.partition(": ")
        losing = ">= 1.0" in text
        error = losing and not cfg.allow_house_loss
        if error:
            text += " (set plugins.gambling.allow_house_loss = true to run it anyway)"
        notes.append(ConfigNote(f"plugins.{game}", text, error=error))
    return notes


def report(cfg: GamblingConfig) -> str:
    """Every game's expected return, as ``cytube-economy gambling odds`` prints it."""
    table = cfg.spin.payouts
    lines = ["Expected return per 1 wagered (1.0 = break-even; below 1 = house edge)", ""]
    lines.append(f"spin        {spin_return(table):.4f}   (probabilities sum to "
                 f"{slot_probability_sum(table):.4f})")
    for row, p in slot_distribution(table):
        name = "past the table (loss)" if row is None else row.symbols
        mult = 0.0 if row is None else row.multiplier
        tag = "  jackpot" if is_jackpot(row) else ""
        lines.append(f"    {name:<22} x{mult:<7g} p={p:.4f}  adds {p * mult:.4f}{tag}")
    free = cfg.daily_free_spin
    lines.append(f"free spin   pays {spin_return(table) * free.equivalent_wager:.1f} on average "
                 f"(as a {free.equivalent_wager} wager, once a day)")
    lines.append(f"flip        {flip_return(cfg.flip.win_chance):.4f}   (win_chance "
                 f"{cfg.flip.win_chance}, heads pays x{FLIP_MULTIPLIER})")
    lines.append(f"challenge   {duel_return(cfg.challenge.rake_percent):.4f}   (player vs player, "
                 f"rake {cfg.challenge.rake_percent} %)")
    heist = cfg.heist
    lines.append(f"heist       (crew {heist.min_participants}-{heist.max_participants} goes; "
                 "smaller crews are refunded)")
    for n in range(1, heist.max_participants + 1):
        plays = "" if n >= heist.min_participants else "  (refunded: below min_participants)"
        lines.append(f"    crew {n:>2}: {heist_return(heist, n):.4f}   success pays "
                     f"x{heist_multiplier(heist, n)}{plays}")
    found = warnings(cfg)
    if found:
        lines.append("")
        lines.extend(f"WARNING {w}" for w in found)
    return "\n".join(lines)
