"""Ranks and CyTube channel levels (SPEC §3.10): a tier's ``cytube_level_promotion`` asks the
robot for the level when the user's channel rank is lower; ``buy_level cytube2|level2`` holds
the discounted price in escrow and settles on the robot's answer (refused before any charge by
a bot known to be below rank 3); a ``buy`` front-end reaches it through ``economy_purchase``."""

from __future__ import annotations

from typing import Any

import pluggy

from economy_core import hookspec
from economy_core.hookspecs import hookimpl
from economy_core.ledger import Kind
from economy_core.testing import AppHarness, MakeApp, RobotCall

CHANNEL = "testchan"
GRIP_PROMOTES = {"tiers": [
    {"name": "Extra", "min_lifetime_earned": 0},
    {"name": "Grip", "min_lifetime_earned": 1_000, "cytube_level_promotion": 2},
    {"name": "Key Grip", "min_lifetime_earned": 5_000}],
    "cytube_promotion": {"min_rank": "Key Grip", "cost": 1_000}}
FOR_SALE = {"tiers": [
    {"name": "Extra", "min_lifetime_earned": 0},
    {"name": "Grip", "min_lifetime_earned": 1_000},
    {"name": "Key Grip", "min_lifetime_earned": 5_000}],
    "cytube_promotion": {"min_rank": "Key Grip", "cost": 1_000}}


async def ranks_app(make_app: MakeApp, config: dict[str, Any] | None = None,
                    *extra: Any) -> AppHarness:
    return await make_app(plugins=["ranks", "wallet", *extra], channel=CHANNEL,
                          config={"plugins": {"ranks": config or {}}})


async def earn(app: AppHarness, user: str, amount: int) -> None:
    await app.ledger.credit(CHANNEL, user, amount, type="earn", kind=Kind.EARN)
    await app.settle()


def rank_calls(app: AppHarness) -> list[RobotCall]:
    return [c for c in app.transport.robot_calls if c.command == "setChannelRank"]


async def test_a_promotion_tier_asks_the_robot_when_the_users_rank_is_lower(
        make_app: MakeApp) -> None:
    app = await ranks_app(make_app, GRIP_PROMOTES)
    await app.set_bot_rank(3)
    await app.join("alice", rank=1)
    await app.join("mod", rank=3)
    await earn(app, "alice", 1_000)
    await earn(app, "mod", 1_000)
    assert rank_calls(app) == [RobotCall("setChannelRank", CHANNEL,
                                         {"username": "alice", "rank": 2})]
    await earn(app, "alice", 5_000)  # Key Grip gives no new level: nothing more asked
    assert len(rank_calls(app)) == 1


async def test_a_level_for_an_unseen_user_waits_until_they_join(make_app: MakeApp) -> None:
    app = await ranks_app(make_app, GRIP_PROMOTES)
    await app.set_bot_rank(3)
    await earn(app, "alice", 1_000)  # not in the room: her channel rank is unknown
    assert rank_calls(app) == []
    app = await app.restart()  # the pending level is stored
    await app.join("alice", rank=1)
    assert rank_calls(app) == [RobotCall("setChannelRank", CHANNEL,
                                         {"username": "alice", "rank": 2})]
    await app.leave("alice")
    await app.join("alice", rank=1)
    assert len(rank_calls(app)) == 1  # asked once: no longer pending


async def test_a_bot_below_rank_3_keeps_the_level_pending(make_app: MakeApp) -> None:
    app = await ranks_app(make_app, GRIP_PROMOTES)
    await app.set_bot_rank(2)
    await app.join("alice", rank=1)
    await earn(app, "alice", 1_000)
    assert rank_calls(app) == []
    await app.set_bot_rank(3)
    await app.leave("alice")
    await app.join("alice", rank=1)
    assert len(rank_calls(app)) == 1


async def test_levels_switched_off_ask_nothing(make_app: MakeApp) -> None:
    config = {**GRIP_PROMOTES, "cytube_promotion": {"enabled": False, "min_rank": "Grip"}}
    app = await ranks_app(make_app, config)
    await app.set_bot_rank(3)
    await app.join("alice", rank=1)
    await earn(app, "alice", 1_000)
    assert rank_calls(app) == []
    assert await app.pm("alice", "buy_level cytube2") == [
        "CyTube level promotions are not for sale here."]


# -- buying --------------------------------------------------------------------------------------


async def rich_alice(make_app: MakeApp, lifetime: int = 5_000) -> AppHarness:
    app = await ranks_app(make_app, FOR_SALE)
    await app.set_bot_rank(3)
    await app.join("alice", rank=1)
    await earn(app, "alice", lifetime)
    app.transport.robot_calls.clear()
    app.clear()
    return app


async def test_buying_level_2_charges_the_discounted_price_and_asks_the_robot(
        make_app: MakeApp) -> None:
    app = await rich_alice(make_app)
    [reply] = await app.pm("alice", "buy_level cytube2", rank=1)
    # Key Grip (index 2): 4 % off 1,000
    assert reply == ("⭐ Asked CyTube to make you channel rank 2 for 960 Z (was 1,000 Z). "
                     "Balance: 4,040 Z.")
    assert rank_calls(app) == [RobotCall("setChannelRank", CHANNEL,
                                         {"username": "alice", "rank": 2})]
    assert await app.balance("alice") == 4_040
    [spent] = [p for p in await app.ledger.history(CHANNEL, "alice") if p.amount < 0]
    assert (spent.type, spent.kind, spent.amount) == ("cytube_level", Kind.SPEND, -960)
    assert await app.ledger.open_escrows(CHANNEL) == []
    account = await app.ledger.account(CHANNEL, "alice")
    assert account is not None and account.lifetime_spent == 960
    # twice: a clear reply, no charge
    [again] = await app.pm("alice", "buy_level level2", rank=1)
    assert again == "You already bought CyTube level 2; nothing was charged."
    assert await app.balance("alice") == 4_040 and len(rank_calls(app)) == 1
    assert await app.ledger.verify() == []


async def test_refusals_before_any_charge(make_app: MakeApp) -> None:
    app = await rich_alice(make_app, lifetime=1_500)  # Grip: below min_rank Key Grip
    assert await app.pm("alice", "buy_level level2", rank=1) == [
        "CyTube level 2 needs the rank Key Grip; you are Grip."]
    assert await app.pm("alice", "buy_level") == [
        "Usage: buy_level cytube2 (or level2): CyTube channel level 2"]
    assert await app.pm("alice", "buy_level hat") == [
        "Usage: buy_level cytube2 (or level2): CyTube channel level 2"]
    await earn(app, "alice", 4_000)
    await app.set_bot_rank(2)
    assert await app.pm("alice", "buy_level level2", rank=1) == [
        "I can't promote anyone right now: my channel rank is 2 and CyTube needs 3. "
        "Nothing was charged."]
    await app.set_bot_rank(3)
    assert await app.pm("alice", "buy_level level2", rank=2) == [
        "You already have CyTube channel rank 2: nothing to buy."]
    await app.ledger.debit(CHANNEL, "alice", 5_000)
    assert await app.pm("alice", "buy_level level2", rank=1) == [
        "CyTube level 2 costs 960 Z; you have 500 Z."]
    assert rank_calls(app) == [] and await app.balance("alice") == 500
    assert await app.ledger.open_escrows(CHANNEL) == []


async def test_a_level_the_rank_gives_is_not_sold(make_app: MakeApp) -> None:
    app = await ranks_app(make_app, GRIP_PROMOTES)
    await app.set_bot_rank(3)
    await earn(app, "alice", 5_000)  # Grip gave level 2 (pending: alice was never seen)
    assert await app.pm("alice", "buy_level cytube2", rank=1) == [
        "Your rank Key Grip gives you CyTube level 2 already (asked for when you are next "
        "here): nothing to buy."]
    assert await app.balance("alice") == 5_000


async def test_a_robot_that_cannot_be_reached_refunds_in_full(make_app: MakeApp) -> None:
    app = await rich_alice(make_app)

    async def down(channel: str, username: str, rank: int) -> None:
        raise ConnectionError("not connected to NATS")

    app.transport.set_channel_rank = down  # type: ignore[method-assign]
    [reply] = await app.pm("alice", "buy_level cytube2", rank=1)
    assert reply == ("❌ Could not promote you: not connected to NATS. Refunded 960 Z; "
                     "balance 5,000 Z.")
    assert await app.balance("alice") == 5_000
    account = await app.ledger.account(CHANNEL, "alice")
    assert account is not None and account.lifetime_spent == 0
    assert await app.ledger.open_escrows(CHANNEL) == []
    assert [p.type for p in await app.ledger.history(CHANNEL, "alice", limit=2)] == [
        "refund", "cytube_level"]


async def test_an_escrow_left_by_a_crash_is_refunded_at_start(make_app: MakeApp) -> None:
    app = await rich_alice(make_app)
    held = await app.app.plugins["ranks"].context.ledger.escrow(
        CHANNEL, "alice", 960, purpose="ranks.cytube_level", type="cytube_level",
        kind=Kind.SPEND)
    assert held.ok and await app.balance("alice") == 4_040
    app = await app.restart()
    assert await app.balance("alice") == 5_000
    assert await app.ledger.open_escrows(CHANNEL) == []
    assert any("refunded" in p for p in app.pms_to("alice"))


# -- a buy front-end (the shop) reaches the sale through economy_purchase ------------------------


class ShopSpecs:
    @hookspec
    def economy_purchase(self, channel: str, username: str, item: str,
                         args: str) -> str | None:
        """Async first: sell an item the shop does not know."""


class StandInShop:
    """What the shop's ``buy`` does for items it does not sell: asks ``economy_purchase``."""

    name = "standinshop"

    @staticmethod
    @hookimpl
    def economy_addhooks(pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(ShopSpecs)

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    async def buy(self, channel: str, username: str, item: str) -> Any:
        return await self.ctx.hooks.first(ShopSpecs.economy_purchase, channel=channel,
                                          username=username, item=item, args="")


async def test_a_shop_sells_levels_through_the_purchase_hook(make_app: MakeApp) -> None:
    app = await ranks_app(make_app, FOR_SALE, StandInShop)
    await app.set_bot_rank(3)
    await app.join("alice", rank=1)
    await earn(app, "alice", 5_000)
    shop = app.plugin("standinshop")
    assert await shop.buy(CHANNEL, "alice", "hat") is None
    reply = await shop.buy(CHANNEL, "alice", "LEVEL2")
    assert reply.startswith("⭐ Asked CyTube to make you channel rank 2 for 960 Z")
    assert await app.balance("alice") == 4_040


async def test_the_real_shop_sells_and_lists_levels(make_app: MakeApp) -> None:
    app = await ranks_app(make_app, FOR_SALE, "vanity_shop")
    await app.set_bot_rank(3)
    await app.join("alice", rank=1)
    await earn(app, "alice", 5_000)
    [listing] = await app.pm("alice", "shop")
    assert "cytube2 — 960 Z (was 1,000 Z): CyTube channel level 2 (rank Key Grip or higher)" \
        in listing
    [reply] = await app.pm("alice", "buy level2", rank=1)
    assert reply.startswith("⭐ Asked CyTube to make you channel rank 2 for 960 Z")
    assert await app.pm("alice", "buy cytube2", rank=1) == [
        "You already bought CyTube level 2; nothing was charged."]
    assert await app.balance("alice") == 4_040
