"""Ranks end to end: a real nats-server, kryten-py on both sides, the robot stand-in: a
promotion's PM and its one announcement, the robot asked for a tier's channel level, a level
purchase refused before any charge while the bot is at rank 2, and bad input answered without
moving money."""

from __future__ import annotations

from typing import Any

from economy_core.ledger import Kind
from economy_core.testing import wait_until

GRIP_PROMOTES = {"tiers": [
    {"name": "Extra", "min_lifetime_earned": 0},
    {"name": "Grip", "min_lifetime_earned": 1_000, "cytube_level_promotion": 2},
    {"name": "Key Grip", "min_lifetime_earned": 5_000}],
    "cytube_promotion": {"min_rank": "Grip", "cost": 1_000}}
FOR_SALE = {"tiers": [
    {"name": "Extra", "min_lifetime_earned": 0},
    {"name": "Grip", "min_lifetime_earned": 1_000},
    {"name": "Key Grip", "min_lifetime_earned": 5_000}],
    "cytube_promotion": {"min_rank": "Grip", "cost": 1_000}}


async def earn(env: Any, user: str, amount: int) -> None:
    await env.app.ledger.credit(env.channel, user, amount, type="earn", kind=Kind.EARN)


async def test_earning_past_grip_sends_the_pm_and_one_announcement(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=["ranks", "wallet"],
                            users=[("ZCoinBot", 3), ("alice", 1), ("bob", 1)])
    await earn(env, "alice", 600)
    await earn(env, "alice", 600)
    await wait_until(lambda: any("You are now Grip" in m for m in env.pms_to("alice")), 10)
    await env.robot.wait_for_chat(1, 10)
    await earn(env, "alice", 100)  # no second promotion
    await env.app.settle()
    [line] = [m for m in env.robot.sent_chat if "Grip" in m]
    assert line == "🎬 alice is now Grip!"
    assert len([m for m in env.pms_to("alice") if "You are now" in m]) == 1
    [reply] = await env.pm("alice", "rank")
    assert reply.startswith("🎖️ alice: Grip (rank 2 of 10) · lifetime 1,300 Z")


async def test_a_promotion_tier_makes_the_robot_set_the_channel_rank(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=["ranks"], config={"plugins": {"ranks": GRIP_PROMOTES}},
                            users=[("ZCoinBot", 3), ("alice", 1)])
    await earn(env, "alice", 1_000)
    await wait_until(lambda: bool(env.robot.rank_requests), 10)
    assert env.robot.rank_requests == [{"username": "alice", "rank": 2}]


async def test_buying_a_level_with_the_bot_at_rank_2_is_refused_before_any_charge(
        economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=["ranks", "wallet"],
                            config={"plugins": {"ranks": FOR_SALE}},
                            users=[("ZCoinBot", 2), ("alice", 1)])
    await earn(env, "alice", 5_000)
    await wait_until(lambda: any("You are now" in m for m in env.pms_to("alice")), 10)
    [reply] = await env.pm("alice", "buy_level level2")
    assert reply == ("I can't promote anyone right now: my channel rank is 2 and CyTube needs "
                     "3. Nothing was charged.")
    assert await env.app.ledger.balance(env.channel, "alice") == 5_000
    assert env.robot.rank_requests == []
    assert await env.app.ledger.open_escrows(env.channel) == []


async def test_bad_input_gets_a_clear_reply_and_moves_nothing(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=["ranks", "wallet"],
                            config={"plugins": {"ranks": FOR_SALE}},
                            users=[("ZCoinBot", 3), ("alice", 1), ("boss", 5)])
    await earn(env, "alice", 5_000)
    await wait_until(lambda: any("You are now" in m for m in env.pms_to("alice")), 10)
    ledger = env.app.ledger
    assert await env.pm("alice", "rank @nobody") == ["No account for nobody yet."]
    [reply] = await env.pm("boss", "set_rank @alice Mogul")
    assert reply.startswith("No rank called 'Mogul'. Ranks: Extra, Grip, Key Grip")
    [bought] = await env.pm("alice", "buy_level level2")
    assert bought.startswith("⭐ Asked CyTube to make you channel rank 2 for 960 Z")
    await wait_until(lambda: bool(env.robot.rank_requests), 10)
    balance = await ledger.balance(env.channel, "alice")
    assert await env.pm("alice", "buy_level level2") == [
        "You already bought CyTube level 2; nothing was charged."]
    assert await ledger.balance(env.channel, "alice") == balance == 4_040
    assert env.robot.rank_requests == [{"username": "alice", "rank": 2}]
    assert await ledger.verify() == []
