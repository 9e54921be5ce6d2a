"""The presence plugin: sessions, arrival rewards, the per-minute tick and dwell milestones.

Sessions live in memory per channel and are rebuilt from the room snapshot after a restart (no
arrival rewards for those users). A ``userleave`` makes a session *departing*: it earns nothing and
a rejoin within ``join_debounce_minutes`` resumes it silently; otherwise the tick closes it.

Money safety:

- the welcome wallet is one ledger credit with the idempotency key ``presence:welcome:<user>``,
  so duplicate joins, restarts and races pay it once per user, ever;
- the welcome-back bonus is keyed by the ``last_seen`` it rewards, so one absence pays once;
- each tick is ONE ledger transaction: every present user's pay, their ``minutes_present`` day
  counter, milestone claims (a ``presence_milestones`` row per (user, day, hour): a claim that
  exists already is not paid again) and ``last_seen``.
"""

from __future__ import annotations

import time as _time
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import attrs
import pluggy
import sqlalchemy as sa

from economy_core import (
    WITHHELD,
    Award,
    ChatMessage,
    Contract,
    Counter,
    Kind,
    LedgerTx,
    PluginConnection,
    PluginContext,
    PostingType,
    ProfileField,
    RoomSnapshot,
    UserArrived,
    UserJoined,
    UserLeft,
    chunks,
    hookimpl,
    legacy_time,
    render,
    user_key,
)

from . import hookspecs, tables
from .config import PresenceConfig

TICK_SECONDS = 60
"""One tick pays one minute of presence."""
TICK_WARN_SECONDS = 5.0


@attrs.define
class Session:
    """One user's stay in a room."""

    username: str
    day: date
    minutes_today: int
    last_chat: datetime | None = None
    departing_since: datetime | None = None

    @property
    def live(self) -> bool:
        return self.departing_since is None


def format_minutes(minutes: int) -> str:
    hours, mins = divmod(minutes, 60)
    return f"{hours}h {mins:02d}m" if hours else f"{mins}m"


class Presence:
    """Pays for being in the room; see the module docstring."""

    name = "presence"
    Config = PresenceConfig
    schema = tables.schema
    contract = Contract(
        personal_data=("when each user was first and last seen", "dwell milestones reached"),
        user_tables=tables.PERSONAL,
        posting_types=(
            PostingType("welcome_wallet", "welcome wallet", Kind.EARN),
            PostingType("welcome_back", "welcome back", Kind.EARN),
            PostingType("milestone", "time-here milestone", Kind.EARN),
        ),
        counters=(Counter("minutes_present", "minutes in the room"),),
    )

    @staticmethod
    @hookimpl
    def economy_addhooks(pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(hookspecs)

    @hookimpl
    async def economy_import_legacy(self, channel: str, source: Any, users: Mapping[str, str],
                                    now: datetime, used_key: Any,
                                    conn: PluginConnection) -> list[str]:
        """kryten-economy's first and last seen → ``presence_users``; a welcome wallet it paid
        (``welcome_wallet_claimed``) marks this plugin's wallet key as used, so it is never paid
        twice."""
        columns = {r[1] for r in source.execute("PRAGMA table_info(accounts)")}
        seen, wallets = 0, 0
        for row in source.execute("SELECT * FROM accounts WHERE channel = ?", (channel,)):
            key = users.get(row["username"])
            if key is None:
                continue
            first = legacy_time(row["first_seen"]) or now
            last = legacy_time(row["last_seen"]) or first
            await conn.execute(tables.users.insert().values(
                channel=channel, user_key=key, username=row["username"], first_seen=first,
                last_seen=last, wallet_pending=False))
            seen += 1
            if "welcome_wallet_claimed" in columns and row["welcome_wallet_claimed"]:
                await used_key(f"presence:welcome:{key}")
                wallets += 1
        return [f"{seen} user(s) first/last seen, {wallets} welcome wallet(s) already paid"]

    @hookimpl
    async def economy_prune_veto(self, channel: str, user_key: str, username: str,
                                 inactive_since: datetime) -> str | None:
        """``prune``: a user seen in the room since the cutoff is not abandoned."""
        t = tables.users
        async with self.ctx.db.connect() as conn:
            seen = await conn.scalar(sa.select(t.c.last_seen).where(
                t.c.channel == channel, t.c.user_key == user_key))
        if seen is not None and seen >= inactive_since:
            return f"seen {seen:%Y-%m-%d}"
        return None

    def __init__(self, ctx: PluginContext[PresenceConfig]) -> None:
        self.ctx = ctx
        self.sessions: dict[str, dict[str, Session]] = {c: {} for c in ctx.channels}
        self.pending_wallets: dict[tuple[str, str], str] = {}
        """Welcome wallets withheld by the onboarding minimums: (channel, key) → username."""
        self.ticks = 0

    @property
    def cfg(self) -> PresenceConfig:
        return self.ctx.config

    def _today(self) -> date:
        return self.ctx.clock.local_date(self.ctx.tz)

    # -- lifecycle ------------------------------------------------------------------------------

    @hookimpl
    async def economy_startup(self) -> None:
        u = tables.users
        async with self.ctx.db.connect() as conn:
            rows = await conn.execute(sa.select(u.c.channel, u.c.user_key, u.c.username)
                                      .where(u.c.wallet_pending))
            for row in rows:
                self.pending_wallets[(row.channel, row.user_key)] = row.username
        self.ctx.scheduler.every(TICK_SECONDS, self.tick, name="tick")

    @hookimpl
    async def economy_shutdown(self) -> None:
        now = self.ctx.clock.now()
        for channel, sessions in self.sessions.items():
            keys = [user_key(s.username) for s in sessions.values() if s.live]
            await self._touch(channel, keys, now)

    # -- room events ----------------------------------------------------------------------------

    @hookimpl
    async def economy_room_seeded(self, snapshot: RoomSnapshot) -> None:
        """Everyone in the snapshot is present: no arrival rewards, except the welcome wallet for
        users seen here for the first time (a channel that installs the bot, or someone whose
        first visit fell into a restart: the wallet is once per account, at first sight, join or
        snapshot). Sessions of users missing from it are departing (they left while we could
        not see)."""
        now = self.ctx.clock.now()
        sessions = self.sessions.setdefault(snapshot.channel, {})
        present = {user_key(u.username): u.username for u in snapshot.users}
        for key, session in sessions.items():
            if key not in present and session.live:
                session.departing_since = now
        new = [name for key, name in present.items() if key not in sessions]
        minutes = await self._minutes_today(snapshot.channel, new)
        for key, name in present.items():
            known = sessions.get(key)
            if known is None:
                sessions[key] = Session(name, self._today(), minutes.get(key, 0))
            else:
                known.departing_since = None
        first_sight = await self._never_seen(snapshot.channel, new)
        await self._remember(snapshot.channel, new, now)
        for name in first_sight:
            if not self.ctx.identity.is_banned(snapshot.channel, name):
                await self._pay_wallet(snapshot.channel, name)

    @hookimpl
    async def economy_user_joined(self, event: UserJoined) -> None:
        channel, key, now = event.channel, user_key(event.username), event.at
        sessions = self.sessions.setdefault(channel, {})
        session = sessions.get(key)
        if session is not None:
            departed_at, session.departing_since = session.departing_since, None
            if departed_at is not None:  # a resume within the debounce window
                await self._announce_arrival(event, genuine=False, absence=now - departed_at)
            return  # else a duplicate join of a live session: not an arrival
        # a closed session left its departure time as last_seen (set at the leave)
        row = await self._user_row(channel, key)
        last_seen: datetime | None = row.last_seen if row is not None else None
        absence = (now - last_seen) if last_seen is not None else None
        genuine = absence is None or absence >= timedelta(minutes=self.cfg.join_debounce_minutes)
        minutes = await self._minutes_today(channel, [event.username])
        sessions[key] = Session(event.username, self._today(), minutes.get(key, 0))
        await self._remember(channel, [event.username], now)
        if genuine and not self.ctx.identity.is_banned(channel, event.username):
            await self._arrive(channel, event.username, last_seen, now)
        await self._announce_arrival(event, genuine=genuine, absence=absence)

    async def _announce_arrival(self, event: UserJoined, *, genuine: bool,
                                absence: timedelta | None) -> None:
        """Tell the other plugins how this join was judged (greetings depend on it)."""
        await self.ctx.hooks.broadcast(hookspecs.economy_user_arrived, arrival=UserArrived(
            event.channel, event.username, event.at, genuine, absence, event.rank))

    async def _arrive(self, channel: str, username: str, last_seen: datetime | None,
                      now: datetime) -> None:
        """A genuine arrival: the welcome wallet (once ever), else a welcome-back bonus."""
        if await self._pay_wallet(channel, username):
            return
        back = self.cfg.welcome_back
        if (back.enabled and back.bonus > 0 and last_seen is not None
                and now - last_seen >= timedelta(days=back.days_absent)):
            result = await self.ctx.ledger.credit(
                channel, username, back.bonus, type="welcome_back", kind=Kind.EARN,
                trigger_id="retention.welcome_back", reason="welcome back",
                metadata={"for_last_seen": last_seen.isoformat()},
                key=f"presence:welcome_back:{user_key(username)}:{last_seen.isoformat()}")
            if result.ok and not result.replayed:
                self.ctx.outbox.notify(channel, username,
                                       self._notice(back.message, back.bonus, username))

    async def _pay_wallet(self, channel: str, username: str) -> bool:
        """Pay the welcome wallet unless it was paid before; True when this call paid it.

        Withheld by the onboarding minimums, it stays pending and each tick tries again while
        the user is here; the welcome PM follows ``delay_seconds`` after the payment."""
        wallet = self.cfg.welcome_wallet
        key = (channel, user_key(username))
        was_pending = self.pending_wallets.pop(key, None) is not None
        if not wallet.enabled or wallet.amount <= 0:
            if was_pending:
                await self._mark_wallet_pending(channel, key[1], False)
            return False
        result = await self.ctx.ledger.credit(
            channel, username, wallet.amount, type="welcome_wallet", kind=Kind.EARN,
            trigger_id="onboarding.welcome_wallet", reason="welcome wallet",
            key=f"presence:welcome:{user_key(username)}")
        if result.error == WITHHELD:
            self.pending_wallets[key] = username
            if not was_pending:
                await self._mark_wallet_pending(channel, key[1], True)
            return True  # a newcomer: no welcome-back either
        if was_pending:
            await self._mark_wallet_pending(channel, key[1], False)
        if not result.ok or result.replayed:
            return False
        text = self._notice(wallet.message, wallet.amount, username)

        async def send_welcome() -> None:
            self.ctx.outbox.notify(channel, username, text, transactional=True)

        self.ctx.scheduler.once(wallet.delay_seconds, send_welcome,
                                name=f"welcome:{user_key(username)}")
        return True

    @hookimpl
    async def economy_user_left(self, event: UserLeft) -> None:
        session = self.sessions.get(event.channel, {}).get(user_key(event.username))
        if session is not None and session.live:
            session.departing_since = event.at
            await self._touch(event.channel, [user_key(event.username)], event.at)

    @hookimpl
    async def economy_chat_message(self, event: ChatMessage) -> None:
        session = self.sessions.get(event.channel, {}).get(user_key(event.username))
        if session is not None:
            session.last_chat = event.at

    # -- the tick -------------------------------------------------------------------------------

    async def tick(self) -> None:
        """Pay everyone present, in one ledger transaction per channel."""
        started = _time.perf_counter()
        for channel in list(self.sessions):
            await self._tick_channel(channel)
        self.ticks += 1
        elapsed = _time.perf_counter() - started
        if elapsed > TICK_WARN_SECONDS:
            self.ctx.log.warning("presence tick took %.1f s for %d user(s)", elapsed,
                                 sum(len(s) for s in self.sessions.values()))

    def _close_departed(self, channel: str, now: datetime) -> None:
        window = timedelta(minutes=self.cfg.join_debounce_minutes)
        sessions = self.sessions[channel]
        for key in [k for k, s in sessions.items()
                    if s.departing_since is not None and now - s.departing_since >= window]:
            del sessions[key]

    def _rate(self, channel: str, session: Session, now: datetime) -> float:
        cfg = self.cfg
        room_user = self.ctx.rooms[channel].get(session.username)
        afk = room_user.afk if room_user is not None else False
        active = (session.last_chat is not None and not afk
                  and now - session.last_chat <= timedelta(minutes=cfg.afk_threshold_minutes))
        return cfg.base_rate_per_minute + (cfg.active_bonus_per_minute if active else 0.0)

    def _night_factor(self, now: datetime) -> float:
        night = self.cfg.night_watch
        if night.enabled and now.astimezone(self.ctx.tz).hour in night.hours:
            return night.multiplier
        return 1.0

    async def _tick_channel(self, channel: str) -> None:
        now = self.ctx.clock.now()
        today = self._today()
        self._close_departed(channel, now)
        live = [s for s in self.sessions[channel].values()
                if s.live and not self.ctx.identity.is_banned(channel, s.username)]
        if not live:
            return
        for session in live:
            if session.day != today:
                session.day, session.minutes_today = today, 0
        night = self._night_factor(now)
        items = [(s.username, self._rate(channel, s, now) * night) for s in live]
        metadata = {"night_watch": night} if night != 1.0 else None
        _, pay = await self.ctx.awards.quote_many(channel, items, trigger_id="presence.base",
                                                  type="earn", reason="presence",
                                                  metadata=metadata)
        minutes_added = 1
        crossed = self._crossed_milestones(live, minutes_added)

        async def write(tx: LedgerTx) -> list[tuple[Session, int, int]]:
            claimed = await self._claim_milestones(tx.conn, channel, today, crossed)
            awards = list(pay) + [
                Award(username=s.username, amount=amount, type="milestone", kind=Kind.EARN,
                      trigger_id=f"dwell.{hours}h", reason=f"{hours} hour(s) present today")
                for s, hours, amount in claimed if amount > 0]
            posted: set[tuple[str, str | None]] = set()
            if awards:
                result = await tx.credit_many(channel, awards)
                posted = {(p.user_key, p.trigger_id) for p in result.postings}
            paid_milestones = [(s, h, a) for s, h, a in claimed
                               if (user_key(s.username), f"dwell.{h}h") in posted]
            await tx.bump_daily_many(channel, today, "minutes_present",
                                     [s.username for s in live], minutes_added)
            await tx.conn.execute(
                tables.users.update()
                .where(tables.users.c.channel == sa.bindparam("b_channel"),
                       tables.users.c.user_key == sa.bindparam("b_key"))
                .values(last_seen=sa.bindparam("b_seen"), username=sa.bindparam("b_name")),
                [{"b_channel": channel, "b_key": user_key(s.username), "b_seen": now,
                  "b_name": s.username} for s in live])
            return paid_milestones

        paid = await self.ctx.ledger.atomic(write)
        for session in live:
            session.minutes_today += minutes_added
        for session in live:
            if (channel, user_key(session.username)) in self.pending_wallets:
                await self._pay_wallet(channel, session.username)
        for session, hours, amount in paid:
            if amount > 0:
                self.ctx.outbox.notify(channel, session.username, render(
                    self.cfg.milestone_message, f"+{amount} for {hours} hour(s) today",
                    hours=hours, amount=amount, currency=self.ctx.currency_word(amount),
                    user=session.username))

    def _crossed_milestones(self, live: Sequence[Session],
                            minutes_added: int) -> list[tuple[Session, int, int]]:
        out = []
        for session in live:
            before, after = session.minutes_today, session.minutes_today + minutes_added
            for hours, amount in sorted(self.cfg.hourly_milestones.items()):
                if before < hours * 60 <= after:
                    out.append((session, hours, amount))
        return out

    async def _claim_milestones(self, conn: Any, channel: str, day: date,
                                crossed: list[tuple[Session, int, int]]
                                ) -> list[tuple[Session, int, int]]:
        """Insert a claim row per crossed milestone; return only those not claimed before."""
        if not crossed:
            return []
        m = tables.milestones
        keys = {user_key(s.username) for s, _, _ in crossed}
        existing = {(k, h) for part in chunks(sorted(keys)) for k, h in await conn.execute(
            sa.select(m.c.user_key, m.c.hours).where(
                m.c.channel == channel, m.c.day == day, m.c.user_key.in_(part)))}
        fresh = [(s, h, a) for s, h, a in crossed if (user_key(s.username), h) not in existing]
        if fresh:
            await conn.execute(m.insert(), [
                {"channel": channel, "user_key": user_key(s.username), "day": day, "hours": h}
                for s, h, _ in fresh])
        return fresh

    # -- storage helpers ------------------------------------------------------------------------

    async def _user_row(self, channel: str, key: str) -> Any:
        async with self.ctx.db.connect() as conn:
            result = await conn.execute(sa.select(tables.users).where(
                tables.users.c.channel == channel, tables.users.c.user_key == key))
            return result.first()

    @staticmethod
    async def _known(conn: PluginConnection, channel: str, keys: Sequence[str]) -> set[str]:
        """The user keys among ``keys`` that have a row."""
        u = tables.users
        return {k for part in chunks(list(keys))
                for (k,) in await conn.execute(sa.select(u.c.user_key).where(
                    u.c.channel == channel, u.c.user_key.in_(part)))}

    async def _never_seen(self, channel: str, usernames: Sequence[str]) -> list[str]:
        """The users among ``usernames`` this plugin has no record of (first sight)."""
        if not usernames:
            return []
        by_key = {user_key(n): n for n in usernames}
        async with self.ctx.db.connect() as conn:
            known = await self._known(conn, channel, list(by_key))
        return [name for key, name in by_key.items() if key not in known]

    async def _remember(self, channel: str, usernames: Sequence[str], now: datetime) -> None:
        """Make sure each user has a row (first_seen kept, last_seen = now)."""
        if not usernames:
            return
        u = tables.users
        by_key = {user_key(n): n for n in usernames}
        async with self.ctx.db.begin() as conn:
            known = await self._known(conn, channel, list(by_key))
            new = [{"channel": channel, "user_key": k, "username": n, "first_seen": now,
                    "last_seen": now} for k, n in by_key.items() if k not in known]
            if new:
                await conn.execute(u.insert(), new)

    async def _mark_wallet_pending(self, channel: str, key: str, pending: bool) -> None:
        u = tables.users
        async with self.ctx.db.begin() as conn:
            await conn.execute(u.update().where(u.c.channel == channel, u.c.user_key == key)
                               .values(wallet_pending=pending))

    async def _touch(self, channel: str, keys: Sequence[str], now: datetime) -> None:
        if not keys:
            return
        u = tables.users
        async with self.ctx.db.begin() as conn:
            await conn.execute(
                u.update().where(u.c.channel == sa.bindparam("b_channel"),
                                 u.c.user_key == sa.bindparam("b_key"))
                .values(last_seen=sa.bindparam("b_seen")),
                [{"b_channel": channel, "b_key": k, "b_seen": now} for k in keys])

    async def _minutes_today(self, channel: str, usernames: Sequence[str]) -> dict[str, int]:
        if not usernames:
            return {}
        found: dict[str, int] = await self.ctx.ledger.daily_many(
            channel, self._today(), "minutes_present", usernames)
        return found

    def _notice(self, template: str, amount: int, username: str) -> str:
        return render(template, f"+{self.ctx.format_amount(amount)}", amount=amount,
                      currency=self.ctx.currency_word(amount), user=username)

    # -- what other plugins and commands can ask ------------------------------------------------

    @hookimpl
    async def economy_profile_fields(self, channel: str, username: str) -> list[ProfileField]:
        key = user_key(username)
        fields = []
        session = self.sessions.get(channel, {}).get(key)
        minutes = session.minutes_today if session is not None and session.day == self._today() \
            else (await self._minutes_today(channel, [username])).get(key, 0)
        fields.append(ProfileField("presence.today", "Here today", format_minutes(minutes), 40))
        row = await self._user_row(channel, key)
        if row is not None:
            first_seen = (await self.ctx.members.standing(channel, username)).first_seen
            fields.append(ProfileField("presence.first_seen", "First seen",
                                       first_seen.date().isoformat(), 80))
            here = session is not None and session.live
            fields.append(ProfileField("presence.last_seen", "Last seen",
                                       "here now" if here else
                                       row.last_seen.strftime("%Y-%m-%d %H:%M UTC"), 81))
        return fields

    @hookimpl
    def economy_reward_lines(self, channel: str) -> list[str]:
        cfg = self.cfg
        fmt = self.ctx.format_amount
        rate, bonus = cfg.base_rate_per_minute, cfg.active_bonus_per_minute
        lines = []
        if rate or bonus:  # nothing to list (or to multiply at night) when being here pays 0
            lines.append(f"Being here: {rate:g} {self.ctx.core.currency.symbol} per minute"
                         + (f" (+{bonus:g} while chatting)" if bonus else ""))
        if (rate or bonus) and cfg.night_watch.enabled and cfg.night_watch.multiplier != 1.0:
            hours = ", ".join(str(h) for h in cfg.night_watch.hours)
            lines.append(f"Night watch: ×{cfg.night_watch.multiplier:g} at hours {hours}")
        if cfg.hourly_milestones:
            parts = [f"{h}h {fmt(a)}" for h, a in sorted(cfg.hourly_milestones.items())]
            lines.append("Time here today: " + ", ".join(parts))
        if cfg.welcome_wallet.enabled and cfg.welcome_wallet.amount:
            lines.append(f"Welcome wallet: {fmt(cfg.welcome_wallet.amount)} once")
        if cfg.welcome_back.enabled and cfg.welcome_back.bonus:
            lines.append(f"Back after {cfg.welcome_back.days_absent}+ days: "
                         f"{fmt(cfg.welcome_back.bonus)}")
        return lines
