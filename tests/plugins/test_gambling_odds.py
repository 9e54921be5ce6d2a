"""The house edge: shipped odds, the roll functions measured against the computed returns
(seeded Monte-Carlo), the real code path using those functions, G8 warnings at start-up and
reload, and ``cytube-economy gambling odds``."""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path

import attrs
import pytest
from economy_plugins.gambling import Gambling, GamblingConfig, odds
from economy_plugins.gambling.config import HeistConfig, SlotPayout
from economy_plugins.gambling.plugin import run_odds
from economy_plugins.gambling.rolls import ScriptedRolls, SeededRolls

from economy_core import cli
from economy_core.config import ConfigError
from economy_core.manager import PluginInfo
from economy_core.testing import MakeApp, build_config

from .test_gambling_kit import CHANNEL, SPEC_SLOT_TABLE, gambling_app, plugin

SPEC_TABLE = [SlotPayout(r["symbols"], float(r["multiplier"]), r["probability"])
              for r in SPEC_SLOT_TABLE]
SEED_HEIST = HeistConfig(success_chance=0.40, payout_multiplier=1.5, crew_bonus_per_player=0.25)
"""The SPEC §3.6 seed heist values."""
MONTE_CARLO_N = 200_000
SIGMAS = 4.0
"""Tolerance of the Monte-Carlo checks: 4 standard errors of the mean (seeded, so the run is
reproducible; 4σ would fail by chance about once in 16,000 seeds)."""


# -- shipped odds -------------------------------------------------------------------------------


def test_shipped_slot_table_returns_095_and_keeps_the_symbols() -> None:
    table = GamblingConfig().spin.payouts
    assert abs(odds.spin_return(table) - 0.95) <= 0.01
    assert abs(odds.slot_probability_sum(table) - 1.0) < 1e-9
    assert [r.symbols for r in table] == [r.symbols for r in SPEC_TABLE]
    sevens = next(r for r in table if r.symbols == "7️⃣7️⃣7️⃣")
    assert sevens.multiplier >= odds.JACKPOT_MULTIPLIER and odds.is_jackpot(sevens)
    for wager in range(10, 501):  # whole multipliers: flooring costs nothing
        assert odds.spin_return(table, wager) == pytest.approx(0.95)


def test_the_seed_table_returned_115() -> None:
    assert odds.spin_return(SPEC_TABLE) == pytest.approx(1.15)


def test_heists_return_below_one_for_every_crew_up_to_ten() -> None:
    heist = HeistConfig()
    for crew in range(1, 11):
        assert odds.heist_return(heist, crew) < 1.0, crew
    # the math of odds.py: s × (m + (n−1)·b) + p × (1 − fee)
    assert odds.heist_return(heist, 3) == pytest.approx(0.35 * 2.0 + 0.15 * 0.95)
    assert odds.heist_return(heist, 10) == pytest.approx(0.35 * 2.35 + 0.15 * 0.95)
    # the seed values broke even from a crew of 4
    assert odds.heist_return(SEED_HEIST, 3) < 1.0 <= odds.heist_return(SEED_HEIST, 4)
    # SPEC §8 scenario 29 still pays 200 for 100 with a crew of 3 under the shipped values
    assert odds.heist_payout(heist, "success", 3, 100) == 200


def test_flip_and_duel_returns() -> None:
    assert odds.flip_return(GamblingConfig().flip.win_chance) == pytest.approx(0.90)
    assert odds.duel_return(5) == pytest.approx(0.95)
    assert odds.duel_pot(100, 5) == odds.DuelPot(200, 10, 190)
    assert odds.duel_pot(55, 5) == odds.DuelPot(110, 5, 105)  # rake floored


def test_roll_functions_follow_the_spec_rules() -> None:
    assert odds.roll_slot(SPEC_TABLE, 0.171).symbols == "7️⃣7️⃣7️⃣"  # type: ignore[union-attr]
    assert odds.roll_slot(SPEC_TABLE, 0.0).symbols == "🍒🍒🍒"  # type: ignore[union-attr]
    assert odds.roll_slot(SPEC_TABLE, 0.100).symbols == "🍒🍒🍒"  # type: ignore[union-attr]
    short = [SlotPayout("🍒🍒🍒", 3.0, 0.5)]
    assert odds.roll_slot(short, 0.7) is None  # past the table: a loss
    assert odds.spin_return(short) == pytest.approx(1.5)
    heavy = [SlotPayout("🍒🍒🍒", 1.0, 0.8), SlotPayout("💎💎💎", 10.0, 0.8)]
    dist = odds.slot_distribution(heavy)
    assert [p for _, p in dist] == pytest.approx([0.8, 0.2])  # rows past 1 are cut
    assert odds.roll_flip(0.45, 0.30) and not odds.roll_flip(0.45, 0.50)
    heist = HeistConfig()
    assert [odds.roll_heist(heist, r) for r in (0.1, 0.4, 0.6)] == ["success", "push", "bust"]
    assert odds.heist_payout(heist, "push", 3, 100) == 95
    assert odds.heist_payout(heist, "bust", 3, 100) == 0


# -- Monte-Carlo --------------------------------------------------------------------------------


def test_monte_carlo_spins_match_the_computed_return() -> None:
    table = GamblingConfig().spin.payouts
    rng = random.Random(20260303)
    wager = 100
    paid = sum(odds.slot_payout(odds.roll_slot(table, rng.random()), wager)
               for _ in range(MONTE_CARLO_N))
    measured = paid / (MONTE_CARLO_N * wager)
    stderr = math.sqrt(odds.spin_variance(table) / MONTE_CARLO_N)
    assert abs(measured - odds.spin_return(table, wager)) <= SIGMAS * stderr, (measured, stderr)


def test_monte_carlo_flips_match_the_computed_return() -> None:
    chance = GamblingConfig().flip.win_chance
    rng = random.Random(42)
    paid = sum(odds.flip_payout(odds.roll_flip(chance, rng.random()), 1)
               for _ in range(MONTE_CARLO_N))
    measured = paid / MONTE_CARLO_N
    expected = odds.flip_return(chance)
    stderr = math.sqrt((chance * 4 - expected ** 2) / MONTE_CARLO_N)
    assert abs(measured - expected) <= SIGMAS * stderr, (measured, stderr)


async def test_the_plugin_pays_what_the_roll_functions_say(make_app: MakeApp) -> None:
    """The real code path (router → validation → one ledger transaction) uses the same roll
    functions: 400 seeded spins and 400 flips pay exactly what the ledger-free functions
    predict."""
    n = 400
    app = await gambling_app(
        make_app, {"spin": {"cooldown_seconds": 0, "daily_limit": 0},
                   "flip": {"cooldown_seconds": 0, "daily_limit": 0}},
        core={"commands": {"rate_limit_per_minute": 10_000}}, balance=1_000_000)
    rng = random.Random(7)
    spins = [rng.random() for _ in range(n)]
    flips = [rng.random() for _ in range(n)]
    plugin(app).rolls = ScriptedRolls(spins + flips)
    for _ in range(n):
        await app.pm("alice", "spin 20")
    for _ in range(n):
        await app.pm("alice", "flip 20")
    cfg = GamblingConfig()
    predicted = (sum(odds.slot_payout(odds.roll_slot(cfg.spin.payouts, r), 20) for r in spins)
                 + sum(odds.flip_payout(odds.roll_flip(cfg.flip.win_chance, r), 20)
                       for r in flips))
    history = await app.ledger.history(CHANNEL, "alice", limit=100_000)
    assert sum(p.amount for p in history if p.type == "gamble_win") == predicted
    assert sum(-p.amount for p in history if p.type == "wager") == 2 * n * 20
    assert await app.balance("alice") == 1_000_000 - 2 * n * 20 + predicted
    assert await app.ledger.verify() == []


async def test_production_rolls_come_from_the_system_generator(make_app: MakeApp) -> None:
    """Unless a test replaces it, every game rolls with ``random.SystemRandom`` (the operating
    system's randomness: neither seeded nor predictable)."""
    app = await gambling_app(make_app, {"flip": {"cooldown_seconds": 0}})
    rolls = plugin(app).rolls
    assert isinstance(rolls, SeededRolls)
    assert isinstance(rolls.source, random.SystemRandom)
    values = [rolls.roll() for _ in range(2000)]
    assert all(0.0 <= v < 1.0 for v in values) and len(set(values)) == len(values)
    assert 0.4 < sum(values) / len(values) < 0.6
    assert {rolls.pick("ab") for _ in range(200)} == {"a", "b"}
    replies = [(await app.pm("alice", "flip 10"))[0] for _ in range(40)]  # the real path
    assert any("Heads" in r for r in replies) and any("Tails" in r for r in replies)


# -- G8 warnings --------------------------------------------------------------------------------


def test_shipped_defaults_raise_no_warning() -> None:
    assert odds.warnings(GamblingConfig()) == []


def test_warnings_name_the_game() -> None:
    bad = GamblingConfig(spin=attrs.evolve(GamblingConfig().spin, payouts=SPEC_TABLE),
                         flip=attrs.evolve(GamblingConfig().flip, win_chance=0.5),
                         heist=SEED_HEIST)
    found = odds.warnings(bad)
    assert len(found) == 3
    assert found[0].startswith("gambling.spin") and "1.15" in found[0]
    assert found[1].startswith("gambling.flip")
    assert found[2].startswith("gambling.heist") and "4: 1.0425" in found[2]
    off_sum = attrs.evolve(GamblingConfig().spin, payouts=[SlotPayout("🍒🍒🍒", 3.0, 0.2)])
    [line] = odds.warnings(GamblingConfig(spin=off_sum))
    assert "sum to 0.2000" in line


async def test_a_generous_table_stops_start_up_unless_house_loss_is_allowed(
        make_app: MakeApp, caplog: pytest.LogCaptureFixture) -> None:
    table = [dict(r, probability=r["probability"] * 1.2) for r in SPEC_SLOT_TABLE[:-1]]
    with pytest.raises(ConfigError, match=r"plugins\.gambling\.spin: .*>= 1\.0.*"
                                          r"allow_house_loss = true"):
        await gambling_app(make_app, {"spin": {"payouts": table}, "allow_house_loss": False})
    caplog.set_level(logging.WARNING, logger="economy_plugins.gambling")
    await gambling_app(make_app, {"spin": {"payouts": table}, "allow_house_loss": True},
                       db="allowed.db")
    lines = [r.getMessage() for r in caplog.records if r.name == "economy_plugins.gambling"]
    assert any(m.startswith("plugins.gambling.spin") and "sum to" in m for m in lines)
    assert any(m.startswith("plugins.gambling.spin") and ">= 1.0" in m for m in lines)


async def test_reload_warns_for_the_new_config_and_refuses_a_losing_one(
        make_app: MakeApp, caplog: pytest.LogCaptureFixture) -> None:
    app = await gambling_app(make_app)
    caplog.set_level(logging.WARNING, logger="economy_plugins.gambling")
    caplog.clear()
    running = app.app.config
    losing = build_config(app.app.plugin_infos, {"plugins": {"gambling": {
        "allow_house_loss": False, "flip": {"win_chance": 0.55}}}},
        database_url=running.core.database.url, channel=CHANNEL)
    with pytest.raises(ConfigError, match=r"plugins\.gambling\.flip"):
        await app.app.reload_config(losing)
    assert app.app.config is running  # nothing applied
    allowed = build_config(app.app.plugin_infos, {"plugins": {"gambling": {
        "allow_house_loss": True, "flip": {"win_chance": 0.55}}}},
        database_url=running.core.database.url, channel=CHANNEL)
    assert await app.app.reload_config(allowed) == []  # the core's reload, as SIGHUP runs it
    [record] = [r for r in caplog.records if r.name == "economy_plugins.gambling"]
    assert record.levelno == logging.WARNING and "plugins.gambling.flip" in record.getMessage()


# -- the odds command ---------------------------------------------------------------------------


def test_odds_command_prints_every_game(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.build_parser([PluginInfo("gambling", Gambling)])
    args = parser.parse_args(["--config", str(tmp_path / "none.toml"), "gambling", "odds"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "spin        0.9500" in out and "flip        0.9000" in out
    assert "challenge   0.9500" in out and "crew 10: 0.9650" in out
    assert "WARNING" not in out


def test_odds_command_shows_warnings_for_a_config(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = GamblingConfig(spin=attrs.evolve(GamblingConfig().spin, payouts=SPEC_TABLE))
    assert run_odds(None, cfg) == 0  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "spin        1.1500" in out and "WARNING gambling.spin" in out
