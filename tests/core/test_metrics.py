"""The core's metrics: channel gauges, PM latency, errors by plugin, counters kept across
restarts and crashes, ``/health`` and ``/metrics`` on the HTTP endpoint, scrapes that never query
the database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event as sa_event

from economy_core import PluginContext, command
from economy_core.commands import CommandCall
from economy_core.db import make_engine
from economy_core.metrics import Metrics
from economy_core.metrics_store import series_key
from economy_core.testing import AppHarness, MakeApp
from tests.metrics_kit import families, fetch, free_port, total, value
from tests.support import Bank

CHANNEL = "testroom"


def text(app: AppHarness) -> str:
    return app.app.metrics.render()


async def test_channel_gauges_count_accounts_circulation_median_present_participation(
        make_app: MakeApp) -> None:
    app = await make_app(plugins=[Bank], config={
        "channels": [{"domain": "cytu.be", "channel": CHANNEL},
                     {"domain": "cytu.be", "channel": "other"}],
        "bot": {"username": "ZCoinBot"}})
    for user, amount in (("alice", 10), ("bob", 30), ("carol", 500), ("dave", 40)):
        assert (await app.ledger.credit(CHANNEL, user, amount, type="bank_grant")).ok
    assert (await app.ledger.credit("other", "erin", 7, type="bank_grant")).ok
    await app.seed(["alice", "bob", "ZCoinBot", "zed", "yan"])  # zed and yan hold no account
    await app.app.refresh_metrics()
    page = text(app)
    assert value(page, "economy_total_accounts", channel=CHANNEL) == 4
    assert value(page, "economy_total_circulation", channel=CHANNEL) == 580
    assert value(page, "economy_median_balance", channel=CHANNEL) == 35  # (30 + 40) / 2
    assert value(page, "economy_active_users", channel=CHANNEL) == 4  # the bot not counted
    assert value(page, "economy_participation_rate", channel=CHANNEL) == 50  # 2 of 4 present
    assert value(page, "economy_total_accounts", channel="other") == 1
    assert value(page, "economy_median_balance", channel="other") == 7
    assert value(page, "economy_active_users", channel="other") == 0
    assert value(page, "economy_participation_rate", channel="other") == 0

    assert (await app.ledger.credit(CHANNEL, "zed", 1, type="bank_grant")).ok
    await app.app.refresh_metrics()
    page = text(app)
    assert value(page, "economy_median_balance", channel=CHANNEL) == 30  # 1 10 30 40 500
    assert value(page, "economy_participation_rate", channel=CHANNEL) == 75


async def test_pm_latency_is_observed_and_command_errors_are_counted_for_their_plugin(
        make_app: MakeApp) -> None:
    app = await make_app(plugins=[Bank])
    await app.pm("alice", "grant_me")
    await app.pm("alice", "boom")
    await app.pm("alice", "help")
    page = text(app)
    assert value(page, "economy_pm_command_seconds_count") == 3
    assert value(page, "economy_pm_command_seconds_bucket", le="+Inf") == 3
    assert value(page, "economy_handler_errors_total", plugin="bank", where="command") == 1
    assert value(page, "economy_commands_total", command="boom", outcome="error") == 1
    assert value(page, "economy_z_credited_total", source="bank", type="bank_grant",
                 kind="earn") == 1000


class Tally:
    """A plugin with a counter and a refreshed gauge (one refresh fails when told to)."""

    name = "tally"

    def __init__(self, ctx: PluginContext[None]) -> None:
        self.ctx = ctx
        self.counted = ctx.metrics.counter("clicks_total", "Clicks")
        self.gauge = ctx.metrics.gauge("level", "Level")
        self.fail = False
        self.refreshes = 0
        ctx.metrics.refresher(self.refresh)

    async def refresh(self) -> None:
        self.refreshes += 1
        if self.fail:
            raise RuntimeError("refresh broke")
        self.gauge.set({"channel": CHANNEL}, self.refreshes)

    @command("click", help="Count a click")
    async def click(self, call: CommandCall) -> str:
        self.counted.inc({"button": "a"})
        return "click"

    @command("healthy", help="The bot's health check as a plugin sees it")
    async def healthy(self, call: CommandCall) -> str:
        assert self.ctx.health is not None
        health = await self.ctx.health()
        return f"ok={health.ok} reason={health.reason!r}"


async def test_counters_continue_after_a_clean_restart(make_app: MakeApp) -> None:
    app = await make_app(plugins=[Tally])
    for _ in range(3):
        await app.pm("alice", "click")
    await app.pm("alice", "help")
    app = await app.restart()
    page = text(app)
    assert value(page, "economy_tally_clicks_total", button="a") == 3
    assert value(page, "economy_commands_total", command="click", outcome="ok") == 3
    await app.pm("alice", "click")
    page = text(app)
    assert value(page, "economy_tally_clicks_total", button="a") == 4
    assert value(page, "economy_commands_total", command="help", outcome="ok") == 1
    assert value(page, "economy_events_in_total", type="PrivateMessage") == 5


async def test_a_crash_loses_only_what_was_counted_since_the_last_timed_save(
        make_app: MakeApp) -> None:
    app = await make_app(plugins=[Tally], config={"metrics": {"persist_seconds": 300}})
    for _ in range(2):
        await app.pm("alice", "click")
    await app.advance(minutes=5)  # the timed save
    for _ in range(3):
        await app.pm("alice", "click")
    app.arm_crash(after_commits=0)  # the process dies: the shutdown's save never lands
    app = await app.restart()
    assert value(text(app), "economy_tally_clicks_total", button="a") == 2
    await app.advance(minutes=5)  # nothing counted since: the next save writes nothing new
    app = await app.restart()
    assert value(text(app), "economy_tally_clicks_total", button="a") == 2


async def test_refreshers_run_on_the_schedule_while_the_endpoint_is_on_and_failures_are_isolated(
        make_app: MakeApp) -> None:
    port = free_port()
    app = await make_app(plugins=[Tally], config={"metrics": {"port": port,
                                                              "refresh_seconds": 15}})
    tally: Any = app.plugin("tally")
    assert tally.refreshes == 1  # once at start
    await app.advance(seconds=30)
    assert tally.refreshes == 3
    assert value(text(app), "economy_tally_level", channel=CHANNEL) == 3
    tally.fail = True
    await app.advance(seconds=15)
    page = text(app)
    assert value(page, "economy_handler_errors_total", plugin="tally", where="metrics") == 1
    assert value(page, "economy_tally_level", channel=CHANNEL) == 3  # the last good value
    assert "economy_total_accounts" in families(page)  # the core's refresher still ran


async def test_without_the_endpoint_nothing_is_refreshed(make_app: MakeApp) -> None:
    app = await make_app(plugins=[Tally])
    await app.advance(minutes=5)
    assert app.plugin("tally").refreshes == 0


async def test_scrapes_serve_memory_and_never_query_the_database(make_app: MakeApp) -> None:
    port = free_port()
    app = await make_app(plugins=[Bank], config={"metrics": {"port": port}})
    await app.pm("alice", "grant_me")
    await app.seed(["alice"])
    await app.app.refresh_metrics()
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sa_event.listen(app.app.engine.sync_engine, "before_cursor_execute", seen)
    try:
        status, body = await fetch(port, "/metrics")
        assert status == 200
        assert value(body, "economy_total_circulation", channel=CHANNEL) == 1000
        assert value(body, "economy_active_users", channel=CHANNEL) == 1
        assert statements == []
        await app.app.refresh_metrics()  # the refresher is what reads the database
        assert statements != []
    finally:
        sa_event.remove(app.app.engine.sync_engine, "before_cursor_execute", seen)


async def test_health_is_200_when_up_and_503_with_the_reason_when_the_database_is_down(
        make_app: MakeApp, tmp_path: Any) -> None:
    port = free_port()
    app = await make_app(plugins=[Tally], config={"metrics": {"port": port}})
    assert await fetch(port, "/health") == (200, "ok\n")
    assert await app.pm("alice", "healthy") == ["ok=True reason=''"]
    engine = app.app.engine
    app.app.engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/economy.db")
    try:
        status, body = await fetch(port, "/health")
        assert status == 503
        assert body == "unhealthy: database unreachable\n"
        assert await app.pm("alice", "healthy") == ["ok=False reason='database unreachable'"]
        api = (await app.app.api.handle(b'{"command": "system.health"}'))
        assert api["data"]["database"] is False and api["data"]["status"] == "degraded"
    finally:
        await app.app.engine.dispose()
        app.app.engine = engine
    assert (await fetch(port, "/health"))[0] == 200


async def test_health_is_503_when_nats_is_down(economy_e2e: Any) -> None:
    port = free_port()
    env = await economy_e2e(plugins=["wallet"], config={"metrics": {"port": port}})
    assert await fetch(port, "/health") == (200, "ok\n")
    await env.nats.stop()
    from economy_core.testing import wait_until

    bus = env.app._bus
    await wait_until(lambda: not bus.connected, 10)
    status, body = await fetch(port, "/health")
    assert (status, body) == (503, "unhealthy: NATS not connected\n")


def test_a_counter_made_after_the_restore_gets_its_stored_value() -> None:
    metrics = Metrics()
    metrics.restore({series_key("economy_late_made_total", {"x": "1"}): 5.0,
                     series_key("economy_commands_total", {"command": "a", "outcome": "ok"}): 2})
    assert value(metrics.render(), "economy_commands_total", command="a", outcome="ok") == 2
    late = metrics.for_plugin("late").counter("made_total", "Made late")
    late.inc({"x": "1"})
    assert value(metrics.render(), "economy_late_made_total", x="1") == 6
    assert metrics.unsaved() == {series_key("economy_late_made_total", {"x": "1"}): 6.0}


@pytest.mark.parametrize("persisted", [False, True])
async def test_gauges_and_histograms_are_not_persisted(make_app: MakeApp,
                                                        persisted: bool) -> None:
    app = await make_app(plugins=[Bank])
    await app.pm("alice", "help")
    if persisted:
        app = await app.restart()
    page = text(app)
    assert value(page, "economy_pm_command_seconds_count") == (0 if persisted else 1)
    assert total(page, "economy_commands_total", command="help") == 1
