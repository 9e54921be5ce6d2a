"""Events in the channel timezone across both Europe/Berlin DST changes of 2026 (Sunday 29 March
02:00 → 03:00, Sunday 25 October 03:00 → 02:00), as streaks handles days: crons fire at the local
wall-clock minute, runs last real hours, off-peak hours and holidays are local."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from economy_plugins.events.config import Holiday, OffPeakConfig, ScheduledEvent
from economy_plugins.events.sources import holiday_on, latest_window, off_peak_on

from economy_core.testing import AppHarness, MakeApp

from .test_events_kit import events_app, minutes_paid

BERLIN = ZoneInfo("Europe/Berlin")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


async def goto(app: AppHarness, when: datetime) -> None:
    await app.clock.set(when)
    await app.settle()


@pytest.mark.parametrize(("month", "days", "hours_utc"), [
    (3, [28, 29, 30], [21, 20, 20]), (10, [24, 25, 26], [20, 21, 21])], ids=["march", "october"])
def test_a_daily_fire_keeps_its_local_time(month: int, days: list[int],
                                           hours_utc: list[int]) -> None:
    event = ScheduledEvent("Evening", "0 22 * * *", 2.0)
    for day, hour in zip(days, hours_utc, strict=True):
        window = latest_window(event, BERLIN, local(2026, month, day, 22, 30))
        assert window is not None and window.fire == utc(2026, month, day, hour)
        assert window.ends == window.fire + timedelta(hours=2)


def test_runs_last_real_hours_over_the_change() -> None:
    night = ScheduledEvent("Night", "0 1 * * 0", 3.0)  # Sunday 01:00 local, 3 h
    spring = latest_window(night, BERLIN, local(2026, 3, 29, 4, 30))
    assert spring is not None and spring.fire == utc(2026, 3, 29, 0)
    assert spring.ends.astimezone(BERLIN) == local(2026, 3, 29, 5, 0)  # 3 h, local 01-05
    autumn = latest_window(night, BERLIN, local(2026, 10, 25, 2, 30))
    assert autumn is not None and autumn.fire == utc(2026, 10, 24, 23)
    assert autumn.ends.astimezone(BERLIN) == local(2026, 10, 25, 3, 0)  # 3 h, local 01-03


def test_a_skipped_minute_never_fires_and_a_repeated_one_fires_once() -> None:
    skipped = ScheduledEvent("Ghost", "30 2 * * 0", 1.0)
    assert latest_window(skipped, BERLIN, utc(2026, 3, 29, 1, 45)) is None  # 03:45 CEST
    repeated = latest_window(skipped, BERLIN, utc(2026, 10, 25, 1, 15))  # second 02:15
    assert repeated is not None and repeated.fire == utc(2026, 10, 25, 0, 30)  # first 02:30
    assert latest_window(skipped, BERLIN, utc(2026, 10, 25, 1, 35)) is None  # not again


@pytest.mark.parametrize(("instant", "on"), [
    (utc(2026, 3, 29, 3, 59), False), (utc(2026, 3, 29, 4, 0), True),  # 06:00 CEST
    (utc(2026, 3, 29, 5, 0), False),
    (utc(2026, 10, 25, 4, 59), False), (utc(2026, 10, 25, 5, 0), True),  # 06:00 CET
    (utc(2026, 10, 25, 6, 0), False),
])
def test_off_peak_hours_are_local(instant: datetime, on: bool) -> None:
    cfg = OffPeakConfig(days=[0], hours=[6])
    assert off_peak_on(cfg, instant.astimezone(BERLIN)) is on


def test_a_holiday_is_the_local_date() -> None:
    day = [Holiday("03-29", "Spring", 2.0)]
    assert holiday_on(day, utc(2026, 3, 28, 22, 59).astimezone(BERLIN).date()) is None
    assert holiday_on(day, utc(2026, 3, 28, 23, 0).astimezone(BERLIN).date()) == day[0]
    assert holiday_on(day, utc(2026, 3, 29, 21, 59).astimezone(BERLIN).date()) == day[0]
    assert holiday_on(day, utc(2026, 3, 29, 22, 0).astimezone(BERLIN).date()) is None


async def test_the_bot_runs_its_events_through_both_changes(make_app: MakeApp) -> None:
    """A daily 22:00 event (2 h, ×3) in Berlin, four evenings around each change (the bot
    restarted each evening): it starts once a day at local 22:00 and pays ×3 for exactly its
    two hours, before and after each change."""
    evening = {"name": "Evening", "cron": "0 22 * * *", "duration_hours": 2, "multiplier": 3.0,
               "presence_bonus": 0}
    app = await events_app(make_app, {"scheduled_events": [evening]}, tz="Europe/Berlin",
                           start=local(2026, 3, 27, 21, 0), users=("alice",))
    days = [date(2026, 3, 27) + timedelta(days=n) for n in range(4)] + [
        date(2026, 10, 23) + timedelta(days=n) for n in range(4)]
    for day in days:
        evening = datetime.combine(day, datetime.min.time(), BERLIN) + timedelta(hours=21,
                                                                                minutes=50)
        await app.app.stop()  # the bot sleeps through the day (no minute-by-minute replay)
        await app.clock.set(evening)
        app = await app.restart()
        await app.seed(["alice"])
        await goto(app, evening + timedelta(minutes=9, seconds=30))
        before = len(await minutes_paid(app, "alice"))
        app.clear()
        await app.advance(hours=2, minutes=2)  # 21:59:30 → 00:01:30 local
        paid = (await minutes_paid(app, "alice"))[before:]
        assert paid == [3] * 120 + [1, 1], day  # minutes 22:00 … 23:59 at ×3
        lines = app.chat_lines()
        assert len([line for line in lines if "has begun" in line]) == 1, day
        assert lines[-1] == "⏰ Evening is over. Thanks for being here!", day
    async with app.app.engine.connect() as conn:
        rows = (await conn.execute(sa.text(
            "SELECT started_at, ends_at, status FROM events_occurrences ORDER BY started_at")
        )).all()
    fires = [datetime.fromisoformat(str(r[0])).replace(tzinfo=UTC) for r in rows]
    assert [f.astimezone(BERLIN).strftime("%m-%d %H:%M") for f in fires] == [
        "03-27 22:00", "03-28 22:00", "03-29 22:00", "03-30 22:00",
        "10-23 22:00", "10-24 22:00", "10-25 22:00", "10-26 22:00"]
    assert [f.hour for f in fires] == [21, 21, 20, 20, 20, 20, 21, 21]
    assert {r[2] for r in rows} == {"ended"}
