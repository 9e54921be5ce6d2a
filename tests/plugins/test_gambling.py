"""Gambling: SPEC §3.6 through the real router, ledger and scheduler on a SQLite file — the §8
acceptance scenarios 22, 23, 25, 26, 28 and 29, then the behaviour around them."""

from __future__ import annotations

from datetime import timedelta

from economy_core.testing import MakeApp

from .test_gambling_kit import (
    CHANNEL,
    SPEC_SLOT_TABLE,
    force,
    fund,
    gamble_postings,
    gambling_app,
    open_gambling_escrows,
    postings,
)

HEIST_ON = {"heist": {"enabled": True}}


# -- SPEC §8 ------------------------------------------------------------------------------------


async def test_scenario_22_jackpot_spin_pays_and_is_announced(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, {"spin": {"payouts": SPEC_SLOT_TABLE}})
    force(app, 0.171)
    [reply] = await app.pm("alice", "spin 20")
    assert "7️⃣7️⃣7️⃣" in reply and "JACKPOT" in reply
    assert "1,000 Z" in reply and "+980 Z" in reply
    assert reply.endswith("Balance: 1,980 Z")
    assert await app.balance("alice") == 1000 + 980
    assert await gamble_postings(app, "alice") == [("wager", -20), ("gamble_win", 1000)]
    [line] = app.chat_lines()
    assert "alice" in line and "1,000" in line
    day = app.clock.local_date(app.app.tz)
    counters = await app.ledger.daily(CHANNEL, "alice", day)
    assert (counters["z_gambled_in"], counters["z_gambled_out"]) == (20, 1000)
    account = await app.ledger.account(CHANNEL, "alice")
    assert (account.gambled_in, account.gambled_out) == (20, 1000)


async def test_scenario_23_wager_range_cooldown_and_daily_limit(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, core={"commands": {"rate_limit_per_minute": 1000}})
    force(app)
    assert "minimum spin wager is 10 Z" in (await app.pm("alice", "spin 5"))[0]
    assert "maximum spin wager is 500 Z" in (await app.pm("alice", "spin 501"))[0]
    assert await app.balance("alice") == 1000
    force(app, 0.99)
    await app.pm("alice", "spin 10")
    await app.advance(10)
    assert (await app.pm("alice", "spin 10"))[0] == "⏳ Cooldown: 20s remaining."
    assert await app.balance("alice") == 990
    force(app, *[0.99] * 49)
    for _ in range(49):  # 50 spins today in all
        await app.advance(30)
        assert "No luck" in (await app.pm("alice", "spin 10"))[0]
    await app.advance(30)
    before = await app.balance("alice")
    [reply] = await app.pm("alice", "spin 10")
    assert "Daily limit reached: 50 spins today" in reply
    assert await app.balance("alice") == before == 500
    await app.clock.set(app.clock.now().replace(hour=0, minute=0) + timedelta(days=1))
    force(app, 0.99)
    assert "No luck" in (await app.pm("alice", "spin 10"))[0]  # a new day, a new limit


async def test_scenario_25_flip(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    force(app, 0.30, 0.50)
    [win] = await app.pm("alice", "flip 100")
    assert "Heads" in win and await app.balance("alice") == 1100
    await app.advance(15)
    [loss] = await app.pm("alice", "flip 100")
    assert "Tails" in loss and await app.balance("alice") == 1000
    [bad] = await app.pm("alice", "flip abc")
    assert "Usage: flip <wager>" in bad
    assert await app.balance("alice") == 1000
    assert await gamble_postings(app, "alice") == [
        ("wager", -100), ("gamble_win", 200), ("wager", -100)]


async def test_scenario_26_account_age(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    await fund(app, "dave", 500)
    await app.app.members.seen(CHANNEL, ["dave"])  # first seen now
    await app.advance(minutes=30)
    force(app)
    [reply] = await app.pm("dave", "flip 50")
    assert "30 minutes left" in reply
    assert await app.balance("dave") == 500
    await app.advance(minutes=30)
    force(app, 0.9)
    assert "Tails" in (await app.pm("dave", "flip 50"))[0]


async def test_scenario_28_decline_expiry_and_self(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    [sent] = await app.pm("alice", "challenge @bob 100")
    assert "bob" in sent and await app.balance("alice") == 900
    [invite] = app.pms_to("bob")
    assert "alice" in invite and "100 Z" in invite and "accept" in invite and "decline" in invite
    assert "120s" in invite
    app.clear()
    [declined] = await app.pm("bob", "decline")
    assert "alice" in declined
    assert await app.balance("alice") == 1000
    assert await app.balance("bob") == 1000
    assert any("declined" in m for m in app.pms_to("alice"))

    app.clear()
    await app.pm("alice", "challenge @bob 100")
    start = app.clock.now()
    await app.advance(119)
    assert await app.balance("alice") == 900  # not expired yet
    await app.advance(1)  # expired at 120 s: refunded then, not at the next sweep
    assert await app.balance("alice") == 1000
    refunds = [p for p in await postings(app, "alice") if p.type == "refund"]
    assert len(refunds) == 2
    assert refunds[-1].at - start == timedelta(seconds=120)
    assert any("didn't answer" in m for m in app.pms_to("alice"))
    assert any("expired" in m for m in app.pms_to("bob"))

    [self_reply] = await app.pm("alice", "challenge @alice 100")
    assert "yourself" in self_reply
    assert await app.balance("alice") == 1000
    assert await open_gambling_escrows(app) == []


async def test_scenario_29_heist(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, HEIST_ON)
    force(app, 0.10)
    [planned] = await app.pm("alice", "heist 100")
    assert "100 Z" in planned
    assert any("heist" in line and "join" in line for line in app.chat_lines())
    await app.chat("bob", "join")
    await app.chat("carol", "join")
    assert [await app.balance(u) for u in ("alice", "bob", "carol")] == [900, 900, 900]
    assert any("(3/3)" in line for line in app.chat_lines())
    await app.advance(120)  # the window closes: settled
    assert [await app.balance(u) for u in ("alice", "bob", "carol")] == [1100, 1100, 1100]
    for user in ("alice", "bob", "carol"):
        assert ("gamble_win", 200) in await gamble_postings(app, user)
    await app.advance(6)  # the suspense pause, then the outcome lines and PMs
    assert any("200 Z each" in line for line in app.chat_lines())
    for user in ("alice", "bob", "carol"):
        assert any("Heist succeeded" in m and "200 Z" in m for m in app.pms_to(user))

    await app.advance(180)  # past the cooldown
    app.clear()
    await app.pm("alice", "heist 100")
    await app.chat("bob", "join")
    await app.advance(126)
    assert await app.balance("alice") == 1100
    assert await app.balance("bob") == 1100
    assert any("Not enough crew" in line for line in app.chat_lines())
    assert any("is back" in m for m in app.pms_to("bob"))

    await app.advance(60)  # less than 180 s after the last heist
    [refused] = await app.pm("carol", "heist 100")
    assert "Cooldown" in refused
    assert await app.balance("carol") == 1100
    assert await open_gambling_escrows(app) == []


# -- spins ---------------------------------------------------------------------------------------


async def test_shipped_table_spins_push_partial_and_loss(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, {"spin": {"cooldown_seconds": 0}})
    force(app, 0.0, 0.20, 0.95)  # cherries ×3, partial ×2, loss
    [cherries] = await app.pm("alice", "spin 10")
    assert "🍒🍒🍒" in cherries and "30 Z" in cherries and "+20 Z" in cherries
    [partial] = await app.pm("alice", "spin 10")
    assert "20 Z" in partial and "+10 Z" in partial
    [loss] = await app.pm("alice", "spin 10")
    assert "No luck" in loss and loss.endswith("Balance: 1,020 Z")
    assert await app.balance("alice") == 1020


async def test_spin_push_returns_the_wager(make_app: MakeApp) -> None:
    table = [{"symbols": "🍋🍋🍋", "multiplier": 1, "probability": 1.0}]
    app = await gambling_app(make_app, {"spin": {"payouts": table}})
    force(app, 0.5)
    [reply] = await app.pm("alice", "spin 50")
    assert "Push" in reply and await app.balance("alice") == 1000


async def test_free_spin_once_a_day(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    force(app, 0.0)  # cherries: 3 × 50
    [first] = await app.pm("alice", "spin")
    assert "Free spin" in first and "150 Z" in first
    assert await app.balance("alice") == 1150
    assert await gamble_postings(app, "alice") == [("gamble_win", 150)]
    [again] = await app.pm("alice", "spin")
    assert "Usage: spin <wager>" in again and "back tomorrow" in again
    assert await app.balance("alice") == 1150
    day = app.clock.local_date(app.app.tz)
    assert (await app.ledger.daily(CHANNEL, "alice", day))["free_spin_used"] == 1
    await app.advance(hours=5)  # past midnight
    force(app, 0.99)
    assert "No luck" in (await app.pm("alice", "spin"))[0]


async def test_free_spin_jackpot_is_announced(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    force(app, 0.136)  # 7️⃣7️⃣7️⃣ in the shipped table: 50 × 50 = 2,500
    [reply] = await app.pm("alice", "spin")
    assert "JACKPOT" in reply and "2,500 Z" in reply
    [line] = app.chat_lines()
    assert "alice" in line and "2,500" in line


async def test_ordinary_wins_announced_first_then_hourly_or_when_best(
        make_app: MakeApp) -> None:
    app = await gambling_app(make_app, {"flip": {"cooldown_seconds": 0}})
    force(app, 0.1, 0.1, 0.1, 0.1)
    await app.pm("alice", "flip 100")  # first win of the day: announced
    await app.pm("bob", "flip 100")  # same payout, minutes later: not
    await app.pm("carol", "flip 150")  # beats today's best: announced
    assert len(app.chat_lines()) == 2
    assert "alice" in app.chat_lines()[0] and "carol" in app.chat_lines()[1]
    await app.advance(minutes=60)
    await app.pm("bob", "flip 10")  # an hour after the last: announced
    assert len(app.chat_lines()) == 3 and "bob" in app.chat_lines()[2]


async def test_win_rule_survives_a_restart(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, {"flip": {"cooldown_seconds": 0}})
    force(app, 0.1)
    await app.pm("alice", "flip 100")
    app = await app.restart()
    force(app, 0.1)
    await app.pm("bob", "flip 100")
    assert len(app.chat_lines()) == 1


# -- duels ---------------------------------------------------------------------------------------


async def test_accepted_challenge_pays_the_winner_minus_rake(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    await app.pm("alice", "challenge @bob 100")
    force(app, 0.7)  # ≥ 0.5: the target wins
    [reply] = await app.pm("bob", "accept")
    assert "You won" in reply and "rake 10 Z" in reply and "190 Z" in reply
    assert await app.balance("bob") == 1090
    assert await app.balance("alice") == 900
    assert any("you lost" in m for m in app.pms_to("alice"))
    [line] = app.chat_lines()
    assert "bob" in line and "alice" in line and "190" in line
    assert await gamble_postings(app, "bob") == [("wager", -100), ("gamble_win", 190)]
    assert await open_gambling_escrows(app) == []
    assert (await app.pm("bob", "accept"))[0] == "No challenge is waiting for you."


async def test_accept_without_funds_keeps_the_challenge(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    await app.pm("alice", "challenge @bob 600")
    await app.ledger.debit(CHANNEL, "bob", 500, reason="spent elsewhere")
    force(app)
    [reply] = await app.pm("bob", "accept")
    assert "Not enough coins" in reply and "stays open" in reply
    await fund(app, "bob", 500)
    force(app, 0.1)
    assert "You lost" in (await app.pm("bob", "accept"))[0]
    assert await app.balance("alice") == 1000 - 600 + 1140


async def test_one_pending_challenge_per_pair(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    await app.pm("alice", "challenge @bob 100")
    assert "already a challenge pending" in (await app.pm("bob", "challenge @alice 100"))[0]
    assert await app.balance("bob") == 1000
    assert "Challenge sent" in (await app.pm("alice", "challenge @carol 100"))[0]


async def test_accept_takes_the_oldest_and_expired_is_refunded(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, {"challenge": {"accept_timeout_seconds": 30}})
    await app.pm("alice", "challenge @carol 100")
    await app.advance(20)
    await app.pm("bob", "challenge @carol 200")
    await app.advance(15)  # alice's expired at 30 s and was refunded right then
    assert await app.balance("alice") == 1000
    force(app, 0.1)
    assert "bob" in (await app.pm("carol", "accept"))[0]  # the oldest still pending


async def test_pending_challenge_survives_restart_and_expiry_refunds(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    await app.pm("alice", "challenge @bob 100")
    app = await app.restart()
    force(app, 0.1)
    assert "You lost" in (await app.pm("bob", "accept"))[0]  # resumed
    await app.pm("alice", "challenge @carol 100")
    start = app.clock.now()
    await app.advance(50)
    app = await app.restart()
    await app.advance(69)
    assert await app.balance("alice") == 1000 + 90 - 100  # still held at 119 s
    await app.advance(1)  # the restarted bot refunds it at its expiry, 120 s
    assert await app.balance("alice") == 1000 + 90
    [refund] = [p for p in await postings(app, "alice") if p.type == "refund"]
    assert refund.at - start == timedelta(seconds=120)
    assert await open_gambling_escrows(app) == []


# -- heists --------------------------------------------------------------------------------------


async def test_heist_join_rules(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, HEIST_ON, users=("alice", "bob", "carol", "poor"))
    await app.ledger.debit(CHANNEL, "poor", 950)
    await app.chat("bob", "join")  # no heist forming: ignored
    assert app.pms_to("bob") == [] and await app.balance("bob") == 1000
    await app.pm("alice", "heist 100")
    app.clear()
    await app.chat("bob", "Join ")
    await app.chat("bob", "join")
    assert "already in" in app.pms_to("bob")[-1]
    await app.chat("poor", "join")
    assert "can't join" in app.pms_to("poor")[0] and await app.balance("poor") == 50
    await app.chat("carol", "join me later")  # not exactly join
    assert await app.balance("carol") == 1000
    explained = (await app.pm("carol", "heist join"))[0]
    assert "public chat" in explained and "crew 2/3" in explained
    assert "already under way" in (await app.pm("carol", "heist 50"))[0]


async def test_heist_open_at_restart_is_refunded_and_crew_told(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, HEIST_ON)
    await app.pm("alice", "heist 100")
    await app.chat("bob", "join")
    app = await app.restart()
    assert await app.balance("alice") == 1000 and await app.balance("bob") == 1000
    assert any("restarted" in m for m in app.pms_to("bob"))
    assert await open_gambling_escrows(app) == []
    await app.advance(150)  # the old window job is gone; nothing else happens
    assert await app.balance("alice") == 1000
    force(app, 0.99)
    assert "Heist planned" in (await app.pm("carol", "heist 100"))[0]  # no cooldown


async def test_heist_bust_and_push(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, {"heist": {"enabled": True, "cooldown_seconds": 0}})
    force(app, 0.99, 0.40)
    for outcome_roll in ("bust", "push"):
        await app.pm("alice", "heist 100")
        await app.chat("bob", "join")
        await app.chat("carol", "join")
        await app.advance(126)
        del outcome_roll
    # bust: −100 each; push: floor(100 × 0.95) = 95 back each
    assert [await app.balance(u) for u in ("alice", "bob", "carol")] == [895, 895, 895]
    assert any("Busted" in line for line in app.chat_lines())
    assert any("5%" in line and "95 Z" in line for line in app.chat_lines())


# -- stats ---------------------------------------------------------------------------------------


async def test_stats(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    assert "free daily `spin`" in (await app.pm("alice", "stats"))[0]
    force(app, 0.0, 0.99, 0.05)
    await app.pm("alice", "spin 10")  # +20 net
    await app.pm("alice", "flip 100")  # −100
    await app.pm("alice", "spin")  # free: +150
    [reply] = await app.pm("alice", "gambling")
    assert "spins 1 (+1 free)" in reply and "flips 1" in reply
    assert "Biggest win +150 Z" in reply and "biggest loss −100 Z" in reply
    assert "net +70 Z" in reply


async def test_challenge_notices_reach_quiet_users(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    await app.pm("bob", "quiet")
    await app.pm("alice", "quiet")
    app.clear()
    await app.pm("alice", "challenge @bob 100")
    assert any("challenges you" in m for m in app.pms_to("bob"))  # transactional
    force(app, 0.1)
    await app.pm("bob", "accept")
    assert any("you won" in m for m in app.pms_to("alice"))


async def test_games_are_counted_in_metrics(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    force(app, 0.99, 0.99, 0.99)
    await app.pm("alice", "spin 10")
    await app.pm("alice", "flip 10")
    await app.pm("alice", "spin")
    text = app.app.metrics.render()
    for game in ("spin", "flip", "free_spin"):
        assert f'gambling_games_total{{game="{game}"}} 1' in text


async def test_help_explains_the_games(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    [listing] = await app.pm("alice", "help")
    assert "spin" in listing and "challenge" in listing
    assert "heist" not in listing  # heists are off by default: help leaves them out (§2.5)
    [spin_help] = await app.pm("alice", "help spin")
    assert "Usage: spin [wager]" in spin_help and "free daily spin" in spin_help


async def test_help_lists_exactly_the_games_switched_on(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, {**HEIST_ON, "flip": {"enabled": False},
                                        "challenge": {"enabled": False}})
    [listing] = await app.pm("alice", "help")
    assert "heist" in listing and "spin" in listing
    for hidden in ("flip", "challenge", "accept", "decline"):
        assert hidden not in listing
    assert "off" in (await app.pm("alice", "flip 10"))[0].casefold()


async def test_accept_and_join_validate_like_start(make_app: MakeApp) -> None:
    """G2: accepting a duel and joining a heist run the whole chain, account age included."""
    app = await gambling_app(make_app, {**HEIST_ON,
                                        "challenge": {"accept_timeout_seconds": 900}})
    await fund(app, "young", 1000)
    await app.app.members.seen(CHANNEL, ["young"])
    await app.advance(minutes=50)
    await app.pm("alice", "challenge @young 100")
    [refused] = await app.pm("young", "accept")
    assert "10 minutes left" in refused and "stays open" in refused
    assert await app.balance("young") == 1000
    await app.pm("bob", "heist 100")
    await app.chat("young", "join")
    assert "10 minutes left" in app.pms_to("young")[-1]
    assert await app.balance("young") == 1000
    await app.advance(minutes=10)
    force(app, 0.9)
    assert "You won" in (await app.pm("young", "accept"))[0]


async def test_refunded_stakes_reverse_the_gambled_counters(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    await app.pm("alice", "challenge @bob 100")
    await app.pm("bob", "decline")
    day = app.clock.local_date(app.app.tz)
    assert (await app.ledger.daily(CHANNEL, "alice", day)).get("z_gambled_in", 0) == 0


async def test_cooldown_and_daily_limit_survive_a_restart(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, {"flip": {"daily_limit": 1}})
    force(app, 0.9)
    await app.pm("alice", "flip 10")
    app = await app.restart()
    force(app)
    assert (await app.pm("alice", "flip 10"))[0] == "⏳ Cooldown: 15s remaining."
    await app.advance(15)
    assert "Daily limit reached: 1 flip today" in (await app.pm("alice", "flip 10"))[0]
    assert await app.balance("alice") == 990
