"""``[plugins.events]``: the multiplier sources (off-peak, high population, holidays, scheduled
events, the admin's ad-hoc event), the presence pot paid when an event starts, and what is said
about them (SPEC §3.12; the spec's ``[multipliers]`` table)."""

from __future__ import annotations

from typing import Any

import attrs

from economy_core import CronError, CronSpec, setting, template_validator

MAX_MULTIPLIER = 10.0
"""The largest factor one source may give (the core clamps the product at its own limit)."""
MAX_POT = 1_000_000_000
"""The largest configurable presence pot."""
MAX_DURATION_HOURS = 168.0

STARTED_FIELDS = ("name", "multiplier", "duration", "ends")
ENDED_FIELDS = ("name",)
ADHOC_FIELDS = ("starter", "name", "multiplier", "minutes")
STOPPED_FIELDS = ("name", "user")
POT_FIELDS = ("name", "amount", "currency", "user")
SWITCH_FIELDS = ("name", "multiplier")
"""Placeholders of the switch lines; {multiplier} is the bare factor (``2``, ``1.5``)."""


def _factor(_instance: Any, attribute: Any, value: float) -> None:
    if not 0.0 < value <= MAX_MULTIPLIER:
        raise ValueError(f"must be more than 0 and at most {MAX_MULTIPLIER:g}, got {value}")


def _pot(_instance: Any, _attribute: Any, value: int | None) -> None:
    if value is not None and not 0 <= value <= MAX_POT:
        raise ValueError(f"must be between 0 and {MAX_POT}, got {value}")


def _each_between(low: int, high: int, what: str) -> Any:
    def check(_instance: Any, _attribute: Any, value: list[int]) -> None:
        bad = [v for v in value if not low <= v <= high]
        if bad:
            raise ValueError(f"{what} run {low}-{high}, got {bad}")
        if len(set(value)) != len(value):
            raise ValueError(f"{what} listed twice: {sorted(value)}")
    return check


def _name(_instance: Any, _attribute: Any, value: str) -> None:
    if not value.strip() or len(value) > 50:
        raise ValueError("a name is 1-50 characters")


def _month_day(_instance: Any, _attribute: Any, value: str) -> None:
    month, _, day = value.partition("-")
    ok = len(value) == 5 and month.isdigit() and day.isdigit()
    days_in = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if not ok or not 1 <= int(month) <= 12 or not 1 <= int(day) <= days_in[int(month) - 1]:
        raise ValueError(f"expected a date as MM-DD (e.g. 12-25), got {value!r}")


def _cron(_instance: Any, _attribute: Any, value: str) -> None:
    try:
        CronSpec.parse(value)
    except CronError as exc:
        raise ValueError(str(exc)) from None


def _duration(_instance: Any, _attribute: Any, value: float) -> None:
    if not 0.0 < value <= MAX_DURATION_HOURS:
        raise ValueError(f"must be more than 0 and at most {MAX_DURATION_HOURS:g}, got {value}")


@attrs.frozen
class OffPeakConfig:
    """Quiet hours pay more."""

    enabled: bool = setting(True, help="Multiply activity earnings in the quiet hours below")
    days: list[int] = setting(factory=lambda: [1, 2, 3, 4],
                              validator=_each_between(0, 6, "days"),
                              help="Weekdays it applies on, channel time: 0 = Sunday ... 6 = "
                                   "Saturday")
    hours: list[int] = setting(factory=lambda: list(range(6, 16)),
                               validator=_each_between(0, 23, "hours"),
                               help="Hours of those days it applies in, channel time (0-23)")
    multiplier: float = setting(2.0, validator=_factor, help="The factor")
    announce: bool = setting(True, help="Announce in public chat when it switches on and off")
    start_message: str = setting("🌙 Off-peak hours: ×{multiplier} on everything you earn "
                                 "by being here and chatting!",
                                 validator=template_validator(SWITCH_FIELDS),
                                 help="Switching on; placeholders {name} {multiplier}")
    end_message: str = setting("🌙 Off-peak hours are over.",
                               validator=template_validator(SWITCH_FIELDS),
                               help="Switching off; placeholders {name} {multiplier}")


@attrs.frozen
class HighPopulationConfig:
    """A full room pays more."""

    enabled: bool = setting(True, help="Multiply activity earnings while the room is full")
    min_users: int = setting(10, validator=attrs.validators.ge(1),
                             help="Users present (not the bot or ignored users) from which it "
                                  "applies")
    multiplier: float = setting(1.5, validator=_factor, help="The factor")
    hidden: bool = setting(True, help="Apply it without listing it in `events`")


@attrs.frozen
class Holiday:
    """One holiday: a date every year."""

    date: str = setting(validator=_month_day, help="MM-DD, channel time")
    name: str = setting(validator=_name, help="Shown in `events` and the announcement")
    multiplier: float = setting(2.0, validator=_factor, help="The factor all day")


def _default_holidays() -> list[Holiday]:
    return [Holiday("12-25", "Christmas", 3.0), Holiday("10-31", "Halloween", 2.0)]


def _unique_dates(_instance: Any, _attribute: Any, value: list[Holiday]) -> None:
    dates = [h.date for h in value]
    twice = sorted({d for d in dates if dates.count(d) > 1})
    if twice:
        raise ValueError(f"a date is listed twice: {', '.join(twice)}")


@attrs.frozen
class HolidaysConfig:
    """Holidays pay more all day."""

    enabled: bool = setting(True, help="Multiply activity earnings on the dates below")
    announce: bool = setting(True, help="Announce when a holiday starts and ends (midnight)")
    start_message: str = setting("🎉 Happy {name}! ×{multiplier} on everything you earn today.",
                                 validator=template_validator(SWITCH_FIELDS),
                                 help="At the start of the day; placeholders {name} "
                                      "{multiplier}")
    end_message: str = setting("🎉 {name} is over: thanks for celebrating with us!",
                               validator=template_validator(SWITCH_FIELDS),
                               help="At its end; placeholders {name} {multiplier}")
    dates: list[Holiday] = setting(factory=_default_holidays, validator=_unique_dates,
                                   help="The holidays")


@attrs.frozen
class ScheduledEvent:
    """An event that starts at every fire of its cron and lasts ``duration_hours``."""

    name: str = setting(validator=_name, help="Its name (each scheduled event needs its own)")
    cron: str = setting(validator=_cron,
                        help="When it starts: a 5-field cron in channel time (weekday 0 = "
                             "Sunday)")
    duration_hours: float = setting(validator=_duration,
                                    help="How long it lasts (real hours, also over a DST change)")
    multiplier: float = setting(3.0, validator=_factor, help="The factor while it runs")
    presence_bonus: int | None = setting(
        None, validator=_pot,
        help="The pot split among everyone present at its start (0 = none; not set: "
             "default_presence_bonus)")
    announce: bool = setting(True, help="Announce its start and end in public chat")
    enabled: bool = setting(True, help="Run it")


def _default_events() -> list[ScheduledEvent]:
    return [ScheduledEvent("Wednesday Prime Event", "0 0 * * 4", 3.0, 3.0, 0),
            ScheduledEvent("Friday Night Event", "0 22 * * 5", 11.0, 3.0, 0),
            ScheduledEvent("Saturday Morning Event", "0 14 * * 6", 4.0, 3.0, 0),
            ScheduledEvent("Saturday Night Event", "0 22 * * 6", 11.0, 3.0, 0)]


def _unique_names(_instance: Any, _attribute: Any, value: list[ScheduledEvent]) -> None:
    names = [e.name.casefold() for e in value]
    twice = sorted({e.name for e in value if names.count(e.name.casefold()) > 1})
    if twice:
        raise ValueError(f"two scheduled events are called {', '.join(twice)}")


@attrs.frozen
class MessagesConfig:
    """What is said about events."""

    started: str = setting("🎉 {name} has begun: ×{multiplier} on everything you earn here for "
                           "{duration} (until {ends})!",
                           validator=template_validator(STARTED_FIELDS),
                           help="A scheduled event starts; placeholders {name} {multiplier} "
                                "{duration} {ends} (local time)")
    ended: str = setting("⏰ {name} is over. Thanks for being here!",
                         validator=template_validator(ENDED_FIELDS),
                         help="An event ends; placeholder {name}")
    adhoc_started: str = setting("🎉 {starter} started {name}: ×{multiplier} on everything you "
                                 "earn here for {minutes} min!",
                                 validator=template_validator(ADHOC_FIELDS),
                                 help="An admin starts an event; placeholders {starter} {name} "
                                      "{multiplier} {minutes}")
    stopped: str = setting("⏹️ {name} was ended early by {user}.",
                           validator=template_validator(STOPPED_FIELDS),
                           help="An admin stops an event; placeholders {name} {user}")
    pot: str = setting("🎁 You were here when {name} began: +{amount} {currency}!",
                       validator=template_validator(POT_FIELDS),
                       help="PM with a share of the presence pot; placeholders {name} {amount} "
                            "{currency} {user}")


@attrs.frozen
class EventsConfig:
    """Multiplier events: off-peak, full room, holidays, scheduled and ad-hoc events."""

    default_presence_bonus: int = setting(
        100, validator=_pot,
        help="Pot of a scheduled event whose presence_bonus is not set (SPEC: "
             "present_at_event_start.default_reward)")
    adhoc_presence_bonus: int = setting(
        0, validator=_pot, help="Pot split among everyone present when an admin starts an event "
                                "(0 = none)")
    off_peak: OffPeakConfig = setting(factory=OffPeakConfig, help="Off-peak hours")
    high_population: HighPopulationConfig = setting(factory=HighPopulationConfig,
                                                    help="A full room")
    holidays: HolidaysConfig = setting(factory=HolidaysConfig, help="Holidays")
    messages: MessagesConfig = setting(factory=MessagesConfig, help="Public lines and the pot PM")
    scheduled_events: list[ScheduledEvent] = setting(
        factory=_default_events, validator=_unique_names,
        help="Events that start on a cron (SPEC: the same windows as the queue blackouts)")
