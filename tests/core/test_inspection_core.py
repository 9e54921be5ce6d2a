"""The core pieces the admin's inspection stands on: the shared health check (``system.health``
and ``ctx.health()`` agree), the ``config_reload`` capability, the ledger's channel totals and
daily totals."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from economy_core import CONFIG_RELOAD, CapabilityError, Contract, Kind, PostingType
from economy_core.clock import FakeClock
from economy_core.health import check_health
from economy_core.testing import MakeApp

CHANNEL = "testchan"


class Plain:
    """A plugin with no capabilities."""

    name = "plain"
    contract = Contract(posting_types=(PostingType("plain_pay", "pay", Kind.EARN),
                                       PostingType("plain_bet", "bet", Kind.GAMBLE)))

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx


class Reloader:
    name = "reloader"
    contract = Contract(capabilities=(CONFIG_RELOAD,))

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx


async def test_check_health_reports_each_dependency() -> None:
    clock = FakeClock()

    async def up() -> bool:
        return True

    async def broken() -> bool:
        raise OSError("disk gone")

    healthy = await check_health(up, lambda: True, clock)
    assert healthy.ok and healthy.status == "ok" and healthy.reasons == []
    assert healthy.as_dict() == {"status": "ok", "database": True, "bus": True,
                                 "time": clock.now().isoformat()}
    sick = await check_health(broken, lambda: False, clock, logging.getLogger("t"))
    assert sick.status == "degraded"
    assert sick.reasons == ["database unreachable", "NATS not connected"]


async def test_plugins_and_system_health_share_one_check(make_app: MakeApp) -> None:
    app = await make_app(plugins=[Plain], channel=CHANNEL)
    ctx = app.plugin("plain").ctx
    assert (await ctx.health()).as_dict() == (await app.app.health()).as_dict()
    reply = await app.app.api.handle(b'{"command": "system.health"}')
    assert reply["data"] == (await ctx.health()).as_dict()


async def test_reload_needs_the_capability(make_app: MakeApp) -> None:
    app = await make_app(plugins=[Plain, Reloader], channel=CHANNEL)
    with pytest.raises(CapabilityError, match="config_reload"):
        await app.plugin("plain").ctx.reload()
    result = await app.plugin("reloader").ctx.reload()  # "<test>" is no file: refused, unchanged
    assert not result.ok and "previous configuration" in result.message


async def test_ledger_totals_and_daily_totals(make_app: MakeApp) -> None:
    app = await make_app(plugins=[Plain], channel=CHANNEL)
    ledger = app.plugin("plain").ctx.ledger
    assert (await ledger.totals(CHANNEL)).accounts == 0
    await ledger.credit(CHANNEL, "alice", 500, type="plain_pay")
    await ledger.credit(CHANNEL, "bob", 300, type="plain_pay")
    await ledger.debit(CHANNEL, "alice", 100, type="plain_bet", kind=Kind.GAMBLE)
    await ledger.credit(CHANNEL, "alice", 40, type="plain_bet", kind=Kind.GAMBLE)
    await ledger.debit(CHANNEL, "bob", 50)  # the core's generic spend
    await ledger.credit("elsewhere", "carol", 999, type="plain_pay")
    totals = await ledger.totals(CHANNEL)
    assert (totals.accounts, totals.circulation, totals.lifetime_earned, totals.lifetime_spent,
            totals.gambled_in, totals.gambled_out) == (2, 690, 800, 50, 100, 40)
    assert totals.circulation == await ledger.circulation(CHANNEL)
    today = app.clock.now().astimezone(ledger.tz).date()
    daily, active = await ledger.daily_totals(CHANNEL, today)
    assert daily == {"z_earned": 800, "z_spent": 50, "z_gambled_in": 100, "z_gambled_out": 40}
    assert active == 2
    await app.advance(days=1)
    assert await ledger.daily_totals(CHANNEL, app.clock.now().astimezone(ledger.tz).date()) == (
        {}, 0)
