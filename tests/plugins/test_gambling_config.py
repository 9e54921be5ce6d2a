"""G5: every key of ``[plugins.gambling]`` changes what a user or operator sees. Each test sets
keys away from their defaults and observes the difference (the defaults themselves are exercised
by the SPEC scenarios in test_gambling.py)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from economy_plugins.gambling import GamblingConfig

from economy_core.config import ConfigError
from economy_core.testing import AppHarness, MakeApp

from .test_gambling_kit import force, fund, gambling_app

FAST = {"spin": {"cooldown_seconds": 0}, "flip": {"cooldown_seconds": 0}}


async def app_with(make_app: MakeApp, config: dict[str, Any], **kwargs: Any) -> AppHarness:
    return await gambling_app(make_app, config, **kwargs)


# -- top level ------------------------------------------------------------------------------------


async def test_enabled_false_switches_every_game_off(make_app: MakeApp) -> None:
    app = await app_with(make_app, {"enabled": False, "heist": {"enabled": True}})
    for text in ("spin 10", "spin", "flip 10", "challenge @bob 100", "heist 100", "accept"):
        reply = (await app.pm("alice", text))[0]
        assert "Gambling is switched off" in reply or "No challenge" in reply, text
    assert await app.balance("alice") == 1000


async def test_min_account_age_minutes(make_app: MakeApp) -> None:
    app = await app_with(make_app, {"min_account_age_minutes": 0})
    await fund(app, "newbie", 100)
    force(app, 0.9)
    assert "Tails" in (await app.pm("newbie", "flip 10"))[0]
    app = await app_with(make_app, {"min_account_age_minutes": 120}, db="b.db")
    assert "55 minutes left" in (await app.pm("alice", "flip 10"))[0]


# -- spin -----------------------------------------------------------------------------------------


async def test_spin_keys(make_app: MakeApp) -> None:
    app = await app_with(make_app, {"spin": {
        "enabled": True, "min_wager": 2, "max_wager": 3, "cooldown_seconds": 5,
        "daily_limit": 2}})
    force(app, 0.99, 0.99)
    assert "No luck" in (await app.pm("alice", "spin 2"))[0]
    assert "maximum spin wager is 3 Z" in (await app.pm("alice", "spin 4"))[0]
    assert (await app.pm("alice", "spin 3"))[0] == "⏳ Cooldown: 5s remaining."
    await app.advance(5)
    assert "No luck" in (await app.pm("alice", "spin 3"))[0]
    await app.advance(5)
    assert "Daily limit reached: 2 spins" in (await app.pm("alice", "spin 3"))[0]
    off = await app_with(make_app, {"spin": {"enabled": False}}, db="b.db")
    assert "spin is switched off" in (await off.pm("alice", "spin 10"))[0]


async def test_spin_payouts_table(make_app: MakeApp) -> None:
    table = [{"symbols": "💎💎💎", "multiplier": 4, "probability": 1.0}]
    app = await app_with(make_app, {"spin": {"payouts": table}})
    force(app, 0.99)
    assert "💎💎💎" in (await app.pm("alice", "spin 10"))[0]
    assert await app.balance("alice") == 1030


async def test_jackpot_threshold_and_public_switch(make_app: MakeApp) -> None:
    sevens = [{"symbols": "7️⃣7️⃣7️⃣", "multiplier": 50, "probability": 1.0}]
    app = await app_with(make_app, {"spin": {"payouts": sevens, "cooldown_seconds": 0,
                                             "jackpot_announce_threshold": 1000}})
    force(app, 0.5, 0.5)
    await app.pm("alice", "spin 10")  # 500 < 1,000: an ordinary (first) win line
    await app.pm("alice", "spin 20")  # 1,000: the jackpot line
    assert [("JACKPOT" in line) for line in app.chat_lines()] == [False, True]
    quiet = await app_with(make_app, {"spin": {"payouts": sevens,
                                               "announce_jackpots_public": False}}, db="b.db")
    force(quiet, 0.5)
    assert "JACKPOT" in (await quiet.pm("alice", "spin 20"))[0]
    assert quiet.chat_lines() == []


# -- flip -----------------------------------------------------------------------------------------


async def test_flip_keys(make_app: MakeApp) -> None:
    app = await app_with(make_app, {"flip": {
        "min_wager": 1, "max_wager": 2, "win_chance": 0.8, "cooldown_seconds": 7,
        "daily_limit": 2}})
    force(app, 0.7, 0.7)
    assert "Heads" in (await app.pm("alice", "flip 1"))[0]  # 0.7 < 0.8
    assert "maximum flip wager is 2 Z" in (await app.pm("alice", "flip 3"))[0]
    assert (await app.pm("alice", "flip 2"))[0] == "⏳ Cooldown: 7s remaining."
    await app.advance(7)
    assert "Heads" in (await app.pm("alice", "flip 2"))[0]
    await app.advance(7)
    assert "Daily limit reached: 2 flips" in (await app.pm("alice", "flip 2"))[0]
    off = await app_with(make_app, {"flip": {"enabled": False}}, db="b.db")
    assert "flip is switched off" in (await off.pm("alice", "flip 10"))[0]


# -- challenge ------------------------------------------------------------------------------------


async def test_challenge_keys(make_app: MakeApp) -> None:
    app = await app_with(make_app, {"challenge": {
        "min_wager": 10, "max_wager": 20, "accept_timeout_seconds": 300, "rake_percent": 50,
        "announce_public": False}})
    assert "maximum challenge wager is 20 Z" in (await app.pm("alice", "challenge @bob 21"))[0]
    [sent] = await app.pm("alice", "challenge @bob 10")
    assert "300s" in sent
    await app.advance(200)  # not expired with the longer timeout
    force(app, 0.1)
    [reply] = await app.pm("bob", "accept")
    assert "rake 10 Z" in reply and "takes 10 Z" in reply
    assert await app.balance("alice") == 1000 - 10 + 10
    assert app.chat_lines() == []
    off = await app_with(make_app, {"challenge": {"enabled": False}}, db="b.db")
    assert "challenge is switched off" in (await off.pm("alice", "challenge @bob 100"))[0]


# -- free spin ------------------------------------------------------------------------------------


async def test_daily_free_spin_keys(make_app: MakeApp) -> None:
    app = await app_with(make_app, {"daily_free_spin": {"equivalent_wager": 10}})
    force(app, 0.0)
    assert "30 Z" in (await app.pm("alice", "spin"))[0]
    off = await app_with(make_app, {"daily_free_spin": {"enabled": False}}, db="b.db")
    [reply] = await off.pm("alice", "spin")
    assert reply.startswith("Usage: spin <wager>") and "tomorrow" not in reply
    assert await off.balance("alice") == 1000


# -- heist ----------------------------------------------------------------------------------------


async def heist_round(app: AppHarness, joiners: list[str], wager: int = 100,
                      wait: float = 126) -> None:
    await app.pm("alice", f"heist {wager}")
    for user in joiners:
        await app.chat(user, "join")
    await app.advance(wait)


async def test_heist_crew_size_keys(make_app: MakeApp) -> None:
    users = ("alice", "bob", "carol", "dave")
    app = await app_with(make_app, {"heist": {"enabled": True, "min_participants": 2,
                                              "max_participants": 3, "cooldown_seconds": 0}},
                         users=users)
    force(app, 0.99)
    await heist_round(app, ["bob", "carol", "dave"])
    assert "crew is full (3)" in app.pms_to("dave")[-1]
    assert await app.balance("dave") == 1000
    assert await app.balance("bob") == 900  # crew of 3 ≥ 2 went: bust
    await heist_round(app, ["bob"])  # 2 ≥ min 2: rolled, not refunded
    assert await app.balance("bob") == 800


async def test_heist_window_cooldown_and_wager_keys(make_app: MakeApp) -> None:
    app = await app_with(make_app, {"heist": {
        "enabled": True, "join_window_seconds": 30, "cooldown_seconds": 40, "min_wager": 5,
        "max_wager": 6}})
    assert "maximum heist wager is 6 Z" in (await app.pm("alice", "heist 7"))[0]
    await app.pm("alice", "heist 5")
    await app.advance(30)  # the window closed: too few, refunded
    await app.chat("bob", "join")
    assert await app.balance("bob") == 1000 and await app.balance("alice") == 1000
    await app.advance(30)
    assert (await app.pm("alice", "heist 5"))[0] == "⏳ Cooldown: 10s remaining."
    await app.advance(10)
    assert "Heist planned" in (await app.pm("alice", "heist 5"))[0]


@pytest.mark.parametrize(("keys", "roll", "each"), [
    ({"success_chance": 0.9}, 0.5, 200),  # success at 0.5
    ({"push_chance": 0.6}, 0.9, 95),  # 0.35 + 0.6 > 0.9: push
    ({"push_fee_pct": 0.5}, 0.4, 50),  # push keeps half
    ({"payout_multiplier": 3.0}, 0.1, 310),  # 3.0 + 2 × 0.05
    ({"crew_bonus_per_player": 1.0}, 0.1, 390),  # 1.9 + 2 × 1.0
])
async def test_heist_odds_keys(make_app: MakeApp, keys: dict[str, float], roll: float,
                               each: int) -> None:
    app = await app_with(make_app, {"heist": {"enabled": True, **keys}})
    force(app, roll)
    await heist_round(app, ["bob", "carol"])
    assert [await app.balance(u) for u in ("alice", "bob", "carol")] == [900 + each] * 3


async def test_heist_announce_public(make_app: MakeApp) -> None:
    app = await app_with(make_app, {"heist": {"enabled": True, "announce_public": False}})
    force(app, 0.1)
    await heist_round(app, ["bob", "carol"], wait=140)
    assert not any("heist worked" in line for line in app.chat_lines())
    assert any("Heist succeeded" in m for m in app.pms_to("bob"))
    assert any("planning a heist" in line for line in app.chat_lines())  # the call to join


async def test_heist_disabled(make_app: MakeApp) -> None:
    app = await app_with(make_app, {})
    assert "heist is switched off" in (await app.pm("alice", "heist 100"))[0]
    await app.chat("bob", "join")
    assert app.pms_to("bob") == []


# -- announcements --------------------------------------------------------------------------------


async def test_announcement_templates(make_app: MakeApp) -> None:
    app = await app_with(make_app, {**FAST, "announcements": {
        "win_gap_minutes": 0, "jackpot": "JP {user}={amount}", "spin_win": "SW {user}={amount}",
        "flip_win": "FW {user}={amount}", "free_spin_win": "FS {user}={amount}",
        "challenge_win": "CW {winner}>{loser} {amount} {wager} {rake} {currency}"}})
    force(app, 0.0, 0.136, 0.1, 0.0)
    await app.pm("alice", "spin 10")  # cherries: 30
    await app.pm("alice", "spin 10")  # sevens: 500 = the jackpot threshold
    await app.pm("alice", "flip 10")
    await app.pm("alice", "spin")  # free: cherries 150
    await app.pm("alice", "challenge @bob 100")
    force(app, 0.1)
    await app.pm("bob", "accept")
    assert app.chat_lines() == ["SW alice=30", "JP alice=500", "FW alice=20", "FS alice=150",
                                "CW alice>bob 190 100 Z 10 Z Z-Coins"]


async def test_jackpot_min_amount_and_announce_wins(make_app: MakeApp) -> None:
    sevens = [{"symbols": "7️⃣7️⃣7️⃣", "multiplier": 50, "probability": 1.0}]
    app = await app_with(make_app, {"spin": {"payouts": sevens, "cooldown_seconds": 0},
                                    "flip": {"cooldown_seconds": 0},
                                    "announcements": {"jackpot_min_amount": 2000,
                                                      "announce_wins": False}})
    force(app, 0.5, 0.5, 0.1)
    await app.pm("alice", "spin 20")  # 1,000 < 2,000: not a jackpot; ordinary wins are off
    await app.pm("alice", "spin 40")  # 2,000: the jackpot line
    await app.pm("alice", "flip 10")  # an ordinary win: off
    [line] = app.chat_lines()
    assert "JACKPOT" in line and "2,000" in line


async def test_win_gap_minutes(make_app: MakeApp) -> None:
    app = await app_with(make_app, {**FAST, "announcements": {"win_gap_minutes": 10}})
    force(app, 0.1, 0.1, 0.1)
    await app.pm("alice", "flip 100")
    await app.advance(minutes=9)
    await app.pm("alice", "flip 100")  # 9 min later, not better: silent
    await app.advance(minutes=1)
    await app.pm("bob", "flip 100")  # 10 min after the last: announced
    assert len(app.chat_lines()) == 2 and "bob" in app.chat_lines()[1]


# -- validation of the section --------------------------------------------------------------------


@pytest.mark.parametrize(("section", "path"), [
    ({"spin": {"max_wager": 5}}, "spin.max_wager"),
    ({"flip": {"win_chance": 1.5}}, "flip.win_chance"),
    ({"spin": {"payouts": []}}, "spin.payouts"),
    ({"spin": {"payouts": [{"symbols": "x", "multiplier": -1, "probability": 0.5}]}},
     "multiplier"),
    ({"heist": {"max_participants": 2}}, "heist.max_participants"),
    ({"announcements": {"jackpot": "{nobody} won"}}, "announcements.jackpot"),
    ({"challenge": {"rake_percent": 101}}, "challenge.rake_percent"),
])
async def test_bad_sections_are_config_errors(make_app: MakeApp, section: dict[str, Any],
                                              path: str) -> None:
    with pytest.raises(ConfigError) as exc:
        await gambling_app(make_app, section)
    assert path in str(exc.value)


def test_defaults_are_the_spec_defaults_except_the_retuned_odds() -> None:
    cfg = GamblingConfig()
    assert (cfg.enabled, cfg.min_account_age_minutes) == (True, 60)
    assert (cfg.spin.min_wager, cfg.spin.max_wager, cfg.spin.cooldown_seconds,
            cfg.spin.daily_limit, cfg.spin.jackpot_announce_threshold) == (10, 500, 30, 50, 500)
    assert attrs.astuple(cfg.flip) == (True, 10, 1000, 0.45, 15, 100)
    assert attrs.astuple(cfg.challenge) == (True, 50, 5000, 120, 5, True)
    assert attrs.astuple(cfg.daily_free_spin) == (True, 50)
    h = cfg.heist
    assert (h.enabled, h.min_participants, h.join_window_seconds, h.push_chance,
            h.push_fee_pct, h.cooldown_seconds, h.min_wager, h.max_wager) == (
        False, 3, 120, 0.15, 0.05, 180, 20, 5000)
    assert cfg.announcements.jackpot_min_amount == 500
