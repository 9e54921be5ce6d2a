"""Pending input: a command asks for the user's next PM (pick 1–N, YES to confirm)."""

from __future__ import annotations

from typing import Any

from economy_core import (
    Ask,
    CommandCall,
    Contract,
    Kind,
    PluginContext,
    PostingType,
    command,
)
from economy_core.testing import MakeApp

CHANNEL = "testroom"
ITEMS = ("Night of the Lepus", "Kung Fu Panda", "Alien")


class Picker:
    """``pick`` lists three items; a number picks one; YES buys it for 10."""

    name = "picker"
    contract = Contract(posting_types=(
        PostingType("picker_buy", "bought an item", Kind.SPEND),
        PostingType("picker_gift", "starting money", Kind.EARN),
    ))

    def __init__(self, ctx: PluginContext[None]) -> None:
        self.ctx = ctx
        self.bought: list[str] = []

    @command("gift", help="Get 100 (tests)")
    async def gift(self, call: CommandCall) -> str:
        await self.ctx.ledger.credit(call.channel, call.username, 100, type="picker_gift")
        return "ok"

    @command("pick", help="Pick an item")
    async def pick(self, call: CommandCall) -> Ask:
        lines = [f"{i}. {title}" for i, title in enumerate(ITEMS, 1)]
        return self._list("\n".join(["Pick one:", *lines]))

    def _list(self, text: list[str] | str) -> Ask:
        return Ask(text, self._picked, accepts=lambda t: t.strip().isdigit(),
                   timeout_seconds=60)

    async def _picked(self, call: CommandCall, text: str) -> Any:
        number = int(text)
        if not 1 <= number <= len(ITEMS):
            return self._list(f"Enter 1–{len(ITEMS)}.")  # still waiting for a pick
        title = ITEMS[number - 1]

        async def buy(call: CommandCall, _text: str) -> str:
            result = await self.ctx.ledger.debit(call.channel, call.username, 10,
                                                 type="picker_buy")
            if not result.ok:
                return "Not enough."
            self.bought.append(title)
            return f"Bought {title}, balance {result.balance}."

        return Ask.confirm(f"Buy “{title}” for 10? Reply YES.", buy)


async def picker_app(make_app: MakeApp) -> Any:
    app = await make_app(plugins=["wallet", Picker])
    await app.pm("alice", "gift")
    return app


async def test_a_number_picks_and_yes_buys(make_app: MakeApp) -> None:
    app = await picker_app(make_app)
    [listing] = await app.pm("alice", "pick")
    assert "2. Kung Fu Panda" in listing
    [confirm] = await app.pm("alice", " 2 ")
    assert "Kung Fu Panda" in confirm and "YES" in confirm
    assert await app.pm("alice", "yEs") == ["Bought Kung Fu Panda, balance 90."]
    assert await app.pm("alice", "yes") == ["❓ Unknown command 'yes'. PM 'help' for the list."]
    assert app.plugin("picker").bought == ["Kung Fu Panda"]  # two YES: one purchase
    assert await app.balance("alice") == 90


async def test_out_of_range_keeps_the_list_and_another_command_drops_it(
        make_app: MakeApp) -> None:
    app = await picker_app(make_app)
    await app.pm("alice", "pick")
    assert await app.pm("alice", "7") == ["Enter 1–3."]
    [reply] = await app.pm("alice", "balance")  # any other command drops the list
    assert reply.startswith("💰 alice:")
    assert (await app.pm("alice", "1"))[0].startswith("❓ Unknown command")


async def test_anything_but_yes_cancels_and_a_command_still_runs(make_app: MakeApp) -> None:
    app = await picker_app(make_app)
    await app.pm("alice", "pick")
    await app.pm("alice", "1")
    assert await app.pm("alice", "no") == ["Cancelled."]
    await app.pm("alice", "pick")
    await app.pm("alice", "3")
    replies = await app.pm("alice", "balance")
    assert replies[0] == "Cancelled." and replies[1].startswith("💰 alice: 100")
    assert await app.pm("alice", "yes") != ["Bought Alien, balance 90."]
    assert await app.balance("alice") == 100


async def test_a_question_times_out_and_belongs_to_one_user(make_app: MakeApp) -> None:
    app = await picker_app(make_app)
    await app.pm("alice", "pick")
    assert (await app.pm("bob", "1"))[0].startswith("❓ Unknown command")  # not bob's list
    await app.advance(seconds=61)
    assert (await app.pm("alice", "1"))[0].startswith("❓ Unknown command")


async def test_a_user_banned_meanwhile_cannot_answer(make_app: MakeApp) -> None:
    app = await picker_app(make_app)
    await app.pm("alice", "pick")
    await app.pm("alice", "2")
    await app.app.identity.ban(CHANNEL, "alice", by="boss", reason="", at=app.clock.now())
    assert await app.pm("alice", "YES") == ["⛔ Your economy access is suspended."]
    assert app.plugin("picker").bought == []
