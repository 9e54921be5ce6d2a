"""The streaks plugin: consecutive qualifying days and the weekday/weekend bridge (SPEC §3.2).

**Qualifying day.** A (channel-local) day qualifies once the user's ``minutes_present`` daily
counter for it (booked by whoever counts presence, one per minute present) reaches
``daily.min_presence_minutes``. This plugin only reads that counter: a job every
:data:`POLL_SECONDS` reads it for the users in the room (and those who left since the last
poll) who have not qualified today. Who qualified today is kept in memory per channel and
rebuilt from ``streaks_users`` after a restart or at a new day, so qualified users are not
read again.

**The day boundary** is local midnight in ``[clock] timezone`` (DST included: a day is a
calendar date, however many hours it has). The last presence minutes of a day may be booked a
moment after midnight, so for the first :data:`DAY_GRACE` of a day the job does nothing, then it
first catches up yesterday: every user whose counter for yesterday reached the threshold but who
was not marked for it qualifies for yesterday (this also covers a bot that was stopped at
midnight). Only then does today count.

**Money safety.** Qualifying day ``D`` for a user is ONE ledger transaction (``ledger.atomic``):
the claim — the user's row moves ``last_date`` to ``D`` only where it is before ``D`` — and that
day's credits, each also carrying an idempotency key (``streaks:<what>:<user>:<day|week>``).
A restart, a repeated poll or a replay therefore pays a day, a milestone or a week's bridge at
most once, and a crash between claim and credit is impossible. Streak rewards are fixed amounts
(never multiplied). Notices and the announcement go out after the commit, only for credits that
were really paid (``ok`` and not replayed).

**What a qualifying day does.** ``last_date`` yesterday → ``current + 1``, else 1;
``longest = max``. From day 2 the bonus ``rewards[n]`` (a missing entry: the latest entry
before ``n``) as ``streak_bonus`` / ``streak.day{n}``; on day 7 and day 30 the milestone bonus
(``milestone`` / ``streak.milestone.7`` / ``.30``), announced. The bridge flags belong to one ISO
week (``YYYY-Www``, reset when a new week starts): the day marks weekday (Mon–Fri) or weekend
(Sat/Sun); both seen and not yet claimed → the bridge bonus (``earn`` / ``bridge.weekly``).
A qualifying Saturday with no weekday seen that week sends the weekend reminder, once a week.

The streak keeps counting while ``daily.enabled`` is false (the bridge needs qualifying days);
nothing is paid, PM'd or shown for it then.

**Told to other plugins** (while ``daily.enabled``): after each qualifying day commits, the
``economy_streak_reached(channel, username, days)`` broadcast this plugin publishes
(:mod:`.hookspecs`); achievements' ``economy_achievement_value`` hook is answered for
``daily_streak`` with the streak as ``streak`` shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import attrs
import pluggy
import sqlalchemy as sa

from economy_core import (
    Announcement,
    CommandCall,
    Contract,
    Kind,
    LedgerTx,
    PluginConnection,
    PluginContext,
    PostingType,
    ProfileField,
    TxResult,
    UserLeft,
    command,
    hookimpl,
    render,
    user_key,
)

from . import hookspecs, tables
from .config import StreaksConfig

POLL_SECONDS = 60
"""How often present users' minutes are checked against the threshold. The first poll comes
1.5 periods after start, so polls fall half-way between per-minute presence bookings (which
start one period after start) whatever order the plugins start in: a user is qualified about
30 s after the minute that reached the threshold."""
DAY_GRACE = time(0, 2)
"""Local time before which a new day's poll waits (yesterday's last minutes may still be
in flight), after which yesterday is caught up first."""
CATCH_UP_LIMIT = 100_000
"""Most users read when catching up yesterday (far more than a room holds in a day)."""
BATCH = 200
"""Most users qualified in one ledger transaction."""
COUNTER = "minutes_present"
MILESTONES = (7, 30)
ANNOUNCEMENT = "streak_milestone"
"""The announcement kind of the public milestone line (the operator's switch)."""


# -- the rules, as pure functions --------------------------------------------------------------


def iso_week(day: date) -> str:
    """The ISO week of ``day`` as ``YYYY-Www`` (weeks run Monday to Sunday)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def is_weekend(day: date) -> bool:
    return day.weekday() >= 5


@attrs.frozen
class StreakState:
    """One user's streak and this week's bridge flags (a ``streaks_users`` row)."""

    current: int
    longest: int
    last_date: date
    iso_week: str
    weekday_seen: bool
    weekend_seen: bool
    bridge_claimed: bool
    reminder_week: str | None = None

    def shown(self, today: date) -> int:
        """The streak users see: ``current`` while it can still continue (last qualifying day
        today or yesterday), else 0."""
        return self.current if self.last_date >= today - timedelta(days=1) else 0

    def week_flags(self, today: date) -> tuple[bool, bool, bool]:
        """(weekday seen, weekend seen, bridge claimed) in the week of ``today``."""
        if self.iso_week != iso_week(today):
            return False, False, False
        return self.weekday_seen, self.weekend_seen, self.bridge_claimed


def qualify(prev: StreakState | None, day: date) -> StreakState:
    """The state after ``day`` qualifies (the caller has checked ``prev.last_date < day``).

    The bridge is not claimed here; :func:`bridge_due` says whether it should be."""
    current = prev.current + 1 if prev is not None and prev.last_date == day - timedelta(
        days=1) else 1
    longest = max(current, prev.longest if prev is not None else 0)
    week = iso_week(day)
    if prev is not None and prev.iso_week == week:
        weekday, weekend, claimed = prev.weekday_seen, prev.weekend_seen, prev.bridge_claimed
    else:
        weekday, weekend, claimed = False, False, False
    if is_weekend(day):
        weekend = True
    else:
        weekday = True
    return StreakState(current, longest, day, week, weekday, weekend, claimed,
                       prev.reminder_week if prev is not None else None)


def bridge_due(state: StreakState) -> bool:
    """Weekday and weekend both seen this week and the bonus not yet claimed."""
    return state.weekday_seen and state.weekend_seen and not state.bridge_claimed


def day_reward(rewards: Mapping[int, int], days: int) -> int:
    """The bonus for streak day ``days``: the entry of the latest configured day ≤ ``days``
    (so beyond the table the last entry applies), 0 before the first."""
    reached = [d for d in rewards if d <= days]
    return rewards[max(reached)] if reached else 0


# -- what one qualification did ------------------------------------------------------------------


@attrs.frozen
class Qualified:
    """The outcome of one user's qualifying day, after commit: amounts actually paid."""

    username: str
    day: date
    state: StreakState
    bonus: int = 0
    milestone: int = 0
    bridge: int = 0
    remind: bool = False
    withheld: bool = False
    """Some credit was held back by the onboarding minimums."""


@attrs.define
class ChannelDay:
    """In-memory per channel: which users qualified ``day`` already, and who left lately."""

    day: date | None = None
    done: set[str] = attrs.Factory(set)
    caught_up: date | None = None
    """The day whose yesterday was caught up."""
    departed: dict[str, str] = attrs.Factory(dict)
    """Users who left since the last poll (key → name): their minutes are checked once more."""


def _state(row: Any) -> StreakState:
    return StreakState(int(row.current), int(row.longest), row.last_date, row.iso_week,
                       bool(row.weekday_seen), bool(row.weekend_seen), bool(row.bridge_claimed),
                       row.reminder_week)


def _paid(result: TxResult) -> bool:
    return result.ok and not result.replayed


class Streaks:
    """Daily streaks and the weekly bridge; see the module docstring."""

    name = "streaks"
    Config = StreaksConfig
    schema = tables.schema
    contract = Contract(
        personal_data=("daily streaks and bridge flags",),
        user_tables=tables.PERSONAL,
        requires=("presence",),  # a day qualifies by the minutes presence books
        posting_types=(
            PostingType("streak_bonus", "streak bonus", Kind.EARN),
            PostingType("streak_milestone", "streak milestone", Kind.EARN),
        ),
        announcements=(Announcement(ANNOUNCEMENT, "a 7- or 30-day streak milestone",
                                    "streak milestones"),),
    )

    @staticmethod
    @hookimpl
    def economy_addhooks(pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(hookspecs)

    @hookimpl
    async def economy_import_legacy(self, channel: str, source: Any, users: Mapping[str, str],
                                    now: datetime, conn: PluginConnection) -> list[str]:
        """kryten-economy's streaks → streak state (current, longest, last day, the week's
        bridge flags; the week is the ISO week of the last day). Rows without a last day are
        skipped."""
        tables_there = {r[0] for r in source.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        if "streaks" not in tables_there:
            return []
        imported, skipped = 0, 0
        for row in source.execute("SELECT * FROM streaks WHERE channel = ?", (channel,)):
            key = users.get(row["username"])
            if key is None:
                continue
            try:
                last = date.fromisoformat(str(row["last_streak_date"])[:10])
            except ValueError:
                skipped += 1
                continue
            year, week, _ = last.isocalendar()
            await conn.execute(tables.users.insert().values(
                channel=channel, user_key=key, username=row["username"],
                current=max(0, int(row["current_daily_streak"] or 0)),
                longest=max(0, int(row["longest_daily_streak"] or 0)), last_date=last,
                iso_week=f"{year}-W{week:02d}",
                weekday_seen=bool(row["weekday_seen_this_week"]),
                weekend_seen=bool(row["weekend_seen_this_week"]),
                bridge_claimed=bool(row["bridge_claimed_this_week"]), reminder_week=None,
                updated_at=now))
            imported += 1
        lines = [f"{imported} streak(s)"]
        if skipped:
            lines.append(f"skipped {skipped} streak(s) without a last day")
        return lines

    def __init__(self, ctx: PluginContext[StreaksConfig]) -> None:
        self.ctx = ctx
        self.days: dict[str, ChannelDay] = {}
        self.polls = 0
        self._days_metric = ctx.metrics.counter("days_total", "Qualifying days counted")
        self._bridges_metric = ctx.metrics.counter("bridges_total", "Bridge bonuses paid")

    @property
    def cfg(self) -> StreaksConfig:
        return self.ctx.config

    def _now_local(self) -> datetime:
        return self.ctx.clock.now().astimezone(self.ctx.tz)

    def _today(self) -> date:
        return self.ctx.clock.local_date(self.ctx.tz)

    def _eligible(self, channel: str, username: str) -> bool:
        core = self.ctx.core
        key = user_key(username)
        if key == user_key(core.bot.username) or key in {user_key(n) for n in
                                                         core.ignored_users}:
            return False
        return not self.ctx.identity.is_banned(channel, username)

    # -- lifecycle and room events --------------------------------------------------------------

    @hookimpl
    async def economy_startup(self) -> None:
        self.ctx.scheduler.every(POLL_SECONDS, self.poll, name="poll",
                                 first_in=POLL_SECONDS * 1.5)

    @hookimpl
    async def economy_user_left(self, event: UserLeft) -> None:
        self._day(event.channel).departed[user_key(event.username)] = event.username

    def _day(self, channel: str) -> ChannelDay:
        return self.days.setdefault(channel, ChannelDay())

    # -- the poll -------------------------------------------------------------------------------

    async def poll(self) -> None:
        """Qualify every user who reached the threshold (see the module docstring)."""
        cfg = self.cfg
        self.polls += 1
        if not (cfg.daily.enabled or cfg.weekend_weekday_bridge.enabled):
            return
        for channel in self.ctx.channels:
            try:
                await self._poll_channel(channel)
            except Exception:
                self.ctx.log.exception("streak poll in %s failed", channel)

    async def _poll_channel(self, channel: str) -> None:
        now = self._now_local()
        today = now.date()
        state = self._day(channel)
        if state.day != today:
            state.day, state.done = today, await self._qualified_since(channel, today)
        if state.caught_up != today:
            if now.time() < DAY_GRACE:
                return
            await self._catch_up(channel, today - timedelta(days=1))
            state.caught_up = today
        room = [u.username for u in self.ctx.rooms[channel].present()]
        left, state.departed = list(state.departed.values()), {}
        candidates: dict[str, str] = {}
        for name in [*room, *left]:
            key = user_key(name)
            if key not in state.done and key not in candidates and self._eligible(channel,
                                                                                 name):
                candidates[key] = name
        if not candidates:
            return
        minutes = await self.ctx.ledger.daily_many(channel, today, COUNTER,
                                                   list(candidates.values()))
        threshold = self.cfg.daily.min_presence_minutes
        hits = [name for key, name in candidates.items() if minutes.get(key, 0) >= threshold]
        if hits:
            await self._qualify_and_tell(channel, today, hits)
            state.done.update(user_key(n) for n in hits)

    async def _catch_up(self, channel: str, day: date) -> None:
        """Qualify ``day`` (yesterday) for users whose counter reached the threshold but who
        were not marked for it."""
        threshold = self.cfg.daily.min_presence_minutes
        rows = await self.ctx.ledger.top_daily(channel, day, COUNTER, limit=CATCH_UP_LIMIT)
        names = [name for name, value in rows if value >= threshold]
        if not names:
            return
        done = await self._qualified_since(channel, day)
        todo = [n for n in names if user_key(n) not in done and self._eligible(channel, n)]
        if todo:
            await self._qualify_and_tell(channel, day, todo)

    async def _qualified_since(self, channel: str, day: date) -> set[str]:
        """Keys of users whose last qualifying day is ``day`` or later."""
        u = tables.users
        async with self.ctx.db.connect() as conn:
            result = await conn.execute(sa.select(u.c.user_key).where(
                u.c.channel == channel, u.c.last_date >= day))
            return {key for (key,) in result}

    # -- qualifying: one ledger transaction -----------------------------------------------------

    async def _qualify_and_tell(self, channel: str, day: date, usernames: Sequence[str]) -> None:
        for start in range(0, len(usernames), BATCH):
            results = await self.qualify(channel, day, usernames[start:start + BATCH])
            for q in results:
                await self._tell(channel, q)
            if self.cfg.daily.enabled:
                for q in results:
                    await self.ctx.hooks.broadcast(hookspecs.economy_streak_reached,
                                                   channel=channel, username=q.username,
                                                   days=q.state.current)
            if results:
                self._days_metric.add({"channel": channel}, len(results))

    async def qualify(self, channel: str, day: date,
                      usernames: Sequence[str]) -> list[Qualified]:
        """Qualify ``day`` for each user whose last qualifying day is before it, paying that
        day's rewards, all in one ledger transaction; users already past it are skipped.
        Returns what was done and paid (nothing is sent here)."""
        cfg = self.cfg
        names = {user_key(n): n for n in usernames}

        async def write(tx: LedgerTx) -> list[Qualified]:
            u = tables.users
            rows = {row.user_key: row for row in await tx.conn.execute(sa.select(u).where(
                u.c.channel == channel, u.c.user_key.in_(list(names))))}
            out = []
            for key, name in names.items():
                row = rows.get(key)
                prev = _state(row) if row is not None else None
                if prev is not None and prev.last_date >= day:
                    continue
                new = qualify(prev, day)
                if not await self._claim(tx, channel, key, name, prev, new):
                    continue
                out.append(await self._pay(tx, channel, key, name, new, cfg))
            return out

        return await self.ctx.ledger.atomic(write)

    async def _claim(self, tx: LedgerTx, channel: str, key: str, name: str,
                     prev: StreakState | None, new: StreakState) -> bool:
        """Write the new state if the row's day is still before the new one (the claim)."""
        u = tables.users
        values = {"username": name, "current": new.current, "longest": new.longest,
                  "last_date": new.last_date, "iso_week": new.iso_week,
                  "weekday_seen": new.weekday_seen, "weekend_seen": new.weekend_seen,
                  "bridge_claimed": new.bridge_claimed, "reminder_week": new.reminder_week,
                  "updated_at": tx.now}
        if prev is None:
            await tx.conn.execute(u.insert().values(channel=channel, user_key=key, **values))
            return True
        result = await tx.conn.execute(u.update().where(
            u.c.channel == channel, u.c.user_key == key, u.c.last_date < new.last_date)
            .values(**values))
        return bool(result.rowcount == 1)

    async def _pay(self, tx: LedgerTx, channel: str, key: str, name: str, state: StreakState,
                   cfg: StreaksConfig) -> Qualified:
        """Credit the day's rewards and settle the bridge and reminder flags."""
        day, days = state.last_date, state.current
        daily, bridge = cfg.daily, cfg.weekend_weekday_bridge
        withheld = False
        bonus = milestone = bridge_paid = 0

        async def credit(amount: int, type_: str, trigger: str, reason: str, idem: str,
                         metadata: dict[str, Any]) -> tuple[bool, bool]:
            """(paid now, counts as claimed) for one credit."""
            nonlocal withheld
            result = await tx.credit(channel, name, amount, type=type_, kind=Kind.EARN,
                                     trigger_id=trigger, reason=reason, metadata=metadata,
                                     key=f"streaks:{idem}:{key}")
            withheld = withheld or not result.ok
            return _paid(result), result.ok

        meta = {"day": day.isoformat(), "streak": days}
        if daily.enabled:
            amount = day_reward(daily.rewards, days) if days >= 2 else 0
            if amount > 0 and (await credit(amount, "streak_bonus", f"streak.day{days}",
                                            f"day {days} streak", f"day:{day}", meta))[0]:
                bonus = amount
            extra = {7: daily.milestone_7_bonus, 30: daily.milestone_30_bonus}.get(days, 0)
            if extra > 0 and (await credit(extra, "streak_milestone", f"streak.milestone.{days}",
                                           f"{days}-day streak", f"m{days}:{day}", meta))[0]:
                milestone = extra
        changes: dict[str, Any] = {}
        if bridge.enabled and bridge_due(state) and bridge.bonus > 0:
            paid, claimed = await credit(bridge.bonus, "earn", "bridge.weekly",
                                         "weekday + weekend bridge", f"bridge:{state.iso_week}",
                                         {"week": state.iso_week, "day": day.isoformat()})
            bridge_paid = bridge.bonus if paid else 0
            if claimed:
                changes["bridge_claimed"] = True
        remind = (bridge.enabled and bridge.announce_on_weekend and day.weekday() == 5
                  and not state.weekday_seen and state.reminder_week != state.iso_week)
        if remind:
            changes["reminder_week"] = state.iso_week
        if changes:
            u = tables.users
            await tx.conn.execute(u.update().where(u.c.channel == channel, u.c.user_key == key)
                                  .values(**changes))
            state = attrs.evolve(state, **changes)
        return Qualified(name, day, state, bonus, milestone, bridge_paid, remind, withheld)

    # -- telling users --------------------------------------------------------------------------

    async def _tell(self, channel: str, q: Qualified) -> None:
        """PMs for what was paid, the weekend reminder, and the milestone announcement."""
        daily, bridge = self.cfg.daily, self.cfg.weekend_weekday_bridge
        fmt = self.ctx.format_amount
        days, name = q.state.current, q.username
        if daily.enabled and days in MILESTONES and daily.announce_milestones and not q.withheld:
            await self.ctx.announcer.announce(channel, ANNOUNCEMENT, daily.announce_message,
                                              fallback=f"🔥 {name}: {days} days in a row!",
                                              user=name, days=days)
        if q.bonus:
            self.ctx.outbox.notify(channel, name, render(
                daily.bonus_message, f"🔥 Day {days} streak: +{fmt(q.bonus)}", days=days,
                amount=q.bonus, currency=self.ctx.currency_word(q.bonus), user=name))
        if q.milestone:
            self.ctx.outbox.notify(channel, name, render(
                daily.milestone_message, f"🏅 {days} days in a row: +{fmt(q.milestone)}",
                days=days, amount=q.milestone, currency=self.ctx.currency_word(q.milestone),
                user=name))
        if q.bridge:
            self._bridges_metric.inc({"channel": channel})
            self.ctx.outbox.notify(channel, name, render(
                bridge.bonus_message, f"🌉 Bridge bonus: +{fmt(q.bridge)}", amount=q.bridge,
                currency=self.ctx.currency_word(q.bridge), user=name))
        if q.remind:
            self.ctx.outbox.notify(channel, name, render(
                bridge.message, "🌉 A weekday and a weekend day in one week pay a bonus.",
                amount=bridge.bonus, currency=self.ctx.currency_word(bridge.bonus), user=name))

    # -- reading --------------------------------------------------------------------------------

    async def state_of(self, channel: str, username: str) -> StreakState | None:
        """The stored streak of a user (None before their first qualifying day)."""
        u = tables.users
        async with self.ctx.db.connect() as conn:
            row = (await conn.execute(sa.select(u).where(
                u.c.channel == channel, u.c.user_key == user_key(username)))).first()
        return None if row is None else _state(row)

    @staticmethod
    def _days_text(days: int) -> str:
        return f"{days} day" + ("" if days == 1 else "s")

    @hookimpl
    async def economy_profile_fields(self, channel: str, username: str) -> list[ProfileField]:
        if not self.cfg.daily.enabled:
            return []
        state = await self.state_of(channel, username)
        if state is None:
            return [ProfileField("streak", "Streak", "0 days", 30)]
        shown = state.shown(self._today())
        value = self._days_text(shown) + (" 🔥" if shown >= 2 else "")
        return [ProfileField("streak", "Streak", f"{value} (best {state.longest})", 30)]

    @hookimpl(optionalhook=True)
    async def economy_digest_values(self, channel: str, username: str,
                                    earned_yesterday: int) -> dict[str, str] | None:
        """For the user digest: the current streak in days (as ``streak`` shows it)."""
        if not self.cfg.daily.enabled:
            return None
        state = await self.state_of(channel, username)
        return {"streak": str(state.shown(self._today()) if state is not None else 0)}

    @hookimpl(optionalhook=True)
    async def economy_achievement_value(self, channel: str, username: str,
                                        condition: str) -> int | None:
        """The current streak (days in a row, as ``streak`` shows it) for achievements."""
        if condition != "daily_streak" or not self.cfg.daily.enabled:
            return None
        state = await self.state_of(channel, username)
        return 0 if state is None else state.shown(self._today())

    @hookimpl
    def economy_reward_lines(self, channel: str) -> list[str]:
        daily, bridge = self.cfg.daily, self.cfg.weekend_weekday_bridge
        fmt = self.ctx.format_amount
        lines = []
        if daily.enabled:
            steps = sorted(daily.rewards.items())
            parts = [f"day {d}{'+' if i == len(steps) - 1 else ''} {fmt(a)}"
                     for i, (d, a) in enumerate(steps) if a > 0]
            line = f"Daily streak ({daily.min_presence_minutes}+ min here a day)"
            lines.append(line + (": " + ", ".join(parts) if parts else ""))
            extras = [f"{d} days {fmt(a)}" for d, a in
                      ((7, daily.milestone_7_bonus), (30, daily.milestone_30_bonus)) if a > 0]
            if extras:
                lines.append("Streak milestones: " + ", ".join(extras))
        if bridge.enabled and bridge.bonus > 0:
            lines.append(f"Weekday + weekend day in one week (Mon-Sun, "
                         f"{daily.min_presence_minutes}+ min each): {fmt(bridge.bonus)}")
        return lines

    @command("streak", help="Your daily streak, today's progress and this week's bridge")
    async def streak(self, call: CommandCall) -> str:
        daily, bridge = self.cfg.daily, self.cfg.weekend_weekday_bridge
        if not daily.enabled and not bridge.enabled:
            return "Streaks are switched off here."
        fmt = self.ctx.format_amount
        today = self._today()
        state = await self.state_of(call.channel, call.username)
        lines = []
        if daily.enabled:
            shown = state.shown(today) if state is not None else 0
            best = state.longest if state is not None else 0
            lines.append(f"🔥 Streak: {self._days_text(shown)} (best {best})")
        threshold = daily.min_presence_minutes
        if state is not None and state.last_date >= today:
            lines.append("Today: counted ✓")
        else:
            minutes = (await self.ctx.ledger.daily_many(
                call.channel, today, COUNTER, [call.username])).get(user_key(call.username), 0)
            lines.append(f"Today: {threshold}/{threshold} min, counted within a minute"
                         if minutes >= threshold else
                         f"Today: {minutes}/{threshold} min ({threshold - minutes} to go)")
        if bridge.enabled:
            weekday, weekend, claimed = (state.week_flags(today) if state is not None
                                         else (False, False, False))
            if claimed:
                lines.append("Bridge this week: paid ✓")
            else:
                marks = f"weekday {'✓' if weekday else '✗'} · weekend {'✓' if weekend else '✗'}"
                if weekday:
                    hint = f" → a weekend day pays {fmt(bridge.bonus)}"
                elif is_weekend(today):  # the week's weekdays are behind us
                    hint = " → no weekday this week; the next week starts Monday"
                else:
                    hint = f" → a weekday and a weekend day pay {fmt(bridge.bonus)}"
                lines.append(f"Bridge this week: {marks}{hint}")
        return "\n".join(lines)
