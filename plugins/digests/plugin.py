"""The digests plugin (SPEC §5): economy snapshots every 6 hours, the daily user digest and the
weekly admin digest.

**Snapshots.** Once per 6-hour slot (00, 06, 12, 18 UTC) per channel: accounts, circulation
(Σ balances), users active today (with any daily counter today), earned / spent / gamble net
today (the ledger's daily counters ``z_earned``, ``z_spent``, ``z_gambled_out`` −
``z_gambled_in``, which follow the posting kinds), the median balance, participation (the
share of present users holding an account, ``participation_rate``) and what other plugins
add through the published ``economy_snapshot_fields`` hook (``extra``). Everything comes from
the ledger and the hook, never from another plugin's tables. The row's key is the slot,
inserted after checking none exists in one transaction: a slot is recorded once, whoever runs
the job how often. Snapshots older than ``snapshot_retention_days`` are deleted. The endpoint
``economy.snapshot`` answers the latest one.

**User digest.** At ``user_digest.send_hour_utc`` (or at the first hourly check after it that
day: a restart inside the window still sends it), every user with a daily-counter row for
yesterday (ledger day) who is not banned gets a notification (quiet mode mutes it) with
yesterday's earned and spent, the balance and what plugins answer through
``economy_digest_values`` (rank, streak, next goal, days away).

**Admin digest.** On Monday at ``admin_digest.send_hour_utc`` (or later that Monday), every
present user with rank ≥ ``admin.owner_level`` gets the last seven days: minted, spent, wagered,
games, actual edge, circulation change (first → last snapshot of the week), circulation, top 5
earners and spenders. With no admin present nothing is sent and the next hourly check tries
again (that Monday).

**Once per period.** Before a digest's PMs are queued its claim row (``digests_sent``: channel,
digest, period) is inserted in a transaction that first checks none exists: a second run — the
hourly check, the start-up catch-up, a restart — finds the row and sends nothing. A crash after
the claim and before the outbox delivered loses that digest (at most once: never two).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pluggy
import sqlalchemy as sa

from economy_core import (
    ApiError,
    ApiRequest,
    Kind,
    LedgerTx,
    PluginContext,
    StatsSection,
    endpoint,
    hookimpl,
    participation_rate,
    render,
    user_key,
)

from . import hookspecs as digest_hooks
from . import tables
from .config import DigestsConfig
from .snapshot import Snapshot, median, next_slot, slot_of

CHECK_CRON = "0 * * * *"
"""The plugin's hourly check (snapshot slot, digests due, retention)."""
USER_DEFAULTS = {"rank": "—", "streak": "0", "next_goal_description": "—", "days_away": "—"}


class Digests:
    """Snapshots and digests; see the module docstring."""

    name = "digests"
    Config = DigestsConfig
    schema = tables.schema

    @staticmethod
    @hookimpl
    def economy_addhooks(pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(digest_hooks)

    def __init__(self, ctx: PluginContext[DigestsConfig]) -> None:
        self.ctx = ctx
        self._sent = ctx.metrics.counter("sent_total", "Digest PMs queued, by digest")

    @property
    def cfg(self) -> DigestsConfig:
        return self.ctx.config

    # -- schedule -------------------------------------------------------------------------------

    @hookimpl
    async def economy_startup(self) -> None:
        self.ctx.scheduler.cron(CHECK_CRON, self.check, name="hourly")
        self.ctx.scheduler.once(0, self.check, name="catch_up")

    async def check(self) -> None:
        """Everything due now, per channel (a failing part does not stop the others)."""
        now = self.ctx.clock.now()
        for channel in self.ctx.channels:
            for part in (self.take_snapshot, self.send_user_digest, self.send_admin_digest,
                         self.expire_snapshots):
                try:
                    await part(channel, now)
                except Exception:
                    self.ctx.log.exception("digests: %s in %s failed", part.__name__, channel)

    # -- snapshots ------------------------------------------------------------------------------

    async def measure(self, channel: str, now: datetime) -> Snapshot:
        """The channel's figures now (nothing stored)."""
        ledger = self.ctx.ledger
        today = now.astimezone(ledger.tz).date()
        holders = await ledger.holders(channel, 0)
        sums = await ledger.counter_sums(channel, today, today)
        active = await ledger.active_users(channel, today)
        core = self.ctx.core
        skip = {user_key(n) for n in (*core.ignored_users, core.bot.username)}
        present = ({user_key(u.username) for u in self.ctx.rooms[channel].present()} - skip
                   if channel in self.ctx.rooms.channels else set())
        holding = len(present & {h.user_key for h in holders})
        extra: dict[str, Any] = {}
        for answer in await self.ctx.hooks.collect(digest_hooks.economy_snapshot_fields,
                                                   channel=channel):
            for key, value in (answer or {}).items():
                if key in extra:
                    self.ctx.log.warning("snapshot field %r given twice; kept the first", key)
                    continue
                extra[str(key)] = value
        return Snapshot(
            channel=channel, slot=slot_of(now), taken_at=now, accounts=len(holders),
            circulation=sum(h.balance for h in holders), active_today=len(active),
            earned_today=sums.get("z_earned", 0), spent_today=sums.get("z_spent", 0),
            gamble_net_today=sums.get("z_gambled_out", 0) - sums.get("z_gambled_in", 0),
            median_balance=median([h.balance for h in holders]),
            participation=participation_rate(len(present), holding), extra=extra)

    async def take_snapshot(self, channel: str, now: datetime) -> Snapshot | None:
        """Record the snapshot of ``now``'s slot unless it exists; the new row, or None."""
        slot = slot_of(now)
        t = tables.snapshots
        async with self.ctx.db.connect() as conn:
            found = await conn.scalar(sa.select(sa.func.count()).select_from(t).where(
                t.c.channel == channel, t.c.slot == slot))
        if found:
            return None
        snap = await self.measure(channel, now)

        async def claim(tx: LedgerTx) -> bool:
            exists = await tx.conn.scalar(sa.select(sa.func.count()).select_from(t).where(
                t.c.channel == channel, t.c.slot == slot))
            if exists:
                return False
            await tx.conn.execute(sa.insert(t).values(
                channel=channel, slot=slot, taken_at=snap.taken_at, accounts=snap.accounts,
                circulation=snap.circulation, active_today=snap.active_today,
                earned_today=snap.earned_today, spent_today=snap.spent_today,
                gamble_net_today=snap.gamble_net_today, median_balance=snap.median_balance,
                participation=snap.participation, extra=snap.extra))
            return True

        return snap if await self.ctx.ledger.atomic(claim) else None

    async def expire_snapshots(self, channel: str, now: datetime) -> int:
        """Delete the channel's snapshots older than the retention; how many went."""
        cutoff = now - timedelta(days=self.cfg.snapshot_retention_days)
        t = tables.snapshots
        async with self.ctx.db.begin() as conn:
            result = await conn.execute(sa.delete(t).where(t.c.channel == channel,
                                                           t.c.slot < cutoff))
        return int(result.rowcount or 0)

    async def snapshots(self, channel: str, since: datetime | None = None,
                        until: datetime | None = None) -> list[Snapshot]:
        """Stored snapshots of the channel, oldest first (``since <= slot < until``)."""
        t = tables.snapshots
        stmt = sa.select(t).where(t.c.channel == channel)
        if since is not None:
            stmt = stmt.where(t.c.slot >= since)
        if until is not None:
            stmt = stmt.where(t.c.slot < until)
        async with self.ctx.db.connect() as conn:
            rows = (await conn.execute(stmt.order_by(t.c.slot))).mappings().all()
        return [_snapshot(row) for row in rows]

    async def latest(self, channel: str) -> Snapshot | None:
        t = tables.snapshots
        async with self.ctx.db.connect() as conn:
            row = (await conn.execute(sa.select(t).where(t.c.channel == channel)
                                      .order_by(t.c.slot.desc()).limit(1))).mappings().first()
        return None if row is None else _snapshot(row)

    @hookimpl
    async def economy_health_sections(self, channel: str) -> StatsSection | None:
        """For an admin's ``econ:health``: circulation now against the latest snapshot."""
        snap = await self.latest(channel)
        if snap is None:
            return None
        now = (await self.ctx.ledger.totals(channel)).circulation
        change = now - snap.circulation
        percent = (f" ({change / snap.circulation:+.1%})" if snap.circulation else "")
        at = snap.slot.strftime("%Y-%m-%d %H:%M UTC")
        return StatsSection(
            "Since the last snapshot",
            [f"Circulation {change:+,}{percent} since the snapshot of {at} "
             f"({self.ctx.format_amount(snap.circulation)} then)"],
            {"circulation_change": change, "snapshot_circulation": snap.circulation,
             "snapshot_at": snap.slot.isoformat()})

    @endpoint("economy.snapshot", help="The channel's latest economy snapshot (every 6 h)")
    async def economy_snapshot(self, request: ApiRequest) -> dict[str, Any]:
        snap = await self.latest(request.channel)
        if snap is None:
            raise ApiError("no snapshot has been taken yet")
        data = snap.as_json()
        data["next_at"] = next_slot(snap.slot).isoformat()
        return data

    # -- once per period ------------------------------------------------------------------------

    async def _claim(self, channel: str, digest: str, period: str, now: datetime,
                     recipients: int) -> bool:
        """Insert the digest's claim row unless one exists; True when this run claimed it."""
        t = tables.sent

        async def claim(tx: LedgerTx) -> bool:
            exists = await tx.conn.scalar(sa.select(sa.func.count()).select_from(t).where(
                t.c.channel == channel, t.c.digest == digest, t.c.period == period))
            if exists:
                return False
            await tx.conn.execute(sa.insert(t).values(channel=channel, digest=digest,
                                                      period=period, at=now,
                                                      recipients=recipients))
            return True

        return bool(await self.ctx.ledger.atomic(claim))

    async def _claimed(self, channel: str, digest: str, period: str) -> bool:
        t = tables.sent
        async with self.ctx.db.connect() as conn:
            return bool(await conn.scalar(sa.select(sa.func.count()).select_from(t).where(
                t.c.channel == channel, t.c.digest == digest, t.c.period == period)))

    # -- the user digest ------------------------------------------------------------------------

    async def send_user_digest(self, channel: str, now: datetime) -> int | None:
        """Send yesterday's digest if due and not sent; the number of recipients, or None."""
        cfg = self.cfg.user_digest
        utc = now.astimezone(UTC)
        if not cfg.enabled or utc.hour < cfg.send_hour_utc:
            return None
        yesterday = now.astimezone(self.ctx.ledger.tz).date() - timedelta(days=1)
        period = yesterday.isoformat()
        if await self._claimed(channel, "user", period):
            return None
        ledger = self.ctx.ledger
        active = [h for h in await ledger.active_users(channel, yesterday)
                  if not self.ctx.identity.is_banned(channel, h.user_key)]
        names = [h.username for h in active]
        earned = await ledger.daily_many(channel, yesterday, "z_earned", names)
        spent = await ledger.daily_many(channel, yesterday, "z_spent", names)
        texts = []
        for holder in active:
            values = await self._user_values(channel, holder.username,
                                             earned.get(holder.user_key, 0))
            texts.append((holder.username, render(
                cfg.message, "", earned=f"{earned.get(holder.user_key, 0):,}",
                spent=f"{spent.get(holder.user_key, 0):,}", balance=f"{holder.balance:,}",
                currency=self.ctx.currency_word(earned.get(holder.user_key, 0)), **values)))
        if not await self._claim(channel, "user", period, now, len(texts)):
            return None
        for username, text in texts:
            self.ctx.outbox.notify(channel, username, text)
        self._sent.add({"channel": channel, "digest": "user"}, len(texts))
        self.ctx.log.info("user digest of %s in %s: %d recipient(s)", period, channel,
                          len(texts))
        return len(texts)

    async def _user_values(self, channel: str, username: str, earned: int) -> dict[str, str]:
        values = dict(USER_DEFAULTS)
        for answer in await self.ctx.hooks.collect(digest_hooks.economy_digest_values,
                                                   channel=channel, username=username,
                                                   earned_yesterday=earned):
            for key, value in (answer or {}).items():
                if key in USER_DEFAULTS:
                    values[key] = str(value)
        return values

    # -- the admin digest -----------------------------------------------------------------------

    async def send_admin_digest(self, channel: str, now: datetime) -> int | None:
        """Send the weekly digest to present admins if due (Monday, after the hour) and not
        sent this ISO week; the number of recipients, or None."""
        cfg = self.cfg.admin_digest
        utc = now.astimezone(UTC)
        if not cfg.enabled or utc.weekday() != 0 or utc.hour < cfg.send_hour_utc:
            return None
        year, week, _ = utc.isocalendar()
        period = f"{year}-W{week:02d}"
        if await self._claimed(channel, "admin", period):
            return None
        level = self.ctx.core.admin.owner_level
        room = self.ctx.rooms[channel] if channel in self.ctx.rooms.channels else None
        admins = [u.username for u in (room.present() if room is not None else [])
                  if u.rank >= level]
        if not admins:
            return None
        text = await self.admin_text(channel, now)
        if not await self._claim(channel, "admin", period, now, len(admins)):
            return None
        for username in admins:
            self.ctx.outbox.notify(channel, username, text)
        self._sent.add({"channel": channel, "digest": "admin"}, len(admins))
        return len(admins)

    async def admin_text(self, channel: str, now: datetime) -> str:
        """The weekly digest: the seven ledger days before today."""
        ledger, fmt = self.ctx.ledger, self.ctx.format_amount
        today = now.astimezone(ledger.tz).date()
        first, last = today - timedelta(days=7), today - timedelta(days=1)
        sums = await ledger.counter_sums(channel, first, last)
        minted, spent = sums.get("z_earned", 0), sums.get("z_spent", 0)
        staked, won = sums.get("z_gambled_in", 0), sums.get("z_gambled_out", 0)
        kinds = await ledger.kind_totals(  # the same seven ledger days as the counters
            channel, datetime.combine(first, time(0), tzinfo=ledger.tz),
            datetime.combine(today, time(0), tzinfo=ledger.tz))
        gamble = kinds.get(Kind.GAMBLE)
        games = gamble.debits if gamble is not None else 0
        edge = f"{(staked - won) / staked * 100:.1f} %" if staked else "—"
        snaps = await self.snapshots(channel, since=now - timedelta(days=7))
        circulation = await ledger.circulation(channel)
        change = (f"{snaps[-1].circulation - snaps[0].circulation:+,}" if len(snaps) >= 2
                  else "—")
        earners = await ledger.top_counter(channel, first, last, "z_earned", 5)
        spenders = await ledger.top_counter(channel, first, last, "z_spent", 5)
        return "\n".join([
            f"📈 Week {_span(first, last)} in {channel}",
            f"Minted {fmt(minted)} · spent {fmt(spent)} · wagered {fmt(staked)} in {games:,} "
            f"games · edge {edge}",
            f"Circulation {fmt(circulation)} (week: {change})",
            "Top earners: " + (_ranking(earners) or "nobody"),
            "Top spenders: " + (_ranking(spenders) or "nobody"),
        ])


def _span(first: date, last: date) -> str:
    return f"{first:%b %d}–{last:%b %d}"


def _ranking(rows: list[tuple[str, int]]) -> str:
    return ", ".join(f"{name} {value:,}" for name, value in rows)


def _snapshot(row: Mapping[Any, Any]) -> Snapshot:
    return Snapshot(
        channel=row["channel"], slot=row["slot"], taken_at=row["taken_at"],
        accounts=int(row["accounts"]), circulation=int(row["circulation"]),
        active_today=int(row["active_today"]), earned_today=int(row["earned_today"]),
        spent_today=int(row["spent_today"]), gamble_net_today=int(row["gamble_net_today"]),
        median_balance=float(row["median_balance"]), participation=float(row["participation"]),
        extra=dict(row["extra"] or {}))
