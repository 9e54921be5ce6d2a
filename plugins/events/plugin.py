"""The events plugin: multiplier sources, scheduled and ad-hoc events, the presence pot
(SPEC §3.12).

**Multipliers.** ``economy_award_multiplier`` answers, for the channel at this instant, one
factor per active source; the core multiplies them together (and clamps the product). Sources:
off-peak (local weekday in ``days``, 0 = Sunday, and local hour in ``hours``), high population
(at least ``min_users`` present, the bot and ignored users not counted; hidden), a holiday (the
local date's ``MM-DD``), each scheduled event whose run covers now (unless an admin stopped
that run) and the ad-hoc event. The core asks this hook only for *activity* earnings — those
paid through ``ctx.awards`` with multipliers on: presence's per-minute pay (``presence.base``),
every chat_triggers trigger (``chat.*``, ``content.*``, ``social.*`` and third-party triggers)
and rain (``rain.ambient``). Fixed awards (welcome wallet, welcome back, milestones, streaks,
bridge, interest, competitions, bounties, the event pot, grants) are plain ledger credits and
never reach it. The core records ``base``, ``factor`` and the visible factors (``factors``,
by source name) in each posting's metadata.

**Scheduled events** are checked every minute (and once at start-up): a run that covers now and
has no row yet starts — its row (``events_occurrences``, keyed by channel, name and the fire
instant) is inserted, after checking none exists, in ONE ledger transaction with the presence
pot. So a cron fire starts once, also after a restart inside its run, and a fire missed while the
bot was down starts late if its run still covers the moment it is back. Each run ends at fire +
``duration_hours`` (real time); a running row whose end has passed is closed and its end
announced by the next check, also the first one after a restart (no lost end). A later fire of
the same event replaces a run still going.

**The ad-hoc event** (admin ``event start <m> <minutes> "<name>"``, 1.0 < m ≤ 10.0, 1–1440 min)
is a row too, so it survives a restart; a new one replaces the running one; ``event stop`` stops
it and any running scheduled run.

**The presence pot** (``presence_bonus``, or ``default_presence_bonus`` when a scheduled event
does not set it; ``adhoc_presence_bonus`` for ad-hoc events; 0 = none) is split
``max(1, floor(pot / n))`` over the ``n`` users present and not banned (bot and ignored users
excluded), type ``event_bonus``, trigger ``event.<name>.presence``: a fixed award, never
multiplied, paid in the start's transaction (once per start), then each paid user is notified.

**Occasions.** After a start commits, ``economy_occasion_started(channel, name, at, reward=0)``
is broadcast (the hook this plugin publishes). ``reward=0`` tells implementers that presence at
the start is settled: chat_triggers' ``present_at_event_start`` pays nothing then, so nobody is
paid twice for being there.

**Announcements** (``announce``): a scheduled event's start and end, every ad-hoc start and stop,
and off-peak and holidays switching on and off. The last announced switch state is stored, so a
restart neither repeats a line nor loses one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs
import pluggy

from economy_core import (
    Award,
    AwardRequest,
    CommandCall,
    Contract,
    Kind,
    LedgerTx,
    Multiplier,
    PluginContext,
    PostingType,
    Rest,
    command,
    hookimpl,
    render,
    user_key,
)

from . import hookspecs, public, store, tables
from .adhoc import USAGE, BadStart, parse_start
from .config import EventsConfig, ScheduledEvent
from .public import say
from .sources import (
    HIGH_POPULATION,
    OFF_PEAK,
    Window,
    combined,
    holiday_on,
    latest_window,
    next_fire,
    off_peak_on,
    shown_factor,
)
from .store import ADHOC, RUNNING, SCHEDULED, Occurrence

POSTING_TYPE = "event_bonus"
OFF_PEAK_SWITCH = "off_peak"
HOLIDAY_SWITCH = "holiday"


@attrs.frozen
class Started:
    """What one committed start did."""

    occurrence: Occurrence
    replaced: tuple[Occurrence, ...]
    paid: dict[str, tuple[str, int]]
    """User key → (display name, amount) of the pot shares paid."""


def _number(factor: float) -> str:
    """A factor for a message template (which writes the ×): ``3``, ``1.5``."""
    return f"{factor:g}"


def _duration(delta: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return f"{hours} h {rest} min"
    return f"{hours} h" if hours else f"{minutes} min"


class Events:
    """Multiplier events; see the module docstring."""

    name = "events"
    Config = EventsConfig
    schema = tables.schema
    contract = Contract(
        personal_data=("the admin who started or stopped an event",),
        user_tables=tables.PERSONAL,
        posting_types=(PostingType(POSTING_TYPE, "event bonus", Kind.EARN),),
                        announcements=public.ANNOUNCEMENTS)

    @staticmethod
    @hookimpl
    def economy_addhooks(pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(hookspecs)

    def __init__(self, ctx: PluginContext[EventsConfig]) -> None:
        self.ctx = ctx
        self.live: dict[str, list[Occurrence]] = {}
        """Per channel: the runs whose row is ``running`` (an overdue one until its end is
        announced)."""
        self.started: set[tuple[str, str, datetime]] = set()
        """Starts with a row whose run has not ended: never started again."""
        self.stopped: set[tuple[str, str, datetime]] = set()
        """Scheduled runs an admin stopped: their window pays no multiplier."""
        self.switches: dict[tuple[str, str], str] = {}
        self._windows: tuple[datetime, list[Window]] | None = None
        self._crowd: dict[str, tuple[int, int]] = {}
        self._started_metric = ctx.metrics.counter("started_total", "Event starts, by kind")
        self._factor_metric = ctx.metrics.gauge(
            "active_multiplier", "Combined multiplier of every active source, by channel")
        ctx.metrics.refresher(self.refresh_factor)

    @property
    def cfg(self) -> EventsConfig:
        return self.ctx.config

    # -- life cycle -----------------------------------------------------------------------------

    @hookimpl
    async def economy_startup(self) -> None:
        now = self.ctx.clock.now()
        async with self.ctx.db.connect() as conn:
            rows = await store.load(conn, self.ctx.channels, now)
            self.switches = await store.switch_states(conn, self.ctx.channels)
        for occ in rows:
            if occ.ends_at > now:
                self.started.add(occ.key)
            if occ.status == RUNNING:
                self.live.setdefault(occ.channel, []).append(occ)
            elif occ.status == "stopped" and occ.kind == SCHEDULED:
                self.stopped.add(occ.key)
        self.ctx.scheduler.cron("* * * * *", self.check_all, name="check")
        self.ctx.scheduler.once(0, self.check_all, name="catch_up")

    @hookimpl
    async def economy_config_reloaded(self, config: Any) -> None:
        self._windows = None

    # -- the multiplier -------------------------------------------------------------------------

    @hookimpl
    def economy_award_multiplier(self, award: AwardRequest) -> list[Multiplier]:
        """Every active source's factor for an activity earning (see the module docstring)."""
        return self.active(award.channel, self.ctx.clock.now())

    def active(self, channel: str, now: datetime) -> list[Multiplier]:
        """The sources active in ``channel`` at ``now`` (hidden ones included)."""
        cfg = self.cfg
        local = now.astimezone(self.ctx.tz)
        found: list[Multiplier] = []
        if off_peak_on(cfg.off_peak, local):
            found.append(Multiplier(OFF_PEAK, cfg.off_peak.multiplier))
        crowd = cfg.high_population
        if crowd.enabled and self._crowd_size(channel, now) >= crowd.min_users:
            found.append(Multiplier(HIGH_POPULATION, crowd.multiplier, crowd.hidden))
        holiday = holiday_on(cfg.holidays.dates, local.date()) if cfg.holidays.enabled else None
        if holiday is not None:
            found.append(Multiplier(holiday.name, holiday.multiplier))
        for window in self._windows_at(now):
            if window.covers(now) and (channel, user_key(window.name),
                                       window.fire) not in self.stopped:
                found.append(Multiplier(window.name, window.multiplier))
        for occ in self.live.get(channel, ()):
            if occ.kind == ADHOC and occ.covers(now):
                found.append(Multiplier(occ.name, occ.multiplier))
        return found

    def _windows_at(self, now: datetime) -> list[Window]:
        """The scheduled runs that cover some instant of ``now``'s minute (cached per minute:
        fires fall on whole minutes, so the list only changes at one)."""
        minute = now.replace(second=0, microsecond=0)
        if self._windows is None or self._windows[0] != minute:
            found = [w for e in self.cfg.scheduled_events if e.enabled
                     if (w := latest_window(e, self.ctx.tz, minute)) is not None]
            self._windows = (minute, found)
        return self._windows[1]

    def _crowd_size(self, channel: str, now: datetime) -> int:
        second = int(now.timestamp())
        cached = self._crowd.get(channel)
        if cached is None or cached[0] != second:
            cached = (second, len(self._present(channel, count_banned=True)))
            self._crowd[channel] = cached
        return cached[1]

    def _present(self, channel: str, *, count_banned: bool = False) -> list[str]:
        """Users in the room, without the bot and ignored users (and banned users unless
        ``count_banned``), in arrival order."""
        core = self.ctx.core
        skip = {user_key(n) for n in core.ignored_users} | {user_key(core.bot.username)}
        banned = self.ctx.identity.is_banned
        return [u.username for u in self.ctx.rooms[channel].present()
                if user_key(u.username) not in skip
                and (count_banned or not banned(channel, u.username))]

    async def refresh_factor(self) -> None:
        """Set the combined multiplier gauge of every channel (the core's metrics schedule;
        the minute check sets it too)."""
        now = self.ctx.clock.now()
        for channel in self.ctx.channels:
            self._factor_metric.set({"channel": channel}, combined(self.active(channel, now)))

    # -- the minute check -----------------------------------------------------------------------

    async def check_all(self) -> None:
        """Switches, ends and scheduled starts in every channel (a failing channel does not
        stop the others)."""
        now = self.ctx.clock.now()
        for channel in self.ctx.channels:
            try:
                await self.check(channel, now)
            except Exception:
                self.ctx.log.exception("event check in %s failed", channel)

    async def check(self, channel: str, now: datetime) -> None:
        await self._switch(channel, now)
        for occ in [o for o in self.live.get(channel, ()) if o.ends_at <= now]:
            await self._close(occ, "ended", now)
        events = {e.name: e for e in self.cfg.scheduled_events if e.enabled}
        for window in self._windows_at(now):
            event = events.get(window.name)
            if (event is not None and window.covers(now)
                    and (channel, user_key(window.name), window.fire) not in self.started):
                await self._start_scheduled(channel, event, window)
        self._factor_metric.set({"channel": channel}, combined(self.active(channel, now)))

    async def _switch(self, channel: str, now: datetime) -> None:
        """Announce off-peak and holidays switching on or off (once per switch)."""
        cfg = self.cfg
        local = now.astimezone(self.ctx.tz)
        holiday = holiday_on(cfg.holidays.dates, local.date()) if cfg.holidays.enabled else None
        wanted = {OFF_PEAK_SWITCH: "on" if off_peak_on(cfg.off_peak, local) else "",
                  HOLIDAY_SWITCH: holiday.name if holiday is not None else ""}
        for source, state in wanted.items():
            old = self.switches.get((channel, source), "")
            if old == state:
                continue

            async def write(tx: LedgerTx, source: str = source, state: str = state) -> None:
                await store.set_switch(tx.conn, channel, source, state, tx.now)

            await self.ctx.ledger.atomic(write)
            self.switches[(channel, source)] = state
            if source == OFF_PEAK_SWITCH and cfg.off_peak.announce:
                off = cfg.off_peak
                await say(self.ctx, channel, public.SWITCHED,
                          off.start_message if state else off.end_message,
                          name=OFF_PEAK, multiplier=_number(off.multiplier))
            elif source == HOLIDAY_SWITCH and cfg.holidays.announce:
                days = cfg.holidays
                if old:
                    await say(self.ctx, channel, public.SWITCHED, days.end_message, name=old,
                              multiplier="")
                if holiday is not None:
                    await say(self.ctx, channel, public.SWITCHED, days.start_message,
                              name=holiday.name, multiplier=_number(holiday.multiplier))

    # -- starting and ending runs ---------------------------------------------------------------

    async def _start_scheduled(self, channel: str, event: ScheduledEvent,
                               window: Window) -> Started | None:
        pot = (self.cfg.default_presence_bonus if event.presence_bonus is None
               else event.presence_bonus)
        occ = Occurrence(channel, event.name, SCHEDULED, window.fire, window.ends,
                         event.multiplier, event.announce)
        started = await self.start(occ, pot)
        if started is not None and occ.announce:
            local_end = occ.ends_at.astimezone(self.ctx.tz)
            await say(self.ctx, channel, public.STARTED, self.cfg.messages.started,
                      name=occ.name, multiplier=_number(occ.multiplier),
                      duration=_duration(occ.ends_at - occ.started_at),
                      ends=local_end.strftime("%H:%M"))
        await self._after_start(started)
        return started

    async def start(self, occ: Occurrence, pot: int) -> Started | None:
        """Claim and record one start and pay its presence pot, in one transaction; None when
        this start exists already (nothing moves). Runs it replaces are closed in the same
        transaction (a new ad-hoc event replaces the running one; a new fire of a scheduled
        event replaces its earlier run)."""
        users = self._present(occ.channel)
        share = max(1, pot // len(users)) if pot > 0 and users else 0
        replace = [o for o in self.live.get(occ.channel, ())
                   if o.kind == occ.kind and (occ.kind == ADHOC
                                              or user_key(o.name) == user_key(occ.name))]
        trigger = f"event.{occ.name}.presence"[:100]

        async def write(tx: LedgerTx) -> Started | None:
            if await store.exists(tx.conn, occ):
                return None
            replaced = [o for o in replace
                        if await store.close(tx.conn, o, "replaced", tx.now, occ.started_by)]
            paid: dict[str, tuple[str, int]] = {}
            if share:
                result = await tx.credit_many(occ.channel, [
                    Award(username=u, amount=share, type=POSTING_TYPE, kind=Kind.EARN,
                          reason=f"here when {occ.name} began"[:200], trigger_id=trigger,
                          metadata={"pot": pot, "present": len(users)}) for u in users])
                paid = {p.user_key: (p.username, p.amount) for p in result.postings}
            await store.insert(tx.conn, occ, pot, len(paid))
            return Started(occ, tuple(replaced), paid)

        started = await self.ctx.ledger.atomic(write)
        if started is None:
            self.started.add(occ.key)
            return None
        self.started.add(occ.key)
        live = self.live.setdefault(occ.channel, [])
        for old in started.replaced:
            old.status = "replaced"
            if old in live:
                live.remove(old)
        live.append(occ)
        self._started_metric.inc({"kind": occ.kind})
        self.ctx.log.info("%s event %r started in %s until %s (pot %d, %d paid)", occ.kind,
                          occ.name, occ.channel, occ.ends_at.isoformat(), pot, len(started.paid))
        return started

    async def _after_start(self, started: Started | None) -> None:
        """Notify the pot's recipients and tell other plugins (after the start's line)."""
        if started is None:
            return
        occ = started.occurrence
        for _, (username, amount) in sorted(started.paid.items()):
            self.ctx.outbox.notify(occ.channel, username, render(
                self.cfg.messages.pot, f"🎁 +{self.ctx.format_amount(amount)}", name=occ.name,
                amount=amount, currency=self.ctx.currency_word(amount), user=username))
        await self.ctx.hooks.broadcast(hookspecs.economy_occasion_started, channel=occ.channel,
                                       name=occ.name, at=occ.started_at, reward=0)

    async def _close(self, occ: Occurrence, status: str, now: datetime,
                     by: str | None = None) -> bool:
        """End, stop or replace a running run (once: a conditional update); announce an end."""

        async def write(tx: LedgerTx) -> bool:
            return await store.close(tx.conn, occ, status, tx.now, by)

        closed = await self.ctx.ledger.atomic(write)
        live = self.live.get(occ.channel, [])
        if occ in live:
            live.remove(occ)
        occ.status = status
        if status == "stopped" and occ.kind == SCHEDULED:
            self.stopped.add(occ.key)
        if closed and status == "ended" and occ.announce:
            await say(self.ctx, occ.channel, public.ENDED, self.cfg.messages.ended,
                      name=occ.name)
        return closed

    # -- commands -------------------------------------------------------------------------------

    @command("events", aliases=("multipliers",),
             help="The multipliers on right now and the next scheduled event")
    async def events(self, call: CommandCall) -> str:
        now = self.ctx.clock.now()
        shown = [m for m in self.active(call.channel, now) if not m.hidden]
        if shown:
            parts = [f"{m.name} {shown_factor(m.factor)}{self._until(call.channel, m, now)}"
                     for m in shown]
            lines = [f"🎉 Multipliers now: {', '.join(parts)} — combined "
                     f"{shown_factor(combined(shown))}"]
        else:
            lines = ["🎉 Multipliers now: none, 1×"]
        upcoming = self._next_event(now)
        if upcoming is not None:
            event, when = upcoming
            local = when.astimezone(self.ctx.tz)
            lines.append(f"Next: {event.name} {local.strftime('%a %d %b %H:%M')} "
                         f"({shown_factor(event.multiplier)} for "
                         f"{_duration(timedelta(hours=event.duration_hours))})")
        return "\n".join(lines)

    def _until(self, channel: str, factor: Multiplier, now: datetime) -> str:
        ends = [o.ends_at for o in self.live.get(channel, ())
                if o.name == factor.name and o.covers(now)]
        ends += [w.ends for w in self._windows_at(now) if w.name == factor.name and w.covers(now)]
        if not ends:
            return ""
        return f" (until {min(ends).astimezone(self.ctx.tz).strftime('%H:%M')})"

    def _next_event(self, now: datetime) -> tuple[ScheduledEvent, datetime] | None:
        found = [(next_fire(e, self.ctx.tz, now), e) for e in self.cfg.scheduled_events
                 if e.enabled]
        if not found:
            return None
        when, event = min(found, key=lambda pair: pair[0])
        return event, when

    @command("event", admin=True,
             help='Admin: event start <multiplier> <minutes> "<name>" (replaces a running '
                  'one), or event stop')
    async def event(self, call: CommandCall, args: Rest | None = None) -> str:
        action, _, rest = (args or "").strip().partition(" ")
        action = action.lower()
        if action == "start":
            try:
                request = parse_start(rest)
            except BadStart as bad:
                return f"{bad}\n{USAGE}"
            return await self._start_adhoc(call, request.multiplier, request.minutes,
                                           request.name)
        if action == "stop":
            return await self._stop(call)
        return USAGE

    async def _start_adhoc(self, call: CommandCall, multiplier: float, minutes: int,
                           name: str) -> str:
        now = self.ctx.clock.now()
        occ = Occurrence(call.channel, name, ADHOC, now, now + timedelta(minutes=minutes),
                         multiplier, True, call.username)
        started = await self.start(occ, self.cfg.adhoc_presence_bonus)
        if started is None:
            return f"{name} has just been started already."
        await say(self.ctx, call.channel, public.STARTED, self.cfg.messages.adhoc_started,
                  people=("starter",), name=name, starter=call.username,
                  multiplier=_number(multiplier), minutes=minutes)
        await self._after_start(started)
        replaced = [o.name for o in started.replaced]
        note = f" (replaces {', '.join(replaced)})" if replaced else ""
        return (f"✅ {name} is on: {shown_factor(multiplier)} on activity earnings for "
                f"{minutes} min{note}.")

    async def _stop(self, call: CommandCall) -> str:
        now = self.ctx.clock.now()
        await self.check(call.channel, now)  # a run due this minute has its row first
        running = [o for o in self.live.get(call.channel, ()) if o.covers(now)]
        stopped: list[str] = []
        for occ in running:
            if await self._close(occ, "stopped", now, call.username):
                stopped.append(occ.name)
                await say(self.ctx, call.channel, public.ENDED, self.cfg.messages.stopped,
                          people=("user",), name=occ.name, user=call.username)
        if not stopped:
            return "No event is running: none active."
        return f"⏹️ Stopped: {', '.join(stopped)}."

    # -- what users can ask ---------------------------------------------------------------------

    @hookimpl
    def economy_reward_lines(self, channel: str) -> list[str]:
        cfg = self.cfg
        if not (cfg.off_peak.enabled or cfg.high_population.enabled or cfg.holidays.enabled
                or any(e.enabled for e in cfg.scheduled_events)):
            return ["Events: PM events to see whether a multiplier is on"]
        return ["Events: some hours and events multiply what you earn here (PM events); being "
                "here when an event starts can pay a share of its pot"]
