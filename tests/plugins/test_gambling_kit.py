"""Shared helpers of the gambling tests (imported by the other ``test_gambling*`` modules), and
a check that the fixture they build matches SPEC §8's: channel ``testchan``, defaults, clock Tue
2026-03-03 20:00 UTC, accounts older than 60 minutes, rolls forced."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from economy_plugins.gambling import Gambling
from economy_plugins.gambling.rolls import ScriptedRolls

from economy_core.clock import FakeClock
from economy_core.commands import CommandCall
from economy_core.ledger import Kind, Posting
from economy_core.testing import AppHarness, MakeApp, merge_config

CHANNEL = "testchan"
SPEC_NOW = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)
"""SPEC §8's clock."""
ACCOUNT_AGE = timedelta(minutes=65)
"""How long before SPEC_NOW the funded accounts were first seen (> 60 min)."""

SPEC_SLOT_TABLE = [
    {"symbols": "🍒🍒🍒", "multiplier": 3, "probability": 0.10},
    {"symbols": "🍋🍋🍋", "multiplier": 5, "probability": 0.05},
    {"symbols": "💎💎💎", "multiplier": 10, "probability": 0.02},
    {"symbols": "7️⃣7️⃣7️⃣", "multiplier": 50, "probability": 0.002},
    {"symbols": "partial", "multiplier": 2, "probability": 0.15},
    {"symbols": "loss", "multiplier": 0, "probability": 0.678},
]
"""The seed table of SPEC §3.6 (returns 1.15): scenario 22's roll 0.171 assumes it."""


async def gambling_app(make_app: MakeApp, config: Mapping[str, Any] | None = None, *,
                       users: Sequence[str] = ("alice", "bob", "carol"), balance: int = 1000,
                       db: str = "economy.db", core: Mapping[str, Any] | None = None,
                       plugins: Sequence[Any] = ()) -> AppHarness:
    """The SPEC §8 fixture: an app with the gambling plugin whose ``users`` each hold
    ``balance`` and were first seen 65 minutes before the clock reads 20:00 UTC."""
    clock = FakeClock(SPEC_NOW - ACCOUNT_AGE)
    # tests force rolls on tables and odds an operator would not ship: allowed here
    section = {"allow_house_loss": True, **dict(config or {})}
    overrides = merge_config({"plugins": {"gambling": section}}, core or {})
    app = await make_app(plugins=[Gambling, *plugins], config=overrides, channel=CHANNEL, db=db,
                         clock=clock)
    for user in users:
        await fund(app, user, balance)
        await app.app.members.seen(CHANNEL, [user])
    await app.clock.set(SPEC_NOW)
    await app.settle()
    app.clear()
    return app


async def fund(app: AppHarness, user: str, amount: int) -> None:
    result = await app.ledger.credit(CHANNEL, user, amount, type="admin_grant", kind=Kind.EARN,
                                     reason="test funds")
    assert result.ok


def plugin(app: AppHarness) -> Gambling:
    found: Gambling = app.plugin("gambling")
    return found


def force(app: AppHarness, *values: float) -> ScriptedRolls:
    """Script the next rolls of every game (SPEC §8: "rolls forced")."""
    rolls = ScriptedRolls(values)
    plugin(app).rolls = rolls
    return rolls


def call(app: AppHarness, user: str, command: str = "") -> CommandCall:
    """A command call as the router would build it (for driving races directly)."""
    return CommandCall(CHANNEL, user, 1, command, "", app.clock.now(), False)


async def postings(app: AppHarness, user: str) -> list[Posting]:
    """A user's postings, oldest first."""
    found = await app.ledger.history(CHANNEL, user, limit=100_000)
    return list(reversed(found))


async def gamble_postings(app: AppHarness, user: str) -> list[tuple[str, int]]:
    return [(p.type, p.amount) for p in await postings(app, user)
            if p.type != "admin_grant"]


async def open_gambling_escrows(app: AppHarness) -> list[Any]:
    return [e for e in await app.ledger.open_escrows(CHANNEL) if e.source == "gambling"]


async def test_kit_builds_the_spec_fixture(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    assert app.clock.now() == SPEC_NOW
    assert await app.balance("alice") == 1000
    first = await app.app.members.first_seen(CHANNEL, "alice")
    assert SPEC_NOW - first == ACCOUNT_AGE
    assert app.transport.sent == []
