"""The money side of a purchase once its price is held: asking the robot and settling the
escrow on its answer, force-plays an admin approved, and start-up recovery (the contracts are
in the plugin's module docstring and :mod:`.tables`).

Every settlement is ONE ledger transaction that first claims the purchase row by its status
(``pending``/``sent`` → ``queued``/``refunded``; ``sending`` → ``queued``/``compensated``), so a
purchase is settled once whoever races (a late answer, start-up recovery): the loser changes
nothing.

The playlist decides what the robot's answer leaves open. A row is marked ``sent`` (a
force-play ``sending``) in its own commit just before ``add_media`` goes out, so after a crash
"never sent" (refund) is told apart from "maybe in the room". An unconfirmed or missing answer,
and a sent row found at start-up, are settled on the robot's playlist state
(``ctx.robot.playlist``): the item is there → spent; it is not → refunded; the playlist is
unknown → refunded (the user is favoured; logged at WARNING). After an unconfirmed answer the
playlist is read up to :data:`PLAYLIST_LOOKS` times, :data:`PLAYLIST_RECHECK_SECONDS` apart on
the bot's clock (the robot's state trails CyTube's late ``queue``). Start-up resolves sent rows
at once when the playlist can be read, else when the room is seeded from the robot
(``economy_room_seeded``), and at the latest :data:`ORPHAN_GRACE_SECONDS` after start.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal

import attrs
import sqlalchemy as sa

from economy_core import (
    Approval,
    Kind,
    LedgerTx,
    MediaResult,
    PlaylistItem,
    PluginContext,
    user_key,
)

from . import tables
from .config import MediaQueueConfig

PURCHASE = "media_purchase"
"""The posting type of a held / spent price (SPEND)."""
COMPENSATION = "media_refund"
"""The posting type that gives back the price of an approved item the robot refused."""
COUNTER = "queues_used"
FORCE_APPROVAL = "force_play"
QUEUE_ANNOUNCEMENT = "queue"
NOW_PLAYING = "now_playing_credit"
MEDIA_WAIT_SECONDS = 12.0
"""How long the robot's answer is awaited (it answers by itself after ~8 s)."""
PLAYLIST_LOOKS = 3
"""Reads of the playlist after an unconfirmed or missing answer before it counts as absent."""
PLAYLIST_RECHECK_SECONDS = 2.0
"""The wait between those reads (the bot's clock)."""
ORPHAN_GRACE_SECONDS = 300.0
"""How long after start-up a purchase sent by the previous process may wait for the playlist
to become readable (the room seeded) before it is refunded as unknown."""
SENT = ("pending", "sent")
"""Statuses a robot's answer (or recovery) may settle: held, and held and sent."""

POSITION: dict[str, Literal["end", "next"]] = {"queue": "end", "playnext": "next",
                                               "forcenow": "next"}
WORDING = {"queue": "queue", "playnext": "play next", "forcenow": "force-play"}


@attrs.frozen
class Outcome:
    """What became of one purchase (endpoint answers, tests)."""

    status: str
    title: str
    cost: int
    balance: int
    note: str = ""
    purchase_id: int | None = None


class Settlement:
    """Sends held purchases and settles them; see the module docstring. ``wait_seconds``: how
    long the robot's answer is awaited (tests of a silent robot shorten it)."""

    wait_seconds = MEDIA_WAIT_SECONDS

    def __init__(self, ctx: PluginContext[MediaQueueConfig]) -> None:
        self.ctx = ctx
        self.inflight: set[tuple[str, str]] = set()
        """(channel, user key) of purchases waiting for the robot: one per user."""
        self.tasks: set[asyncio.Task[Any]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping = False
        self.orphans: set[int] = set()
        """Purchases a previous process sent and nobody settled: the playlist decides them."""
        self.started_at: datetime | None = None
        self.bought = ctx.metrics.counter("purchases_total",
                                          "Media purchases settled, by kind and outcome")

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.recover()
        self.ctx.scheduler.every(60, self.sweep, name="approved")

    async def sweep(self) -> None:
        """Every minute: approved force-plays not yet sent, orphans still undecided."""
        await self.sweep_approved()
        await self.sweep_orphans()

    async def drain(self) -> None:
        """Until every background send has finished."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    def spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=f"{self.ctx.name}-{name}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def lock(self, channel: str) -> asyncio.Lock:
        """The robot handles commands one at a time: so do we, per channel."""
        return self._locks.setdefault(channel, asyncio.Lock())

    # -- the robot's word -----------------------------------------------------------------------

    async def _row(self, purchase_id: int) -> Any:
        p = tables.purchases
        async with self.ctx.db.connect() as conn:
            return (await conn.execute(sa.select(p).where(p.c.id == purchase_id))).first()

    async def send(self, purchase_id: int, who: tuple[str, str]) -> Outcome | None:
        """Mark one held purchase ``sent``, send it and settle it on the answer (the playlist
        deciding an unconfirmed or missing one); never raises. ``who`` (channel, user key)
        leaves :attr:`inflight` when it is done."""
        try:
            row = await self._row(purchase_id)
            if row is None:
                return None
            async with self.lock(row.channel):
                if not await self._mark(row, "pending", "sent"):
                    return None
                result = await self.ctx.robot.add_media(
                    row.channel, row.media_type, row.media_id, position=row.position,
                    temp=True, wait_seconds=self.wait_seconds)
            result = await self.decide(row, result)
            return await self.settle(row, result)
        except Exception:  # a dead process (crash tests) or a bug: start-up settles it
            self.ctx.log.exception("purchase %d: settling failed", purchase_id)
            return None
        finally:
            self.inflight.discard(who)

    async def _mark(self, row: Any, before: str, after: str) -> bool:
        """Claim the row ``before`` → ``after`` in its own commit (True when claimed): the record
        that ``add_media`` is about to go out."""
        p = tables.purchases

        async def run(tx: LedgerTx) -> bool:
            done = await tx.conn.execute(p.update().where(p.c.id == row.id,
                                                          p.c.status == before)
                                         .values(status=after))
            return bool(done.rowcount == 1)

        return await self.ctx.ledger.atomic(run)

    # -- the playlist's word --------------------------------------------------------------------

    async def find(self, channel: str, media_type: str, media_id: str, *,
                   looks: int = 1) -> PlaylistItem | bool | None:
        """The item on the room's playlist; False when the playlist was read and never held it
        in ``looks`` reads (:data:`PLAYLIST_RECHECK_SECONDS` apart); None when it could not be
        read at all."""
        known: bool | None = None
        for n in range(max(1, looks)):
            if n:
                await self.ctx.clock.sleep(PLAYLIST_RECHECK_SECONDS)
            items = await self.ctx.robot.playlist(channel)
            if items is None:
                continue
            known = False
            for item in items:
                if item.media_type == media_type and item.media_id == media_id:
                    return item
        return known

    async def decide(self, row: Any, result: MediaResult, *,
                     looks: int = PLAYLIST_LOOKS) -> MediaResult:
        """The robot's answer, with an unconfirmed or missing one settled by the playlist: the
        item there → ``queued`` (its uid when known); absent → as answered (refunded); unknown
        → as answered, logged at WARNING (refunded: the user is favoured)."""
        if result.status not in ("unconfirmed", "no_answer"):
            return result
        found = await self.find(row.channel, row.media_type, row.media_id, looks=looks)
        if isinstance(found, PlaylistItem):
            self.ctx.log.info("purchase %d: %s, but it is on the playlist: spent", row.id,
                              result.status)
            return MediaResult("queued", uid=found.uid)
        if found is None:
            self.ctx.log.warning("purchase %d (%s): %s and the playlist is unknown; refunding "
                                 "(the item may be in the room unpaid)", row.id, row.title,
                                 result.status)
        return result

    async def settle(self, row: Any, result: MediaResult) -> Outcome | None:
        p = tables.purchases
        fmt = self.ctx.format_amount
        ok = result.ok
        note = "" if ok else _why(result)

        async def run(tx: LedgerTx) -> int:
            claimed = await tx.conn.execute(p.update().where(
                p.c.id == row.id, p.c.status.in_(SENT)).values(
                status="queued" if ok else "refunded", uid=result.uid, note=note[:300],
                settled_at=tx.now))
            if claimed.rowcount != 1:
                raise _AlreadySettled()
            if ok:
                money = await tx.release(row.escrow_id, reason=f"queued: {row.title}"[:200])
                await tx.bump_daily(row.channel, row.username, tx.today, COUNTER)
            else:
                money = await tx.refund(row.escrow_id, reason=f"not queued: {note}"[:200])
            if not money.ok:
                raise RuntimeError(f"purchase {row.id}: escrow {row.escrow_id} could not be "
                                   f"settled ({money.error})")
            return await tx.balance(row.channel, row.username)

        try:
            balance = await self.ctx.ledger.atomic(run)
        except _AlreadySettled:
            return None
        self.bought.inc({"kind": row.kind, "outcome": "queued" if ok else "refunded"})
        if ok:
            self.ctx.outbox.notify(row.channel, row.username,
                                   f"✅ “{row.title}” is in the playlist "
                                   f"({'next' if row.position == 'next' else 'at the end'}). "
                                   f"−{fmt(row.cost)}. Balance: {fmt(balance)}.",
                                   transactional=True)
            await self._announce_purchase(row)
        else:
            self.ctx.outbox.notify(row.channel, row.username,
                                   f"↩️ “{row.title}” was not queued ({note}). "
                                   f"{fmt(row.cost)} refunded. Balance: {fmt(balance)}.",
                                   transactional=True)
        return Outcome("queued" if ok else "refunded", row.title, row.cost, balance, note,
                       row.id)

    async def _announce_purchase(self, row: Any) -> None:
        await self.ctx.announcer.announce(
            row.channel, QUEUE_ANNOUNCEMENT, self.ctx.config.queue_template, people=("user",),
            user=row.username, title=row.title, cost=f"{row.cost:,}",
            currency=self.ctx.currency_word(row.cost))

    # -- force-play approvals -------------------------------------------------------------------

    async def approved(self, tx: LedgerTx, approval: Approval) -> None:
        """Inside the approving transaction: the row to send (the charge is final)."""
        data = approval.data
        await tx.conn.execute(tables.purchases.insert().values(
            channel=approval.channel, username=approval.requester,
            user_key=user_key(approval.requester), kind="forcenow",
            token=str(data.get("token", "")), title=str(data.get("title", ""))[:300],
            duration_s=int(data.get("duration_s", 0) or 0),
            media_type=str(data.get("media_type", "cm")), media_id=str(data.get("media_id", "")),
            position="next", cost=approval.cost, escrow_id=approval.escrow_id,
            approval_id=approval.id, request_key=None, status="approved", uid=None, note="",
            created_at=tx.now, settled_at=None))
        loop = self.loop
        if loop is not None:  # after this commit (the writer may run on another thread)
            loop.call_soon_threadsafe(self.kick_approved)

    async def rejected(self, tx: LedgerTx, approval: Approval) -> None:
        """Nothing to write: the core refunds the escrow and tells the user."""

    def kick_approved(self) -> None:
        if not self.stopping:
            self.spawn(self._drive_approved(), "approved")

    async def sweep_approved(self) -> None:
        """The backstop of :meth:`_kick_approved`: a cheap read, a claim only when needed."""
        p = tables.purchases
        async with self.ctx.db.connect() as conn:
            waiting = await conn.scalar(sa.select(sa.func.count()).select_from(p).where(
                p.c.status == "approved"))
        if waiting:
            await self._drive_approved()

    async def _drive_approved(self) -> None:
        """Send every approved force-play. The rows are read in a ledger transaction — queued
        behind the approving one, so it sees that commit — and each is claimed (``approved`` →
        ``sending``) in its own transaction right before its ``add_media``."""
        p = tables.purchases

        async def approved(tx: LedgerTx) -> list[Any]:
            return list((await tx.conn.execute(sa.select(p).where(p.c.status == "approved")
                                               .order_by(p.c.id))).all())

        try:
            rows = await self.ctx.ledger.atomic(approved)
            for row in rows:
                async with self.lock(row.channel):
                    if not await self._mark(row, "approved", "sending"):
                        continue
                    result = await self.ctx.robot.add_media(
                        row.channel, row.media_type, row.media_id, position="next",
                        temp=True, wait_seconds=self.wait_seconds)
                await self._finish_forced(row, await self.decide(row, result))
        except Exception:
            self.ctx.log.exception("sending approved force-plays failed")

    async def _finish_forced(self, row: Any, result: MediaResult) -> None:
        """An approved item's answer: confirmed → queued; else its price is given back."""
        p = tables.purchases
        fmt = self.ctx.format_amount
        ok = result.ok
        note = "" if ok else _why(result)

        async def run(tx: LedgerTx) -> int:
            claimed = await tx.conn.execute(p.update().where(
                p.c.id == row.id, p.c.status == "sending").values(
                status="queued" if ok else "compensated", uid=result.uid, note=note[:300],
                settled_at=tx.now))
            if claimed.rowcount != 1:
                raise _AlreadySettled()
            if ok:
                await tx.bump_daily(row.channel, row.username, tx.today, COUNTER)
            else:
                await tx.credit(row.channel, row.username, row.cost, type=COMPENSATION,
                                kind=Kind.CORRECTION, reason=f"not queued: {note}"[:200],
                                trigger_id="refund.forcenow",
                                metadata={"purchase": row.id})
            return await tx.balance(row.channel, row.username)

        try:
            balance = await self.ctx.ledger.atomic(run)
        except _AlreadySettled:
            return
        self.bought.inc({"kind": row.kind, "outcome": "queued" if ok else "refunded"})
        if ok:
            self.ctx.outbox.notify(row.channel, row.username,
                                   f"✅ “{row.title}” plays next. Balance: {fmt(balance)}.",
                                   transactional=True)
            await self._announce_purchase(row)
        else:
            self.ctx.outbox.notify(row.channel, row.username,
                                   f"↩️ “{row.title}” could not be queued ({note}). "
                                   f"{fmt(row.cost)} refunded. Balance: {fmt(balance)}.",
                                   transactional=True)

    # -- start-up: nothing stays half done ------------------------------------------------------

    async def recover(self) -> None:
        """Start-up: refund every purchase left ``pending`` (never sent) and any open escrow of
        ours without a purchase; purchases left ``sent``/``sending`` become :attr:`orphans`,
        decided by the playlist now if it can be read (else later, see the module docstring);
        approved force-plays not yet sent are sent."""
        p = tables.purchases
        self.started_at = self.ctx.clock.now()
        async with self.ctx.db.connect() as conn:
            rows = (await conn.execute(sa.select(p).where(
                p.c.status.in_(("pending", "sent", "sending"))).order_by(p.c.id))).all()
        for row in rows:
            if row.status == "pending":
                await self.settle(row, MediaResult(
                    "no_answer", error="the bot restarted before sending it"))
            else:
                self.orphans.add(int(row.id))
        for kind in POSITION:
            for escrow in await self.ctx.ledger.open_escrows(purpose=f"spend.{kind}"):
                if escrow.source != self.ctx.name:
                    continue
                async with self.ctx.db.connect() as conn:
                    owned = await conn.scalar(sa.select(sa.func.count()).select_from(p).where(
                        p.c.escrow_id == escrow.id, p.c.status.in_(SENT)))
                if not owned:
                    await self.ctx.ledger.refund(escrow.id, reason="media purchase interrupted")
        await self.resolve_orphans(final=False)
        await self.sweep_approved()

    async def resolve_orphans(self, channel: str | None = None, *, final: bool) -> None:
        """Settle purchases a previous process sent: the item on the playlist → spent (the user
        told it was queued); absent → refunded; playlist unknown → left for later unless
        ``final`` (then refunded, logged at WARNING)."""
        p = tables.purchases
        for purchase_id in sorted(self.orphans):
            async with self.ctx.db.connect() as conn:
                row = (await conn.execute(sa.select(p).where(p.c.id == purchase_id))).first()
            if row is None or row.status not in ("sent", "sending"):
                self.orphans.discard(purchase_id)
                continue
            if channel is not None and row.channel != channel:
                continue
            found = await self.find(row.channel, row.media_type, row.media_id)
            if found is None and not final:
                continue
            self.orphans.discard(purchase_id)
            if isinstance(found, PlaylistItem):
                result = MediaResult("queued", uid=found.uid)
            elif found is None:
                self.ctx.log.warning("purchase %d (%s): sent before a restart and the playlist "
                                     "is unknown; refunding (the item may be in the room "
                                     "unpaid)", row.id, row.title)
                result = MediaResult("no_answer", error="the bot restarted and could not see "
                                                        "the playlist")
            else:
                result = MediaResult("no_answer", error="the bot restarted and it is not on "
                                                        "the playlist")
            if row.status == "sent":
                await self.settle(row, result)
            else:
                await self._finish_forced(row, result)

    async def room_seeded(self, channel: str) -> None:
        """The robot's state of ``channel`` was read: its orphans are decided now."""
        if self.orphans:
            await self.resolve_orphans(channel, final=True)

    async def sweep_orphans(self) -> None:
        """The backstop: orphans still undecided :data:`ORPHAN_GRACE_SECONDS` after start-up."""
        if not self.orphans or self.started_at is None:
            return
        waited = (self.ctx.clock.now() - self.started_at).total_seconds()
        await self.resolve_orphans(final=waited >= ORPHAN_GRACE_SECONDS)

class _AlreadySettled(Exception):
    """The purchase row was settled by someone else first: change nothing."""



def _why(result: MediaResult) -> str:
    if result.status == "refused":
        return f"the room said: {result.error or 'refused'}"
    if result.status == "unconfirmed":
        return "CyTube did not confirm it in time"
    if result.status == "unavailable":
        return "the bot is not connected to the room"
    return result.error or "no answer from the room"


