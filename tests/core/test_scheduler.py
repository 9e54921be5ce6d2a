"""The clock, cron parser and scheduler: due jobs run inline on FakeClock.advance, in time order,
isolated from each other, in the configured timezone (DST included)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from economy_core.clock import FakeClock, SystemClock
from economy_core.cron import CronError, CronSpec
from economy_core.scheduler import Scheduler


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def test_interval_jobs_run_inline_in_time_order() -> None:
    clock = FakeClock(utc(2026, 3, 3, 20, 0))
    sched = Scheduler(clock, UTC)
    seen: list[tuple[str, datetime]] = []

    async def a() -> None:
        seen.append(("a", clock.now()))

    async def b() -> None:
        seen.append(("b", clock.now()))

    sched.every(60, a, name="a", owner="t")
    sched.every(90, b, name="b", owner="t")
    await clock.advance(minutes=3)
    assert [(n, t.minute, t.second) for n, t in seen] == [
        ("a", 1, 0), ("b", 1, 30), ("a", 2, 0), ("a", 3, 0), ("b", 3, 0)]
    assert clock.now() == utc(2026, 3, 3, 20, 3)


async def test_a_failing_job_never_stops_the_others() -> None:
    clock = FakeClock()
    errors: list[tuple[str, str]] = []
    sched = Scheduler(clock, UTC, on_error=lambda owner, name, exc: errors.append((owner, name)))
    ran: list[int] = []

    async def boom() -> None:
        raise RuntimeError("bad job")

    async def good() -> None:
        ran.append(1)

    job = sched.every(60, boom, name="boom", owner="p1")
    sched.every(60, good, name="good", owner="p2")
    await clock.advance(minutes=3)
    assert len(ran) == 3
    assert errors == [("p1", "boom")] * 3
    assert job.failures == 3 and job.runs == 3


async def test_daily_job_fires_at_local_midnight_across_dst() -> None:
    tz = ZoneInfo("Europe/Berlin")
    clock = FakeClock(utc(2026, 3, 27, 12, 0))
    sched = Scheduler(clock, tz)
    fired: list[datetime] = []

    async def midnight() -> None:
        fired.append(clock.now().astimezone(tz))

    sched.daily(time(0, 0), midnight, name="midnight", owner="t")
    await clock.advance(days=3)
    assert [f.date().isoformat() for f in fired] == ["2026-03-28", "2026-03-29", "2026-03-30"]
    assert all((f.hour, f.minute) == (0, 0) for f in fired)
    # the UTC offset changed on 29 March: +01:00 before, +02:00 after
    assert [f.utcoffset().total_seconds() / 3600 for f in fired] == [1, 1, 2]  # type: ignore[union-attr]


async def test_cron_job_weekday_zero_is_sunday() -> None:
    clock = FakeClock(utc(2026, 3, 3, 0, 0))  # a Tuesday
    sched = Scheduler(clock, UTC)
    fired: list[datetime] = []

    async def job() -> None:
        fired.append(clock.now())

    sched.cron("30 5 * * 0", job, name="sunday", owner="t")
    await clock.advance(days=14)
    assert fired == [utc(2026, 3, 8, 5, 30), utc(2026, 3, 15, 5, 30)]


async def test_cancel_owner_stops_only_that_owners_jobs() -> None:
    clock = FakeClock()
    sched = Scheduler(clock, UTC)
    counts = {"a": 0, "b": 0}

    def make(key: str):  # type: ignore[no-untyped-def]
        async def job() -> None:
            counts[key] += 1
        return job

    sched.every(60, make("a"), name="j", owner="a")
    sched.every(60, make("b"), name="j", owner="b")
    await clock.advance(minutes=2)
    sched.cancel_owner("a")
    await clock.advance(minutes=2)
    assert counts == {"a": 2, "b": 4}


async def test_big_jump_runs_a_job_once_per_due_instant_not_more() -> None:
    clock = FakeClock()
    sched = Scheduler(clock, UTC)
    runs: list[datetime] = []

    async def job() -> None:
        runs.append(clock.now())

    sched.every(3600, job, name="hourly", owner="t")
    await clock.advance(hours=5)
    assert len(runs) == 5


async def test_fake_clock_refuses_to_go_backwards() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError):
        await clock.advance(-1)
    with pytest.raises(ValueError):
        FakeClock(datetime(2026, 1, 1))


async def test_real_scheduler_loop_runs_jobs_on_a_fast_clock() -> None:
    clock = SystemClock(time_scale=600.0)  # one real second = ten minutes
    sched = Scheduler(clock, UTC)
    ran: list[int] = []

    async def job() -> None:
        ran.append(1)

    sched.every(30, job, name="fast", owner="t")  # 0.05 real seconds
    await sched.start()
    try:
        import asyncio
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while len(ran) < 3 and loop.time() < deadline:
            await asyncio.sleep(0.01)
    finally:
        await sched.stop()
    assert len(ran) >= 3


@pytest.mark.parametrize("expr, problem", [
    ("* * * *", "5 fields"),
    ("60 * * * *", "minute"),
    ("* 24 * * *", "hour"),
    ("* * 0 * *", "day of month"),
    ("* * * 13 *", "month"),
    ("* * * * 8", "day of week"),
    ("*/0 * * * *", "step"),
    ("a * * * *", "minute"),
])
def test_cron_errors_name_the_field(expr: str, problem: str) -> None:
    with pytest.raises(CronError, match=problem):
        CronSpec.parse(expr)


def test_cron_next_after_lists_ranges_and_steps() -> None:
    spec = CronSpec.parse("*/15 9-10 * * 1-5")
    t = utc(2026, 3, 6, 10, 50)  # Friday
    nxt = spec.next_after(t)
    assert nxt == utc(2026, 3, 9, 9, 0)  # Monday 09:00
    assert spec.next_after(utc(2026, 3, 9, 9, 0)) == utc(2026, 3, 9, 9, 15)


async def test_once_runs_a_single_time_after_its_delay() -> None:
    clock = FakeClock(utc(2026, 3, 3, 20, 0))
    sched = Scheduler(clock, UTC)
    runs: list[datetime] = []

    async def job() -> None:
        runs.append(clock.now())

    sched.once(90, job, name="welcome", owner="t")
    await clock.advance(minutes=1)
    assert runs == []
    await clock.advance(days=3)
    assert runs == [utc(2026, 3, 3, 20, 1, 30)]
    assert sched.jobs() == []
