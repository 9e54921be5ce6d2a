"""Ranks: SPEC §3.10 through the real ledger, commit observers, router and outbox (FakeClock,
Tue 2026-03-03 20:00 UTC): promotions by earnings (promote only, merged and gated lines, told
once), admin ``set_rank``, ``rank``, the perks as the core's price/allowance/multiplier
services, ``top ranks``, profile fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from economy_core.hooktypes import AwardRequest, Multiplier
from economy_core.ledger import Award, Kind
from economy_core.testing import AppHarness, MakeApp, build_config

CHANNEL = "testchan"
ADMIN = 5


async def ranks_app(make_app: MakeApp, config: dict[str, Any] | None = None, *,
                    extra: tuple[Any, ...] = (), core: dict[str, Any] | None = None,
                    **kwargs: Any) -> AppHarness:
    return await make_app(plugins=["ranks", "wallet", *extra], channel=CHANNEL,
                          config={"plugins": {"ranks": config or {}}, **(core or {})},
                          **kwargs)


async def earn(app: AppHarness, user: str, amount: int, *, type: str = "earn") -> None:
    """An earn-class credit as any plugin would write it, then let observers run."""
    await app.ledger.credit(CHANNEL, user, amount, type=type, kind=Kind.EARN)
    await app.settle()


def stored(app: AppHarness, user: str) -> int:
    return int(app.plugin("ranks").store.tier(CHANNEL, user))


async def test_earning_past_a_threshold_promotes_notifies_and_announces_once(
        make_app: MakeApp) -> None:
    app = await ranks_app(make_app)
    await earn(app, "alice", 999)
    assert stored(app, "alice") == 0 and app.chat_lines() == []
    await earn(app, "alice", 1)
    assert stored(app, "alice") == 1
    [notice] = app.pms_to("alice")
    assert "You are now Grip" in notice and "1 free daily fortune" in notice
    assert app.chat_lines() == ["🎬 alice is now Grip!"]
    await earn(app, "alice", 10)  # no second promotion, no second line
    await app.restart()
    await earn(app, "alice", 10)
    assert app.chat_lines() == ["🎬 alice is now Grip!"]
    assert len([p for p in app.pms_to("alice") if "You are now" in p]) == 1


async def test_a_jump_over_several_tiers_is_one_promotion_to_the_highest(
        make_app: MakeApp) -> None:
    app = await ranks_app(make_app)
    await earn(app, "alice", 16_000)
    assert stored(app, "alice") == 3
    assert app.chat_lines() == ["🎬 alice is now Gaffer!"]
    [notice] = app.pms_to("alice")
    assert "Gaffer" in notice and "6% off purchases" in notice and "rain +20%" in notice


async def test_promotions_at_once_are_merged_into_one_line(make_app: MakeApp) -> None:
    app = await ranks_app(make_app)
    await app.ledger.credit_many(CHANNEL, [Award("alice", 1_000), Award("bob", 5_000),
                                           Award("carol", 10)])
    await app.settle()
    assert app.chat_lines() == ["🎬 Promotions: bob → Key Grip, alice → Grip!"]
    assert len(app.pms_to("alice")) == len(app.pms_to("bob")) == 1
    assert app.pms_to("carol") == []


async def test_one_line_an_hour_unless_a_promotion_beats_todays_best(make_app: MakeApp) -> None:
    app = await ranks_app(make_app)
    await earn(app, "alice", 5_000)  # Key Grip: announced
    await app.advance(minutes=10)
    await earn(app, "bob", 1_000)  # Grip, within the hour, not above today's best
    await app.advance(minutes=10)
    await earn(app, "carol", 15_000)  # Gaffer beats today's best: announced
    await app.advance(minutes=10)
    await earn(app, "dave", 1_000)  # within the hour of carol's line
    await app.advance(minutes=61)
    await earn(app, "erin", 1_000)  # an hour later: announced
    assert app.chat_lines() == ["🎬 alice is now Key Grip!", "🎬 carol is now Gaffer!",
                                "🎬 erin is now Grip!"]
    assert all(len(app.pms_to(u)) == 1 for u in ("alice", "bob", "carol", "dave", "erin"))
    # a new day forgets today's best, not the hour
    await app.clock.set(datetime(2026, 3, 4, 0, 5, tzinfo=UTC))
    await earn(app, "frank", 1_000)
    assert app.chat_lines()[-1] == "🎬 frank is now Grip!"


async def test_the_gate_survives_a_restart(make_app: MakeApp) -> None:
    app = await ranks_app(make_app)
    await earn(app, "alice", 1_000)
    app = await app.restart()
    await earn(app, "bob", 1_000)
    assert app.chat_lines() == ["🎬 alice is now Grip!"]


async def test_quiet_users_get_no_promotion_pm_but_the_room_hears_it(make_app: MakeApp) -> None:
    app = await ranks_app(make_app)
    await app.pm("alice", "quiet")
    app.clear()
    await earn(app, "alice", 1_000)
    assert app.pms_to("alice") == []
    assert app.chat_lines() == ["🎬 alice is now Grip!"]


async def test_only_earn_class_postings_promote(make_app: MakeApp) -> None:
    app = await ranks_app(make_app)
    await app.ledger.credit(CHANNEL, "alice", 50_000, type="admin_set",
                            kind=Kind.CORRECTION)
    await app.settle()
    assert stored(app, "alice") == 0
    await app.ledger.debit(CHANNEL, "alice", 10_000)
    await earn(app, "alice", 1_000)  # lifetime earned 1,000: Grip, however rich
    assert stored(app, "alice") == 1


async def test_announcements_can_be_switched_off(make_app: MakeApp) -> None:
    app = await ranks_app(make_app, {"announce": False})
    await earn(app, "alice", 1_000)
    assert app.chat_lines() == [] and len(app.pms_to("alice")) == 1


# -- rank ----------------------------------------------------------------------------------------


async def test_rank_shows_tier_lifetime_next_tier_bar_perks_and_discount(
        make_app: MakeApp) -> None:
    app = await ranks_app(make_app)
    await earn(app, "alice", 3_000)
    app.clear()
    [reply] = await app.pm("alice", "rank")
    assert reply.splitlines() == [
        "🎖️ alice: Grip (rank 2 of 10) · lifetime 3,000 Z",
        "Next: Key Grip at 5,000 Z: 2,000 Z to go",
        "[██████████░░░░░░░░░░] 50%",
        "Perks: 1 free daily fortune · Discount: 2%",
    ]


async def test_rank_at_the_top_says_maximum(make_app: MakeApp) -> None:
    app = await ranks_app(make_app)
    await earn(app, "alice", 5_000_000)
    [reply] = await app.pm("alice", "rank")
    lines = reply.splitlines()
    assert lines[0].startswith("🎖️ alice: Studio Mogul (rank 10 of 10)")
    assert lines[1] == "🏆 Maximum rank!"
    assert "custom everything" in lines[2] and "legendary status" in lines[2]
    assert "Discount: 18%" in lines[2] and "+2 queues/day" in lines[2]
    assert "premium vanity items" in lines[2] and "discount" not in lines[2].split("·")[0]


async def test_rank_of_another_user_and_of_nobody(make_app: MakeApp) -> None:
    app = await ranks_app(make_app)
    await earn(app, "bob", 1_200)
    [reply] = await app.pm("alice", "rank @bob")
    assert reply.startswith("🎖️ bob: Grip")
    before = await app.ledger.circulation(CHANNEL)
    assert await app.pm("alice", "rank @nobody") == ["No account for nobody yet."]
    [mine] = await app.pm("alice", "rank")
    assert mine.startswith("🎖️ alice: Extra (rank 1 of 10) · lifetime 0 Z")
    assert await app.ledger.circulation(CHANNEL) == before


async def test_rank_promotes_earnings_from_before_ranks_were_enabled(make_app: MakeApp) -> None:
    app = await make_app(plugins=["wallet"], channel=CHANNEL, db="before.db")
    await app.ledger.credit(CHANNEL, "alice", 6_000, type="earn", kind=Kind.EARN)
    await app.app.stop()
    app = await ranks_app(make_app, db="before.db")
    [reply] = await app.pm("alice", "rank")
    assert reply.startswith("🎖️ alice: Key Grip")
    assert app.chat_lines() == ["🎬 alice is now Key Grip!"]


# -- set_rank ------------------------------------------------------------------------------------


async def test_set_rank_needs_an_admin_and_an_exact_name(make_app: MakeApp) -> None:
    app = await ranks_app(make_app)
    await earn(app, "alice", 10)
    app.clear()
    assert await app.pm("bob", "set_rank @alice Grip") == ["⛔ Admin only."]
    [reply] = await app.pm("boss", "set_rank @alice Mogul", rank=ADMIN)
    assert reply.startswith("No rank called 'Mogul'. Ranks: Extra, Grip, Key Grip")
    assert "Studio Mogul" in reply
    [reply] = await app.pm("boss", "set_rank @ghost Grip", rank=ADMIN)
    assert reply == "No account for ghost yet."
    assert stored(app, "alice") == 0 and app.pms_to("alice") == []
    [reply] = await app.pm("boss", "set_rank @alice studio mogul", rank=ADMIN)
    assert reply == "✅ alice is now Studio Mogul (was Extra)."
    assert stored(app, "alice") == 9
    [notice] = app.pms_to("alice")
    assert "An admin set your rank to Studio Mogul" in notice
    assert app.chat_lines() == []


async def test_set_rank_holds_until_earnings_pass_a_higher_tier(make_app: MakeApp) -> None:
    app = await ranks_app(make_app)
    await earn(app, "alice", 6_000)  # Key Grip
    await app.pm("boss", "set_rank @alice Extra", rank=ADMIN)
    assert stored(app, "alice") == 0
    await earn(app, "alice", 3_000)  # 9,000: still Key Grip by earnings: the set holds
    assert stored(app, "alice") == 0
    [reply] = await app.pm("alice", "rank")
    assert "Next: Gaffer at 15,000 Z: 6,000 Z to go" in reply
    await earn(app, "alice", 6_000)  # 15,000: Gaffer, above what she had earned
    assert stored(app, "alice") == 3
    # and a promotion by an admin holds until earnings pass it
    await app.pm("boss", "set_rank @alice Director", rank=ADMIN)
    await earn(app, "alice", 100_000)
    assert stored(app, "alice") == 7


async def test_set_rank_survives_a_restart(make_app: MakeApp) -> None:
    app = await ranks_app(make_app)
    await earn(app, "alice", 6_000)
    await app.pm("boss", "set_rank @alice Grip", rank=ADMIN)
    app = await app.restart()
    await earn(app, "alice", 1_000)
    assert stored(app, "alice") == 1


# -- perks as services ---------------------------------------------------------------------------


async def test_the_discount_applies_to_every_quote(make_app: MakeApp) -> None:
    app = await ranks_app(make_app)
    pricing = app.app.pricing
    assert (await pricing.quote(CHANNEL, "alice", "shop.title", 1_000)).amount == 1_000
    await earn(app, "alice", 5_000)  # Key Grip, index 2: 4 %
    price = await pricing.quote(CHANNEL, "alice", "shop.title", 1_000)
    assert price.amount == 960 and price.base == 1_000
    assert [a.name for a in price.adjustments] == ["rank discount"]
    assert (await pricing.quote(CHANNEL, "alice", "shop.title", 1)).amount == 1
    assert (await pricing.quote(CHANNEL, "alice", "shop.title", 99)).amount == 95
    await earn(app, "alice", 5_000_000)  # Mogul, index 9: 18 %
    assert (await pricing.quote(CHANNEL, "alice", "x", 1_000)).amount == 820


async def test_without_ranks_every_price_is_the_base_price(make_app: MakeApp) -> None:
    app = await make_app(plugins=["wallet"], channel=CHANNEL)
    await app.ledger.credit(CHANNEL, "alice", 5_000_000, type="earn", kind=Kind.EARN)
    assert (await app.app.pricing.quote(CHANNEL, "alice", "x", 1_000)).amount == 1_000
    assert await app.app.pricing.allowance(CHANNEL, "alice", "queue", 3) == 3
    assert await app.app._collect_multipliers(
        AwardRequest(CHANNEL, "alice", 10.0, "rain", "rain.ambient")) == []


async def test_allowances_from_perk_texts(make_app: MakeApp) -> None:
    app = await ranks_app(make_app)
    pricing = app.app.pricing
    assert await pricing.allowance(CHANNEL, "alice", "queue", 3) == 3
    assert await pricing.allowance(CHANNEL, "alice", "free_fortune", 0) == 0
    await earn(app, "alice", 1_000)
    assert await pricing.allowance(CHANNEL, "alice", "free_fortune", 0) == 1
    await earn(app, "alice", 40_000)  # Best Boy: +1 queue/day
    assert await pricing.allowance(CHANNEL, "alice", "queue", 3) == 4
    await earn(app, "alice", 500_000)  # Director: +2 queues/day (the largest, not the sum)
    assert await pricing.allowance(CHANNEL, "alice", "queue", 3) == 5
    assert await pricing.allowance(CHANNEL, "alice", "free_fortune", 0) == 1
    assert await pricing.allowance(CHANNEL, "alice", "something_else", 2) == 2


async def test_rain_perk_and_earn_factor_through_the_multiplier_hook(
        make_app: MakeApp) -> None:
    app = await ranks_app(make_app, {"earn_multiplier_per_rank": 0.1})
    ask = app.app._collect_multipliers
    rain = AwardRequest(CHANNEL, "alice", 10.0, "rain", "rain.ambient")
    chat = AwardRequest(CHANNEL, "alice", 1.0, "chat_triggers", "chat.long_message")
    assert await ask(rain) == [] and await ask(chat) == []
    await earn(app, "alice", 15_000)  # Gaffer, index 3: rain +20 %, earn ×1.3
    assert await ask(rain) == [Multiplier("rank", 1.3), Multiplier("rank rain perk", 1.2)]
    assert await ask(chat) == [Multiplier("rank", 1.3)]


async def test_the_earn_factor_multiplies_presence_pay(make_app: MakeApp) -> None:
    app = await make_app(plugins=["ranks", "presence"], channel=CHANNEL, config={"plugins": {
        "ranks": {"earn_multiplier_per_rank": 1.0},
        "presence": {"hourly_milestones": {}, "welcome_wallet": {"enabled": False}}}})
    await earn(app, "alice", 1_000)  # Grip, index 1: presence pays × 2
    await app.seed(["alice"])
    before = await app.balance("alice")
    await app.advance(minutes=3)
    assert await app.balance("alice") == before + 6
    [p] = (await app.ledger.history(CHANNEL, "alice", limit=1))
    assert p.metadata["factors"] == {"rank": 2.0}


# -- what others show ----------------------------------------------------------------------------


async def test_profile_balance_and_top_ranks(make_app: MakeApp) -> None:
    app = await ranks_app(make_app)
    await earn(app, "alice", 16_000)
    await earn(app, "bob", 1_000)
    await earn(app, "carol", 1_500)
    await earn(app, "dave", 5)
    [reply] = await app.pm("alice", "balance")
    assert reply == "💰 alice: 16,000 Z · Rank: Gaffer"
    [reply] = await app.pm("bob", "profile @alice")
    assert "Rank: Gaffer" in reply and "Perks: 6% off purchases" in reply
    [reply] = await app.pm("bob", "top ranks")
    assert reply.splitlines() == ["🏆 Ranks (users per rank):", "Gaffer: 1", "Grip: 2",
                                  "Extra: 1"]
    [reply] = await app.pm("bob", "top nonsense")
    assert "ranks" in reply and reply.startswith("Usage: top [")


@pytest.mark.parametrize("tiers, problem", [
    ([{"name": "Extra", "min_lifetime_earned": 10}], "must start at min_lifetime_earned = 0"),
    ([{"name": "Extra", "min_lifetime_earned": 0}, {"name": "Grip", "min_lifetime_earned": 0}],
     "must be above"),
    ([{"name": "Extra", "min_lifetime_earned": 0}, {"name": "extra", "min_lifetime_earned": 5}],
     "unique"),
])
async def test_bad_tier_tables_are_config_errors(make_app: MakeApp, tiers: list[Any],
                                                 problem: str) -> None:
    from economy_core.config import ConfigError

    with pytest.raises(ConfigError) as found:
        await ranks_app(make_app, {"tiers": tiers,
                                   "cytube_promotion": {"min_rank": "Extra"}})
    assert problem in str(found.value) and "plugins.ranks.tiers" in str(found.value)


async def test_min_rank_must_name_a_tier(make_app: MakeApp) -> None:
    from economy_core.config import ConfigError

    with pytest.raises(ConfigError, match="min_rank 'Mogul' is not a tier"):
        await ranks_app(make_app, {"cytube_promotion": {"min_rank": "Mogul"}})


async def test_a_reload_with_fewer_tiers_keeps_working(make_app: MakeApp) -> None:
    app = await ranks_app(make_app)
    await earn(app, "alice", 5_000_000)  # Studio Mogul, index 9
    two = {"tiers": [{"name": "Extra", "min_lifetime_earned": 0},
                     {"name": "Grip", "min_lifetime_earned": 1_000}],
           "cytube_promotion": {"min_rank": "Grip"}}
    new = build_config(app.app.plugin_infos, {"plugins": {"ranks": two}},
                       database_url=str(app.app.config.core.database.url), channel=CHANNEL)
    assert await app.app.reload_config(new) == []
    [reply] = await app.pm("alice", "rank")
    assert reply.startswith("🎖️ alice: Grip (rank 2 of 2)") and "Maximum rank" in reply
    assert (await app.app.pricing.quote(CHANNEL, "alice", "x", 100)).amount == 98
    await earn(app, "bob", 2_000)
    assert stored(app, "bob") == 1
