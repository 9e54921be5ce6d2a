"""Plugins that exist only for the core's tests: they move money through the real ledger so the
router's refusals can be shown to move none."""

from __future__ import annotations

import attrs

from economy_core import (
    Amount,
    CommandCall,
    Contract,
    Kind,
    PluginContext,
    PostingType,
    Rest,
    Username,
    command,
    hookimpl,
    setting,
    user_key,
)


@attrs.frozen
class BankConfig:
    grant: int = setting(1000, help="What `grant_me` credits")


class Bank:
    """tip, flip (always loses: the stake goes to the house), grant_me, boom, say."""

    name = "bank"
    Config = BankConfig
    contract = Contract(posting_types=(
        PostingType("bank_grant", "bank grant", Kind.EARN, onboarding_exempt=True),
        PostingType("bank_tip_sent", "tip sent", Kind.TRANSFER),
        PostingType("bank_tip_received", "tip received", Kind.TRANSFER),
        PostingType("bank_stake", "stake", Kind.GAMBLE),
    ))

    def __init__(self, ctx: PluginContext[BankConfig]) -> None:
        self.ctx = ctx
        self.calls: list[str] = []

    @command("grant_me", help="Get some money (tests)")
    async def grant_me(self, call: CommandCall) -> str:
        result = await self.ctx.ledger.credit(call.channel, call.username, self.ctx.config.grant,
                                              type="bank_grant")
        return f"granted, balance {result.balance}"

    @command("tip", help="Give someone money", aliases=("give",))
    async def tip(self, call: CommandCall, target: Username, amount: Amount) -> str:
        self.calls.append("tip")
        if user_key(target) == user_key(call.username):
            return "You cannot tip yourself."
        result = await self.ctx.ledger.transfer(call.channel, call.username, target, amount,
                                                send_type="bank_tip_sent",
                                                receive_type="bank_tip_received")
        if not result.ok:
            return "Insufficient funds."
        return f"tipped {amount}"

    @command("flip", help="Bet on a coin")
    async def flip(self, call: CommandCall, wager: Amount) -> str:
        self.calls.append("flip")
        result = await self.ctx.ledger.debit(call.channel, call.username, wager,
                                             type="bank_stake", kind=Kind.GAMBLE)
        return "lost" if result.ok else "Insufficient funds."

    @command("boom", help="Always fails")
    async def boom(self, call: CommandCall) -> str:
        raise RuntimeError("kaboom")

    @command("say", help="Echo text", admin=True)
    async def say(self, call: CommandCall, text: Rest) -> str:
        return f"said: {text}"


class Gatekeeper:
    """Refuses every command of users named 'blocked' through economy_before_command."""

    name = "gatekeeper"

    def __init__(self, ctx: PluginContext[None]) -> None:
        self.ctx = ctx

    @hookimpl
    async def economy_before_command(self, call: CommandCall) -> str | None:
        return "🚧 Not you." if call.username == "blocked" else None
