"""Blackout windows as pure functions of the configured windows and an instant: a window runs
from each cron fire (inclusive) for its duration (exclusive end), closes queueing ``notice``
before it starts, overlapping windows report the one ending last."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from economy_plugins.media_queue.blackout import closing, current, upcoming
from economy_plugins.media_queue.config import BlackoutWindow, default_blackouts

WINDOWS = default_blackouts()
HOUR = timedelta(hours=1)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)  # 2026-03-05 is a Thursday


def test_a_window_runs_from_its_fire_to_its_end() -> None:
    assert current(WINDOWS, at(4, 23, 59)) is None
    start = current(WINDOWS, at(5, 0))
    assert start is not None and start.name == "Wednesday Prime Event"
    assert (start.start, start.end, start.multiplier) == (at(5, 0), at(5, 3), 3.0)
    assert current(WINDOWS, at(5, 2, 59)) == start
    assert current(WINDOWS, at(5, 3)) is None


def test_the_notice_closes_queueing_before_the_start() -> None:
    assert closing(WINDOWS, at(4, 22, 59), HOUR) is None
    soon = closing(WINDOWS, at(4, 23, 0), HOUR)
    assert soon is not None and soon.start == at(5, 0) and not soon.active(at(4, 23, 0))
    assert closing(WINDOWS, at(4, 23, 30), timedelta(0)) is None


def test_upcoming_and_long_windows_across_midnight() -> None:
    nxt = upcoming(WINDOWS, at(5, 3))
    assert nxt is not None and (nxt.name, nxt.start) == ("Friday Night Event", at(6, 22))
    friday = current(WINDOWS, at(7, 8, 59))  # Friday 22:00 + 11 h
    assert friday is not None and friday.end == at(7, 9)
    assert current(WINDOWS, at(7, 9)) is None
    # Saturday 14:00 (4 h) is announced from 13:00
    assert closing(WINDOWS, at(7, 13), HOUR) is not None
    assert upcoming([], at(7, 13)) is None and closing([], at(7, 13), HOUR) is None


def test_overlapping_windows_report_the_one_ending_last() -> None:
    windows = [BlackoutWindow("short", "0 20 * * *", 1.0), BlackoutWindow("long", "30 19 * * *",
                                                                         5.0, 2.0)]
    found = current(windows, at(3, 20, 15))
    assert found is not None and found.name == "long" and found.end == at(4, 0, 30)
