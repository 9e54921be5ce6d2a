"""Shared helpers of the tipping, shop and approvals tests (imported by the other
``test_social*`` / ``test_tipping*`` / ``test_vanity_shop*`` modules), and a check that the
fixture matches SPEC §8's: channel ``testchan``, defaults, clock Tue 2026-03-03 20:00 UTC,
accounts older than 60 minutes, none banned or quiet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from economy_plugins.tipping import Tipping
from economy_plugins.vanity_shop import VanityShop

from economy_core import PriceAdjustment, PriceQuote, hookimpl
from economy_core.clock import FakeClock
from economy_core.ledger import Kind, Posting
from economy_core.testing import AppHarness, MakeApp, merge_config

CHANNEL = "testchan"
SPEC_NOW = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)
ACCOUNT_AGE = timedelta(minutes=65)
ADMIN_RANK = 4


async def social_app(make_app: MakeApp, config: Mapping[str, Any] | None = None, *,
                     users: Sequence[str] = ("alice", "bob", "carol"), balance: int = 10_000,
                     db: str = "economy.db", plugins: Sequence[Any] = (Tipping, VanityShop),
                     clock: FakeClock | None = None) -> AppHarness:
    """Tipping and the shop (or ``plugins``); ``users`` each hold ``balance`` and were first
    seen 65 minutes before the clock reads SPEC_NOW."""
    clock = clock or FakeClock(SPEC_NOW - ACCOUNT_AGE)
    app = await make_app(plugins=list(plugins), config=merge_config({}, config or {}),
                         channel=CHANNEL, db=db, clock=clock)
    for user in users:
        if balance:
            await fund(app, user, balance)
        await app.app.members.seen(CHANNEL, [user])
    if app.clock.now() < SPEC_NOW:
        await app.clock.set(SPEC_NOW)
    await app.settle()
    app.clear()
    return app


async def fund(app: AppHarness, user: str, amount: int) -> None:
    result = await app.ledger.credit(CHANNEL, user, amount, type="admin_grant", kind=Kind.EARN,
                                     reason="test funds")
    assert result.ok


async def postings(app: AppHarness, user: str) -> list[Posting]:
    """A user's postings, oldest first."""
    return list(reversed(await app.ledger.history(CHANNEL, user, limit=100_000)))


async def moved(app: AppHarness, user: str) -> list[tuple[str, int]]:
    """(type, amount) of the user's postings other than the test funds."""
    return [(p.type, p.amount) for p in await postings(app, user) if p.type != "admin_grant"]


async def total_money(app: AppHarness) -> int:
    """Σ balances plus Σ open escrows of the channel (nothing is minted or burned by a tip)."""
    escrowed = sum(e.amount for e in await app.ledger.open_escrows(CHANNEL))
    return await app.ledger.circulation(CHANNEL) + escrowed


class Discount:
    """A stand-in for the ranks plugin: ``percent`` off every price, and ``free_fortunes``
    extra free fortunes a day, for the users named (everyone when None)."""

    name = "discount"
    percent = 2.0
    free_fortunes = 0
    users: frozenset[str] | None = None

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def _applies(self, username: str) -> bool:
        return self.users is None or username.casefold() in self.users

    @hookimpl
    def economy_price_adjustments(self, quote: PriceQuote) -> PriceAdjustment | None:
        if not self._applies(quote.username) or not self.percent:
            return None
        return PriceAdjustment("rank discount", 1 - self.percent / 100)

    @hookimpl
    def economy_allowance_bonus(self, channel: str, username: str,
                                allowance: str) -> int | None:
        if allowance == "free_fortune" and self._applies(username):
            return self.free_fortunes
        return None


def discount(percent: float = 2.0, *, free_fortunes: int = 0,
             users: Sequence[str] | None = None) -> type:
    """A :class:`Discount` plugin class with these settings."""
    return type("Discount", (Discount,), {
        "percent": percent, "free_fortunes": free_fortunes,
        "users": None if users is None else frozenset(u.casefold() for u in users)})


async def test_kit_builds_the_spec_fixture(make_app: MakeApp) -> None:
    app = await social_app(make_app)
    assert app.clock.now() == SPEC_NOW
    assert await app.balance("alice") == 10_000
    first = await app.app.members.first_seen(CHANNEL, "alice")
    assert SPEC_NOW - first == ACCOUNT_AGE
    assert app.transport.sent == []
