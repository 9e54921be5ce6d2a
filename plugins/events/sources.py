"""The multiplier sources as pure functions of the channel-local time (SPEC §3.12).

Every rule reads time in the channel timezone, so a DST change moves nothing by an hour:
off-peak hours and weekdays are wall-clock hours and days, a holiday is a local date, and a
scheduled event starts at the local wall-clock minute its cron names (a minute that a
spring-forward skips never fires; a repeated autumn hour fires once) and then lasts
``duration_hours`` of real time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache

import attrs

from economy_core import CronSpec, Multiplier

from .config import Holiday, OffPeakConfig, ScheduledEvent

OFF_PEAK = "Off-peak"
HIGH_POPULATION = "High population"


@attrs.frozen
class Window:
    """One run of a scheduled event: from its cron fire to fire + duration (UTC instants)."""

    name: str
    fire: datetime
    ends: datetime
    multiplier: float

    def covers(self, now: datetime) -> bool:
        return self.fire <= now < self.ends


def cron_weekday(local: datetime | date) -> int:
    """The weekday as cron counts it: 0 = Sunday … 6 = Saturday."""
    return (local.weekday() + 1) % 7


def off_peak_on(cfg: OffPeakConfig, local: datetime) -> bool:
    """Off-peak applies at this local time (weekday in ``days`` and hour in ``hours``)."""
    return cfg.enabled and cron_weekday(local) in cfg.days and local.hour in cfg.hours


def holiday_on(holidays: Iterable[Holiday], local_day: date) -> Holiday | None:
    """The holiday of this local date, if any."""
    key = f"{local_day.month:02d}-{local_day.day:02d}"
    return next((h for h in holidays if h.date == key), None)


@lru_cache(maxsize=256)
def _spec(expression: str) -> CronSpec:
    return CronSpec.parse(expression)


def _fires(spec: CronSpec, tz: tzinfo, after: datetime, until: datetime) -> list[datetime]:
    """Every fire of ``spec`` (read in ``tz``) in ``(after, until]``, as UTC instants.

    Bounded: around an autumn DST change the next fire after a repeated wall-clock minute can
    lie before it, so the walk collects fires in the range whatever their order and stops once
    it is past ``until`` or repeats itself."""
    found: set[datetime] = set()
    moment = after.astimezone(tz)
    for _ in range(20_000):
        nxt = spec.next_after(moment).astimezone(UTC)
        if nxt > until or nxt in found:
            break
        if nxt > after:
            found.add(nxt)
        moment = nxt.astimezone(tz)
    return sorted(found)


def latest_window(event: ScheduledEvent, tz: tzinfo, now: datetime) -> Window | None:
    """The run of ``event`` that covers ``now`` (its latest fire at or before ``now``, if that
    run has not ended), else None. A later fire of the same event replaces an earlier run."""
    now = now.astimezone(UTC)  # real-time arithmetic (an aware local time subtracts wall time)
    duration = timedelta(hours=event.duration_hours)
    fires = _fires(_spec(event.cron), tz, now - duration, now)
    if not fires:
        return None
    window = Window(event.name, fires[-1], fires[-1] + duration, event.multiplier)
    return window if window.covers(now) else None


def next_fire(event: ScheduledEvent, tz: tzinfo, now: datetime) -> datetime:
    """The event's next start after ``now`` (UTC)."""
    return _spec(event.cron).next_after(now.astimezone(tz)).astimezone(UTC)


def combined(factors: Sequence[Multiplier]) -> float:
    """The product of the factors (1.0 for none)."""
    product = 1.0
    for m in factors:
        product *= m.factor
    return product


def shown_factor(factor: float) -> str:
    """A factor as users read it: ``2.0×``, ``1.5×``, ``1.25×``."""
    text = f"{factor:.2f}".rstrip("0")
    return (text + "0" if text.endswith(".") else text) + "×"
