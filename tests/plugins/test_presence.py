"""Presence: SPEC §3.1 and the acceptance scenarios 1, 2, 4 and 5 (SPEC §8), through the real
router, ledger and scheduler on a SQLite file, time driven by the FakeClock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from economy_core.events import UserArrived
from economy_core.hookspecs import hookimpl
from economy_core.hooktypes import AwardRequest, Multiplier
from economy_core.testing import AppHarness, MakeApp

CHANNEL = "testchan"


async def presence_app(make_app: MakeApp, config: dict | None = None,  # type: ignore[type-arg]
                       **kwargs: object) -> AppHarness:
    return await make_app(plugins=["presence", "wallet"], config=config or {}, channel=CHANNEL,
                          **kwargs)


async def history_types(app: AppHarness, user: str) -> list[tuple[str, int]]:
    postings = await app.ledger.history(CHANNEL, user, limit=10_000)
    return [(p.type, p.amount) for p in reversed(postings)]


async def test_scenario_1_welcome_wallet_once_with_delayed_pm(make_app: MakeApp) -> None:
    app = await presence_app(make_app)
    await app.join("alice")
    assert await app.balance("alice") == 100
    assert app.pms_to("alice") == []  # the welcome PM waits 90 s
    await app.advance(89)
    assert app.pms_to("alice") == []
    await app.advance(1)
    [welcome] = app.pms_to("alice")
    assert "100" in welcome and "Z-Coin" in welcome
    await app.leave("alice")
    await app.advance(minutes=20)
    await app.join("alice")
    await app.advance(minutes=2)
    wallets = [t for t in await history_types(app, "alice") if t[0] == "welcome_wallet"]
    assert wallets == [("welcome_wallet", 100)]
    assert len([m for m in app.pms_to("alice") if "Welcome!" in m]) == 1


async def test_scenario_2_ticks_and_night_watch(make_app: MakeApp) -> None:
    app = await presence_app(make_app)
    await app.join("alice")
    start = await app.balance("alice")
    await app.advance(minutes=3)
    assert await app.balance("alice") - start == 3
    day = app.clock.local_date(UTC)
    assert (await app.ledger.daily(CHANNEL, "alice", day))["minutes_present"] == 3
    await app.clock.set(datetime(2026, 3, 4, 2, 59, 30, tzinfo=UTC))
    before = await app.balance("alice")
    await app.advance(minutes=2)  # ticks at 03:00 and 03:01 pay 1.5 each
    assert await app.balance("alice") - before == 3


async def test_scenario_5_dwell_milestones_once_per_day(make_app: MakeApp) -> None:
    app = await presence_app(make_app)
    await app.join("alice")
    await app.advance(minutes=59)
    before = await app.balance("alice")
    await app.advance(minutes=1)
    assert await app.balance("alice") - before == 1 + 10
    notices = [m for m in app.pms_to("alice") if "hour" in m]
    assert len(notices) == 1 and "1 hour" in notices[0] and "10" in notices[0]
    await app.advance(minutes=120)
    assert ("milestone", 30) in await history_types(app, "alice")
    types = await history_types(app, "alice")
    assert types.count(("milestone", 10)) == 1


async def test_any_configured_milestone_hour_pays_once(make_app: MakeApp) -> None:
    # RELIABILITY 27: an hour outside the old fixed list (2) must pay once, not every minute.
    app = await presence_app(make_app, {"plugins": {"presence": {
        "hourly_milestones": {"2": 10}, "welcome_wallet": {"enabled": False}}}})
    await app.join("alice")
    await app.advance(hours=3)
    assert await app.balance("alice") == 180 + 10


async def test_rejoin_within_debounce_pays_nothing_extra(make_app: MakeApp) -> None:
    app = await presence_app(make_app, {"plugins": {"presence": {
        "welcome_back": {"days_absent": 1}}}})
    await app.join("alice")
    await app.advance(minutes=10)
    await app.leave("alice")
    after_leave = await app.balance("alice")
    await app.advance(minutes=3)  # departing: earns nothing
    assert await app.balance("alice") == after_leave
    await app.join("alice")  # within 5 min: resumes silently
    await app.advance(minutes=1)
    assert await app.balance("alice") == after_leave + 1


async def test_welcome_back_after_long_absence_once(make_app: MakeApp) -> None:
    app = await presence_app(make_app)
    await app.join("alice")
    await app.advance(minutes=1)
    await app.leave("alice")
    await app.advance(days=8)
    before = await app.balance("alice")
    await app.join("alice")
    assert await app.balance("alice") - before == 100
    assert any("Welcome back" in m for m in app.pms_to("alice"))
    await app.join("alice")  # duplicate join event
    assert await app.balance("alice") - before == 100


async def test_first_sight_in_a_snapshot_pays_the_wallet_once(make_app: MakeApp) -> None:
    """A channel that installs the bot: everyone already in the room gets the welcome wallet
    (at first sight), paid once ever; being seeded is not an arrival (no welcome-back)."""
    app = await presence_app(make_app)
    await app.seed(["alice", "bob"])
    await app.advance(minutes=2)
    assert await app.balance("alice") == 102
    assert await app.balance("bob") == 102
    assert any("100" in m for m in app.pms_to("alice"))  # the welcome PM, after its delay
    app = await app.restart()
    await app.seed(["alice", "bob", "carol"])  # carol's first visit fell into the restart
    await app.advance(minutes=1)
    assert await app.balance("alice") == 103  # no second wallet
    assert await app.balance("carol") == 101
    assert [p.type for p in await app.ledger.history(CHANNEL, "alice", limit=50)].count(
        "welcome_wallet") == 1


async def test_a_snapshot_never_pays_welcome_back(make_app: MakeApp) -> None:
    app = await presence_app(make_app)
    await app.join("alice")
    await app.leave("alice")
    await app.advance(days=10)
    before = await app.balance("alice")
    await app.seed(["alice"])  # back after 10 days, but seen only in a snapshot
    assert await app.balance("alice") == before
    await app.leave("alice")
    await app.advance(days=8)
    await app.join("alice")  # a genuine arrival after 8 days away
    assert await app.balance("alice") == before + 100


async def test_departed_users_stop_earning(make_app: MakeApp) -> None:
    app = await presence_app(make_app)
    await app.seed(["alice"])
    await app.advance(minutes=2)
    await app.leave("alice")
    await app.advance(minutes=30)
    assert await app.balance("alice") == 102


async def test_restart_keeps_balances_and_pays_one_shots_once(make_app: MakeApp) -> None:
    app = await presence_app(make_app)
    await app.join("alice")
    await app.advance(minutes=59)
    app = await app.restart()
    await app.seed(["alice"])  # the bus re-reads the room after a restart
    await app.advance(minutes=1)  # the 60th minute: milestone paid once, no second wallet
    types = await history_types(app, "alice")
    assert types.count(("welcome_wallet", 100)) == 1
    assert types.count(("milestone", 10)) == 1
    assert await app.balance("alice") == 100 + 60 + 10
    app = await app.restart()
    await app.seed(["alice"])
    await app.advance(minutes=1)
    assert (await history_types(app, "alice")).count(("milestone", 10)) == 1
    assert await app.ledger.verify() == []


async def test_banned_users_earn_nothing(make_app: MakeApp) -> None:
    app = await presence_app(make_app)
    await app.app.identity.ban(CHANNEL, "mallory", by="admin", reason="test",
                               at=app.clock.now())
    await app.join("mallory")
    await app.advance(minutes=5)
    assert await app.balance("mallory") == 0


async def test_active_bonus_needs_recent_chat(make_app: MakeApp) -> None:
    app = await presence_app(make_app, {"plugins": {"presence": {
        "active_bonus_per_minute": 1.0, "welcome_wallet": {"enabled": False}}}})
    await app.seed(["alice", "bob"])
    await app.chat("alice", "hello there")
    await app.advance(minutes=1)
    assert await app.balance("alice") == 2
    assert await app.balance("bob") == 1
    await app.advance(minutes=10)  # alice's chat is now older than afk_threshold_minutes
    assert await app.balance("alice") == 2 + 4 * 2 + 6 * 1


class ArrivalLog:
    """A plugin that records the arrivals presence reports."""

    name = "arrival_log"
    seen: list[tuple[str, bool, timedelta | None]]

    def __init__(self, ctx: Any) -> None:
        ArrivalLog.seen = []

    @hookimpl
    async def economy_user_arrived(self, arrival: UserArrived) -> None:
        ArrivalLog.seen.append((arrival.username, arrival.genuine, arrival.absence))


async def test_arrivals_are_judged_and_reported_once_per_session(make_app: MakeApp) -> None:
    app = await make_app(plugins=["presence", ArrivalLog], channel=CHANNEL)
    await app.join("alice")
    await app.join("alice")  # a duplicate join of a live session is no arrival
    await app.advance(minutes=10)
    await app.leave("alice")
    await app.advance(minutes=2)
    await app.join("alice")  # back within the 5-minute debounce: a resume
    await app.advance(minutes=1)
    await app.leave("alice")
    await app.advance(minutes=30)
    await app.join("alice")
    assert ArrivalLog.seen == [("alice", True, None),
                               ("alice", False, timedelta(minutes=2)),
                               ("alice", True, timedelta(minutes=30))]


async def test_a_bounce_across_a_restart_is_no_genuine_arrival(make_app: MakeApp) -> None:
    app = await make_app(plugins=["presence", ArrivalLog], channel=CHANNEL)
    await app.join("alice")
    await app.advance(minutes=10)
    await app.leave("alice")
    await app.advance(minutes=1)
    app = await app.restart()  # the departure record is gone; last_seen remains
    await app.seed([])
    await app.advance(minutes=1)
    await app.join("alice")
    assert ArrivalLog.seen[-1][:2] == ("alice", False)
    assert ArrivalLog.seen[-1][2] is not None and ArrivalLog.seen[-1][2] < timedelta(minutes=5)


async def test_rewards_list_nothing_for_a_zero_rate(make_app: MakeApp) -> None:
    app = await presence_app(make_app, {"plugins": {"presence": {
        "base_rate_per_minute": 0, "hourly_milestones": {}}}})
    reply = "\n".join(await app.pm("alice", "rewards"))
    assert "Being here" not in reply and "Night watch" not in reply
    assert "Welcome wallet" in reply


class HappyHour:
    """A multiplier plugin: ×1.5 on presence pay for alice only."""

    name = "happy_hour"

    def __init__(self, ctx: Any) -> None:
        pass

    @hookimpl
    def economy_award_multiplier(self, award: AwardRequest) -> Multiplier | None:
        if award.source == "presence" and award.username == "alice":
            return Multiplier("happy hour", 1.5)
        return None


async def test_the_tick_applies_multipliers_through_the_accumulator(make_app: MakeApp) -> None:
    app = await make_app(plugins=["presence", HappyHour], channel=CHANNEL)
    await app.join("alice")
    await app.join("bob")
    start = {u: await app.balance(u) for u in ("alice", "bob")}
    await app.advance(minutes=4)  # 4 × 1.5 = 6 for alice (the halves carry over), 4 for bob
    assert await app.balance("alice") - start["alice"] == 6
    assert await app.balance("bob") - start["bob"] == 4
    [posting, *_] = await app.ledger.history(CHANNEL, "alice", limit=1)
    assert posting.type == "earn" and "happy hour" in str(posting.metadata)
