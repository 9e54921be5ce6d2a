"""The vanity shop (SPEC §3.8, scenarios 37 and 38): prices through ctx.pricing, every item,
refusals that move nothing, the GIF approval, greetings, titles in announcements, the purchase
hook other plugins answer."""

from __future__ import annotations

from typing import Any

import pytest
from economy_plugins.tipping import Tipping
from economy_plugins.vanity_shop import VanityShop
from economy_plugins.vanity_shop.plugin import fortune_of

from economy_core import Announcement, CommandCall, Contract, command, hookimpl
from economy_core.testing import AppHarness, MakeApp

from .test_social_kit import ADMIN_RANK, CHANNEL, discount, fund, moved, social_app

SHOP = [VanityShop]


async def shop_app(make_app: MakeApp, config: dict[str, Any] | None = None, *,
                   plugins: list[Any] | None = None, **kwargs: Any) -> AppHarness:
    section = {"plugins": {"vanity_shop": config}} if config else {}
    return await social_app(make_app, section, plugins=plugins or SHOP, **kwargs)


# -- listing and prices ---------------------------------------------------------------------------


async def test_shop_lists_items_at_the_users_price(make_app: MakeApp) -> None:
    app = await shop_app(make_app, plugins=[VanityShop, discount(2.0, users=["bob"])])
    [listing] = await app.pm("alice", "shop")
    assert "buy title <text> — 1,000 Z: shown by your name" in listing
    assert "was" not in listing and "You own nothing" in listing
    [listing] = await app.pm("bob", "shop")
    assert "buy title <text> — 980 Z (was 1,000 Z)" in listing
    assert "fortune — 9 Z (was 10 Z)" in listing
    [reply] = await app.pm("bob", "buy title Night Owl")
    assert "−980 Z (was 1,000 Z)" in reply and "Balance: 9,020 Z" in reply
    [listing] = await app.pm("bob", "shop")
    assert "Yours: title “Night Owl”" in listing


async def test_disabled_items_are_not_listed_nor_sold(make_app: MakeApp) -> None:
    app = await shop_app(make_app, {"custom_title": {"enabled": False},
                                    "daily_fortune": {"enabled": False}})
    [listing] = await app.pm("alice", "shop")
    assert "title" not in listing and "fortune" not in listing
    assert "not available" in (await app.pm("alice", "buy title Boss"))[0]
    assert "not available" in (await app.pm("alice", "fortune"))[0]
    assert "not available" in (await app.pm("alice", "buy fortune"))[0]
    assert await moved(app, "alice") == []


async def test_usage_lines(make_app: MakeApp) -> None:
    app = await shop_app(make_app)
    assert (await app.pm("alice", "buy"))[0].startswith("Usage: buy <item>")
    assert (await app.pm("alice", "buy title"))[0] == "Usage: buy title <text>"
    assert (await app.pm("alice", "buy color"))[0] == "Usage: buy color <name or #hex>"
    assert (await app.pm("alice", "shoutout"))[0] == "Usage: shoutout <message>"
    assert "not available" in (await app.pm("alice", "buy spaceship"))[0]
    assert await moved(app, "alice") == []


# -- text items -----------------------------------------------------------------------------------


async def test_titles_show_in_announcements_and_a_rebuy_replaces(make_app: MakeApp) -> None:
    app = await shop_app(make_app)
    await app.pm("alice", "buy title Night Owl")
    await app.pm("alice", "shoutout hello all")
    assert app.chat_lines() == ["📢 alice [Night Owl]: hello all"]
    await app.pm("alice", "buy title The Critic")
    assert await moved(app, "alice") == [("vanity", -1000), ("vanity", -50), ("vanity", -1000)]
    assert app.plugin("vanity_shop").economy_display_name(CHANNEL, "ALICE") == \
        "ALICE [The Critic]"
    restarted = await app.restart()  # titles survive a restart (loaded from the table)
    assert restarted.plugin("vanity_shop").economy_display_name(CHANNEL, "alice") == \
        "alice [The Critic]"


async def test_greeting_and_title_text_rules(make_app: MakeApp) -> None:
    app = await shop_app(make_app)
    replies = [
        (await app.pm("alice", "buy title " + "x" * 101))[0],
        (await app.pm("alice", "buy greeting " + "y" * 201))[0],
        (await app.pm("alice", "buy greeting <b>hi</b>"))[0],
        (await app.pm("alice", "buy title <script>"))[0],
    ]
    assert "at most 100 characters (yours has 101)" in replies[0]
    assert "at most 200 characters (yours has 201)" in replies[1]
    assert all("HTML" in r for r in replies[2:])
    assert all("Nothing was charged" in r for r in replies)
    assert await moved(app, "alice") == []
    [ok] = await app.pm("alice", "buy greeting   The   legend\treturns ")
    assert "“The legend returns”" in ok


async def test_rename_shows_in_balance_and_profile(make_app: MakeApp) -> None:
    app = await shop_app(make_app, plugins=[VanityShop, "wallet"])
    assert "letters, digits" in (await app.pm("alice", "buy rename Gold$"))[0]
    assert "at most 30" in (await app.pm("alice", "buy rename " + "a" * 31))[0]
    [ok] = await app.pm("alice", "buy rename Moon Pennies")
    assert "Balance: 7,500 Z" in ok
    [balance] = await app.pm("alice", "balance")
    assert balance.startswith("💰 alice: 7,500 Moon Pennies")
    [profile] = await app.pm("alice", "profile")
    assert "Currency: Moon Pennies" in profile
    [other] = await app.pm("bob", "balance")
    assert other.startswith("💰 bob: 10,000 Z")


# -- colours --------------------------------------------------------------------------------------


async def test_palette_names_any_case(make_app: MakeApp) -> None:
    app = await shop_app(make_app)
    [ok] = await app.pm("alice", "buy color royal BLUE")
    assert "Royal Blue (#4169E1)" in ok and "−750 Z" in ok
    [ok] = await app.pm("alice", "buy colour crimson")  # a palette colour needs no guard
    assert "#DC143C" in ok
    [profile_value] = [v for k, v in (await app.plugin("vanity_shop").owned.everything(
        CHANNEL, "alice")).items() if k == "color"]
    assert profile_value == "#DC143C"


async def test_hex_colours_pass_the_contrast_guard(make_app: MakeApp) -> None:
    app = await shop_app(make_app)
    dark = (await app.pm("alice", "buy color #000000"))[0]
    red = (await app.pm("alice", "buy color #FF0000"))[0]
    unknown = (await app.pm("alice", "buy color blurple"))[0]
    assert "too dark" in dark and "Nothing was charged" in dark
    assert "too red" in red
    assert "No colour called 'blurple'" in unknown and "Royal Blue" in unknown
    assert await moved(app, "alice") == []
    [warned] = await app.pm("alice", "buy color #777")  # score 30.1: sold with a warning
    assert "#777777" in warned and "⚠️" in warned and "too dark" in warned
    [ok] = await app.pm("alice", "buy color #ffd700")
    assert "#FFD700" in ok and "⚠️" not in ok
    loose = await shop_app(make_app, {"chat_color": {"enforce_contrast": False}}, db="b.db")
    assert "#000000" in (await loose.pm("alice", "buy color #000"))[0]


# -- shoutouts and fortunes (scenario 38) ---------------------------------------------------------


async def test_scenario_38(make_app: MakeApp) -> None:
    app = await shop_app(make_app, balance=1000)
    [reply] = await app.pm("alice", "shoutout hello all")
    assert "Balance: 950 Z" in reply
    assert app.chat_lines() == ["📢 alice: hello all"]
    [again] = await app.pm("alice", "shoutout hello again")
    assert "next shoutout can go in 60 min" in again and await app.balance("alice") == 950
    await app.advance(minutes=59)
    assert "1 min" in (await app.pm("alice", "buy shoutout hi"))[0]
    await app.advance(minutes=1)
    assert "Shouted out" in (await app.pm("alice", "buy shoutout hi"))[0]

    [fortune] = await app.pm("alice", "fortune")
    assert fortune.startswith("🔮 ") and "−10 Z" in fortune
    [again] = await app.pm("alice", "fortune")
    assert "already" in again
    assert await app.balance("alice") == 1000 - 50 - 50 - 10

    grip = await shop_app(make_app, plugins=[VanityShop, discount(2.0, free_fortunes=1)],
                          db="b.db")
    [free] = await grip.pm("alice", "fortune")
    assert "free today" in free and await grip.balance("alice") == 10_000
    assert "already" in (await grip.pm("alice", "buy fortune"))[0]


async def test_fortune_is_chosen_by_name_and_date(make_app: MakeApp) -> None:
    app = await shop_app(make_app)
    fortunes = app.plugin("vanity_shop").cfg.daily_fortune.fortunes
    assert len(fortunes) >= 15
    [reply] = await app.pm("alice", "fortune")
    assert fortune_of(fortunes, "ALICE", app.clock.now().date()) in reply
    picks = {fortune_of(fortunes, f"user{i}", app.clock.now().date()) for i in range(200)}
    assert len(picks) > 10  # spread over the list


async def test_shoutout_rules(make_app: MakeApp) -> None:
    app = await shop_app(make_app, {"shoutout": {"max_length": 20, "cooldown_minutes": 0}})
    assert "at most 20" in (await app.pm("alice", "shoutout " + "z" * 21))[0]
    assert "HTML" in (await app.pm("alice", "shoutout <img src=x>"))[0]
    await app.pm("alice", "shoutout same words")
    [dup] = await app.pm("alice", "shoutout same words")  # the announcer drops it: no charge
    assert "could not be posted" in dup
    assert await moved(app, "alice") == [("vanity", -50)]
    off = await shop_app(make_app, db="b.db")
    off_core = await social_app(make_app, {"announcements": {"disabled": ["shoutout"]}},
                                plugins=SHOP, db="c.db")
    assert "not available" in (await off_core.pm("alice", "shoutout hi"))[0]
    assert "shoutout" not in (await off_core.pm("alice", "shop"))[0]
    assert off.chat_lines() == [] and await moved(off_core, "alice") == []


# -- the channel GIF and approvals (scenario 37) --------------------------------------------------


async def test_scenario_37(make_app: MakeApp) -> None:
    app = await shop_app(make_app, balance=6000)
    [held] = await app.pm("alice", "buy gif https://x.test/a.gif")
    assert "GIF request #1" in held and "Balance: 1,000 Z" in held
    assert await moved(app, "alice") == [("vanity", -5000)]
    [escrow] = await app.ledger.open_escrows(CHANNEL)
    assert escrow.purpose == "approval.channel_gif" and escrow.source == "vanity_shop"
    [refused] = await app.pm("bob", "reject_gif @alice", rank=1)
    assert "Admin only" in refused
    [done] = await app.pm("bob", "reject_gif @alice too big", rank=ADMIN_RANK)
    assert "Rejected alice's GIF #1" in done and "5,000 Z refunded" in done
    assert await app.balance("alice") == 6000
    assert [t for t, _ in await moved(app, "alice")] == ["vanity", "refund"]
    assert any("not approved (too big)" in m and "5,000 Z refunded" in m
               for m in app.pms_to("alice"))
    again = (await app.pm("bob", "reject_gif @alice", rank=ADMIN_RANK))[0]
    assert "No GIF of alice is waiting" in again
    assert await app.ledger.open_escrows(CHANNEL) == []
    account = await app.ledger.account(CHANNEL, "alice")
    assert account is not None and account.lifetime_spent == 0  # the refund reversed it


async def test_an_approved_gif_is_delivered_and_charged_once(make_app: MakeApp) -> None:
    app = await shop_app(make_app)
    await app.join("boss", rank=ADMIN_RANK)  # present admins are told of a request
    app.clear()
    await app.pm("alice", "buy gif http://x.test/b.gif")
    assert any("approve_gif @alice" in m for m in app.pms_to("boss"))
    assert "still waiting" in (await app.pm("alice", "buy gif http://x.test/c.gif"))[0]
    [listing] = await app.pm("boss", "approvals", rank=ADMIN_RANK)
    assert "#1 channel GIF · alice · 5,000 Z" in listing and "GIF http://x.test/b.gif" in listing
    [ok] = await app.pm("boss", "approve_gif @alice", rank=ADMIN_RANK)
    assert "Approved alice's GIF #1" in ok
    assert any("was approved" in m for m in app.pms_to("alice"))
    assert await app.balance("alice") == 5000 and await app.ledger.open_escrows(CHANNEL) == []
    owned = await app.plugin("vanity_shop").owned.everything(CHANNEL, "alice")
    assert owned["gif"] == "http://x.test/b.gif"
    assert "already" in (await app.pm("boss", "approve 1", rank=ADMIN_RANK))[0]
    assert "No GIF" in (await app.pm("boss", "approve_gif @alice", rank=ADMIN_RANK))[0]
    [listing] = await app.pm("alice", "shop")
    assert "channel GIF “http://x.test/b.gif”" in listing


async def test_gif_links_are_checked_and_approval_can_be_off(make_app: MakeApp) -> None:
    app = await shop_app(make_app)
    for bad in ("javascript:alert(1)", "ftp://x.test/a.gif", "https://", "http://x .gif",
                "https://x.test/\"onload=1"):
        [reply] = await app.pm("alice", f"buy gif {bad}")
        assert "Nothing was charged" in reply, bad
    assert await moved(app, "alice") == []
    direct = await shop_app(make_app, {"channel_gif": {"requires_admin_approval": False}},
                            db="b.db")
    [ok] = await direct.pm("alice", "buy gif https://x.test/a.gif")
    assert "Your channel GIF is now https://x.test/a.gif" in ok
    assert await direct.ledger.open_escrows(CHANNEL) == []


# -- greetings ------------------------------------------------------------------------------------


async def test_greetings_on_genuine_arrivals_merged_per_window(make_app: MakeApp) -> None:
    app = await shop_app(make_app, plugins=[VanityShop, "presence"])
    for user, text in (("alice", "The legend returns"), ("bob", "Bob is here"),
                       ("carol", "Hi all")):
        await app.pm(user, f"buy greeting {text}")
    app.clear()
    await app.join("alice")  # a first join counts
    await app.advance(seconds=1)
    await app.join("bob")
    await app.advance(seconds=2)
    assert app.chat_lines() == []  # 3 s after the last arrival
    await app.join("carol")
    await app.advance(seconds=3)
    assert app.chat_lines() == ["👋 The legend returns | Bob is here | Hi all"]
    await app.leave("alice")
    await app.advance(minutes=30)
    await app.join("alice")  # 30 minutes away < 60: no greeting
    await app.advance(seconds=3)
    await app.leave("alice")
    await app.advance(minutes=61)
    await app.join("alice")
    await app.advance(seconds=3)
    assert app.chat_lines()[1:] == ["👋 The legend returns"]


async def test_greeting_settings(make_app: MakeApp) -> None:
    app = await shop_app(make_app, {"greeting_absence_minutes": 0, "greeting_flush_seconds": 1,
                                    "greeting_template": "~ {greeting} ~"},
                         plugins=[VanityShop, "presence"])
    await app.pm("alice", "buy greeting hello")
    await app.join("alice")
    await app.advance(seconds=1)
    assert app.chat_lines() == ["~ hello ~"]
    off = await social_app(make_app, {"announcements": {"disabled": ["custom_greeting"]}},
                           plugins=[VanityShop, "presence"], db="b.db")
    await off.pm("alice", "buy greeting hello")
    await off.join("alice")
    await off.advance(seconds=5)
    assert off.chat_lines() == []


# -- other plugins' items -------------------------------------------------------------------------


class Levels:
    """A stand-in for the ranks plugin: sells ``level2`` through the shop's hooks."""

    name = "levels"

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    @hookimpl(optionalhook=True)
    async def economy_purchase(self, channel: str, username: str, item: str,
                               args: str) -> str | None:
        return f"level2 for {username} ({args or 'no args'})" if item == "level2" else None

    @hookimpl(optionalhook=True)
    def economy_shop_lines(self, channel: str, username: str) -> list[str]:
        return ["level2 — 50,000 Z: CyTube level 2"]


async def test_unknown_items_go_to_the_purchase_hook(make_app: MakeApp) -> None:
    app = await shop_app(make_app, plugins=[VanityShop, Levels])
    assert (await app.pm("alice", "buy LEVEL2 now"))[0] == "level2 for alice (now)"
    assert "not available" in (await app.pm("alice", "buy level3"))[0]
    assert "• level2 — 50,000 Z: CyTube level 2" in (await app.pm("alice", "shop"))[0]


# -- insufficient funds ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["buy title Boss", "buy greeting hi", "buy color gold",
                                     "buy rename Bucks", "shoutout hi", "fortune",
                                     "buy gif https://x.test/a.gif"])
async def test_too_poor_moves_nothing(make_app: MakeApp, command: str) -> None:
    app = await shop_app(make_app, balance=5)
    [reply] = await app.pm("alice", command)
    assert "Not enough coins" in reply and "you have 5 Z" in reply
    assert await moved(app, "alice") == [] and await app.ledger.open_escrows(CHANNEL) == []


async def test_the_shop_and_tipping_together(make_app: MakeApp) -> None:
    app = await shop_app(make_app, plugins=[VanityShop, Tipping])
    await fund(app, "bob", 1)
    await app.pm("alice", "tip @bob 1000")
    await app.pm("bob", "buy title Rich")
    assert await app.balance("bob") == 10_001 and await app.ledger.verify() == []


class Herald:
    """Announces a line naming a user (for the display name check through another plugin)."""

    name = "herald"
    contract = Contract(announcements=(Announcement("herald_line", "a test line"),))

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    @command("herald", help="announce")
    async def herald(self, call: CommandCall) -> str:
        await self.ctx.announcer.announce(call.channel, "herald_line", "hail {user}!",
                                          user=call.username)
        return str(await self.ctx.display_name(call.channel, call.username))


async def test_other_plugins_lines_name_the_title(make_app: MakeApp) -> None:
    app = await shop_app(make_app, plugins=[VanityShop, Herald])
    await app.pm("alice", "buy title Boss")
    assert (await app.pm("alice", "herald"))[0] == "alice [Boss]"
    assert (await app.pm("bob", "herald"))[0] == "bob"
    assert app.chat_lines() == ["hail alice [Boss]!", "hail bob!"]
