"""Five-field cron expressions (minute hour day-of-month month day-of-week).

Fields accept ``*``, numbers, ranges ``a-b``, lists ``a,b`` and steps ``*/n`` / ``a-b/n``.
Day of week runs 0–6 with 0 = Sunday (7 is accepted as Sunday too). As in classic cron, when both
day-of-month and day-of-week are restricted, a day matching either one fires.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
           ("day of week", 0, 7))


class CronError(ValueError):
    """A cron expression that cannot be parsed; the message names the field and the problem."""


def _parse_field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{name}: empty list item in {text!r}")
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{name}: bad step {step_text!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            if not (a.isdigit() and b.isdigit()):
                raise CronError(f"{name}: bad range {base!r}")
            start, end = int(a), int(b)
        elif base.isdigit():
            start = end = int(base)
            if step_text:
                end = high
        else:
            raise CronError(f"{name}: bad value {base!r}")
        if start < low or end > high or start > end:
            raise CronError(f"{name}: {base!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@attrs.frozen
class CronSpec:
    """A parsed cron expression; :meth:`next_after` finds the next firing minute."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    day_restricted: bool
    weekday_restricted: bool

    @classmethod
    def parse(cls, expression: str) -> CronSpec:
        parts = expression.split()
        if len(parts) != 5:
            raise CronError(f"cron {expression!r}: expected 5 fields, got {len(parts)}")
        parsed = [_parse_field(p, n, lo, hi) for p, (n, lo, hi) in zip(parts, _FIELDS, strict=True)]
        weekdays = frozenset(0 if d == 7 else d for d in parsed[4])
        return cls(expression, parsed[0], parsed[1], parsed[2], parsed[3], weekdays,
                   parts[2] != "*", parts[4] != "*")

    def _day_matches(self, moment: datetime) -> bool:
        cron_weekday = (moment.weekday() + 1) % 7  # Python: Monday=0; cron: Sunday=0
        day_ok = moment.day in self.days
        weekday_ok = cron_weekday in self.weekdays
        if self.day_restricted and self.weekday_restricted:
            return day_ok or weekday_ok
        return day_ok and weekday_ok

    def next_after(self, moment: datetime) -> datetime:
        """The first whole minute strictly after ``moment`` that the expression matches.

        ``moment`` carries the timezone the expression is read in; the result is in the same zone.
        Minutes a DST jump skips never match; a repeated hour fires once per wall-clock match.
        """
        tz = moment.tzinfo
        naive = moment.replace(tzinfo=None, second=0, microsecond=0) + timedelta(minutes=1)
        limit = naive + timedelta(days=366 * 5)
        while naive < limit:
            if naive.month not in self.months:
                naive = (naive.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self._day_matches(naive):
                naive = naive.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if naive.hour not in self.hours:
                naive = naive.replace(minute=0) + timedelta(hours=1)
                continue
            if naive.minute not in self.minutes:
                naive += timedelta(minutes=1)
                continue
            candidate = naive.replace(tzinfo=tz)
            if tz is not None and _skipped_by_dst(candidate):
                naive += timedelta(minutes=1)
                continue
            return candidate
        raise CronError(f"cron {self.expression!r} never fires")


def _skipped_by_dst(local: datetime) -> bool:
    """True when this wall-clock time does not exist in its zone (spring-forward gap)."""
    round_trip = local.astimezone(UTC).astimezone(local.tzinfo)
    return round_trip.replace(tzinfo=None) != local.replace(tzinfo=None)
