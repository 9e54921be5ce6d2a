"""Digests and snapshots (SPEC §5, issue 17): snapshots once per 6-hour slot from the ledger's
aggregates, retention, the hook other plugins add columns through, ``economy.snapshot``; the
user digest at its hour to users active yesterday (quiet mode mutes it), the Monday admin
digest to present admins; each sent once per period across restarts and crashes. Real app,
ledger and SQLite file; time from the FakeClock (it starts Tue 2026-03-03 20:00 UTC)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from economy_plugins.digests import Digests

from economy_core.ledger import Kind
from economy_core.testing import AppHarness, MakeApp

CHANNEL = "testchan"
TOKEN = "ops-token-0123456789"


async def digest_app(make_app: MakeApp, section: dict[str, Any] | None = None, *,
                     extra: tuple[Any, ...] = (), core: dict[str, Any] | None = None
                     ) -> AppHarness:
    config: dict[str, Any] = {"plugins": {"digests": section or {}},
                              "api": {"clients": [{"name": "ops", "token": TOKEN,
                                                   "endpoints": ["economy.*"]}]},
                              **(core or {})}
    return await make_app(plugins=[Digests, "wallet", *extra], config=config, channel=CHANNEL)


async def activity(app: AppHarness) -> None:
    """alice earns 500 and spends 100; bob earns 300, stakes 200 and wins 50 back; carol gets
    an admin correction (no counter): all today (2026-03-03)."""
    ledger = app.ledger
    await ledger.credit(CHANNEL, "alice", 500, type="earn", kind=Kind.EARN)
    await ledger.debit(CHANNEL, "alice", 100, type="spend", kind=Kind.SPEND)
    await ledger.credit(CHANNEL, "bob", 300, type="earn", kind=Kind.EARN)
    await ledger.debit(CHANNEL, "bob", 200, type="wager", kind=Kind.GAMBLE)
    await ledger.credit(CHANNEL, "bob", 50, type="gamble_win", kind=Kind.GAMBLE)
    await ledger.credit(CHANNEL, "carol", 1000, type="admin_grant", kind=Kind.CORRECTION)


def plugin(app: AppHarness) -> Digests:
    found: Digests = app.plugin("digests")
    return found


async def test_a_snapshot_holds_the_ledger_figures_of_the_day(make_app: MakeApp) -> None:
    app = await digest_app(make_app)
    await app.advance(0)  # the start-up catch-up takes the 18:00 slot on an empty ledger
    await activity(app)
    await app.join("alice")
    await app.join("bob")
    await app.settle()
    snap = await plugin(app).take_snapshot(CHANNEL, app.clock.now())
    assert snap is None
    await app.clock.set(datetime(2026, 3, 4, 0, 0, tzinfo=UTC))
    balances = [await app.balance(u) for u in ("alice", "bob", "carol")]
    await activity(app)  # the new day: the day's figures start again
    [_, snap] = await plugin(app).snapshots(CHANNEL)
    assert snap.slot == datetime(2026, 3, 4, 0, 0, tzinfo=UTC)
    # taken at 00:00 before today's activity: balances carried, today's figures zero
    assert (snap.accounts, snap.circulation) == (3, sum(balances))
    assert (snap.earned_today, snap.spent_today, snap.gamble_net_today, snap.active_today) == (
        0, 0, 0, 0)
    measured = await plugin(app).measure(CHANNEL, app.clock.now())
    assert (measured.earned_today, measured.spent_today, measured.gamble_net_today) == (
        800, 100, -150)
    assert measured.active_today == 2  # carol's correction counts nothing
    assert measured.participation == 100.0  # every user present holds an account


async def test_figures_from_the_ledger_match_a_fresh_count(make_app: MakeApp) -> None:
    app = await digest_app(make_app)
    await app.advance(0)
    await activity(app)
    snap = await plugin(app).measure(CHANNEL, app.clock.now())
    balances = sorted([await app.balance(u) for u in ("alice", "bob", "carol")])
    assert snap.accounts == 3
    assert snap.circulation == sum(balances) == 400 + 150 + 1000
    assert snap.median_balance == balances[1]
    assert (snap.earned_today, snap.spent_today, snap.gamble_net_today) == (800, 100, -150)
    assert snap.active_today == 2
    assert snap.participation == 0.0  # nobody present


async def test_one_snapshot_per_slot_across_restarts_and_retention(make_app: MakeApp) -> None:
    app = await digest_app(make_app, {"snapshot_retention_days": 1})
    await app.advance(0)
    assert [s.slot.hour for s in await plugin(app).snapshots(CHANNEL)] == [18]
    await app.advance(hours=1)  # 21:00: same slot
    await app.restart()
    await app.advance(0)
    assert len(await plugin(app).snapshots(CHANNEL)) == 1
    await app.clock.set(datetime(2026, 3, 4, 6, 0, tzinfo=UTC))
    slots = [s.slot for s in await plugin(app).snapshots(CHANNEL)]
    assert slots == [datetime(2026, 3, 3, 18, tzinfo=UTC), datetime(2026, 3, 4, 0, tzinfo=UTC),
                     datetime(2026, 3, 4, 6, tzinfo=UTC)]
    await app.clock.set(datetime(2026, 3, 5, 7, 0, tzinfo=UTC))  # older than a day: gone
    slots = [s.slot for s in await plugin(app).snapshots(CHANNEL)]
    assert min(slots) >= datetime(2026, 3, 4, 7, tzinfo=UTC)
    assert slots[-1] == datetime(2026, 3, 5, 6, tzinfo=UTC)


async def test_plugins_add_columns_and_the_endpoint_answers_the_latest(
        make_app: MakeApp) -> None:
    app = await digest_app(make_app, extra=("inflation",))
    reply = await app.app.api.handle(json.dumps(
        {"command": "economy.snapshot", "token": TOKEN}).encode())
    assert reply["success"] is False and "no snapshot" in reply["error"]
    await app.ledger.credit(CHANNEL, "alice", 700, type="earn", kind=Kind.EARN)
    await app.clock.set(datetime(2026, 3, 4, 0, 0, tzinfo=UTC))
    reply = await app.app.api.handle(json.dumps(
        {"command": "economy.snapshot", "token": TOKEN}).encode())
    assert reply["success"] is True
    data = reply["data"]
    assert data["slot"] == "2026-03-04T00:00:00+00:00" and data["circulation"] == 700
    assert data["extra"] == {"inflation_factor": 1.0}  # the governor is off: 1.0
    assert data["next_at"] == "2026-03-04T06:00:00+00:00"


async def test_user_digest_at_four_to_yesterdays_active_users_once(make_app: MakeApp) -> None:
    app = await digest_app(make_app, extra=("ranks", "streaks", "presence"))
    await app.advance(0)
    await activity(app)
    await app.ledger.credit(CHANNEL, "dave", 10, type="admin_grant", kind=Kind.CORRECTION)
    await app.pm("bob", "quiet")
    app.clear()
    await app.clock.set(datetime(2026, 3, 4, 3, 59, tzinfo=UTC))
    await app.settle()
    assert app.pms_to("alice") == []
    await app.clock.set(datetime(2026, 3, 4, 4, 0, tzinfo=UTC))
    await app.settle()
    [text] = app.pms_to("alice")
    assert "Yesterday +500" in text and "spent 100" in text and "balance 400" in text
    assert "Extra" in text  # the rank, from the ranks plugin's answer
    assert app.pms_to("bob") == []  # quiet mode mutes the digest
    assert app.pms_to("carol") == [] and app.pms_to("dave") == []  # no counters yesterday
    app.clear()
    await app.advance(hours=1)
    await app.restart()
    await app.advance(hours=1)
    await app.settle()
    assert app.pms_to("alice") == []  # once per day, also across a restart


async def test_a_restart_inside_the_window_still_sends_it(make_app: MakeApp) -> None:
    app = await digest_app(make_app)
    await app.advance(0)
    await activity(app)
    await app.clock.set(datetime(2026, 3, 4, 3, 30, tzinfo=UTC))
    breaker = app.arm_crash(after_commits=0)  # the process dies before 04:00
    await app.clock.set(datetime(2026, 3, 4, 4, 0, tzinfo=UTC))
    assert breaker.tripped
    app.clear()
    await app.clock.set(datetime(2026, 3, 4, 4, 20, tzinfo=UTC))
    await app.restart()
    await app.advance(0)
    await app.settle()
    assert len(app.pms_to("alice")) == 1
    await app.restart()
    await app.advance(0)
    await app.settle()
    assert len(app.pms_to("alice")) == 1


async def test_a_crash_at_the_claim_sends_it_at_most_once(make_app: MakeApp) -> None:
    """The process dies at every commit of the digest run in turn: after restarts the digest
    has gone out at most once, and exactly once when the claim committed."""
    for allowed in range(4):
        app = await digest_app(make_app)
        await app.advance(0)
        await activity(app)
        day = app.clock.now().date()
        night = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        await app.clock.set(night + timedelta(hours=3))
        await app.settle()
        app.clear()
        app.arm_crash(after_commits=allowed)
        await app.clock.set(night + timedelta(hours=4))
        await app.settle()
        sent_before = len(app.pms_to("alice"))
        await app.restart()
        await app.advance(0)
        await app.settle()
        total = len(app.pms_to("alice"))
        assert total <= 1, (allowed, sent_before, total)
        assert await plugin(app)._claimed(CHANNEL, "user", day.isoformat())
        assert total == 1 or sent_before == 0
        await app.clock.advance(days=1)


async def test_weekly_admin_digest_to_present_admins_on_monday(make_app: MakeApp) -> None:
    app = await digest_app(make_app)
    await app.advance(0)
    await activity(app)
    await app.join("boss", rank=4)
    await app.join("alice", rank=1)
    await app.clock.set(datetime(2026, 3, 9, 4, 59, tzinfo=UTC))  # Monday, before 05:00
    await app.settle()
    app.clear()
    await app.clock.set(datetime(2026, 3, 9, 5, 0, tzinfo=UTC))
    await app.settle()
    [text] = [t for t in app.pms_to("boss") if "Week" in t]
    assert "Minted 800" in text and "spent 100" in text and "wagered 200" in text
    assert "in 1 games" in text and "edge 75.0 %" in text
    assert "Top earners: alice 500, bob 300" in text
    assert [t for t in app.pms_to("alice") if "Week" in t] == []
    app.clear()
    await app.restart()
    await app.join("boss", rank=4)
    await app.advance(hours=2)
    await app.settle()
    assert [t for t in app.pms_to("boss") if "Week" in t] == []


async def test_no_admin_present_waits_for_one_that_monday(make_app: MakeApp) -> None:
    app = await digest_app(make_app)
    await app.advance(0)
    await app.clock.set(datetime(2026, 3, 9, 5, 0, tzinfo=UTC))
    await app.settle()
    await app.join("boss", rank=5)
    app.clear()
    await app.advance(hours=1)
    await app.settle()
    assert len([t for t in app.pms_to("boss") if "Week" in t]) == 1


async def test_econ_health_shows_the_change_since_the_last_snapshot(make_app: MakeApp) -> None:
    app = await digest_app(make_app, extra=("admin",))
    await app.advance(0)  # the start-up snapshot of the 18:00 slot: an empty ledger
    boss = "boss"
    reply = (await app.pm(boss, "econ:health", rank=4))[0]
    assert "Circulation +0 since the snapshot of 2026-03-03 18:00 UTC" in reply
    await activity(app)  # +1,550 in circulation
    reply = (await app.pm(boss, "econ:health", rank=4))[0]
    assert "Circulation +1,550 since the snapshot of 2026-03-03 18:00 UTC (0 Z then)" in reply
    await app.clock.set(datetime(2026, 3, 4, 0, 0, tzinfo=UTC))
    await app.advance(0)
    await app.ledger.debit(CHANNEL, "carol", 50, type="spend", kind=Kind.SPEND)
    reply = (await app.pm(boss, "econ:health", rank=4))[0]
    assert "Circulation -50 (-3.2%) since the snapshot of 2026-03-04 00:00 UTC" in reply
