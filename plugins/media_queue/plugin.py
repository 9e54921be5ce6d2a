"""Buy a place in the playlist (SPEC §3.7): MediaCMS search, the price held in escrow, and the
money settled on kryten-robot's word.

Commands: ``search <words>`` (numbered results; a bare number picks one), ``queue <id>``,
``playnext <id>``, ``forcenow <id>``, then ``YES`` to buy; ``status`` / ``eventstatus`` (is
queueing open, the current and next blackout window). Endpoint ``spend.queue``.

This module holds the commands, the checks and the hold; :mod:`.settlement` sends held items
and settles them, :mod:`.catalogue` speaks to MediaCMS, :mod:`.blackout` computes the windows.
Money contract:

- ``YES`` (and ``spend.queue``) re-checks everything (catalogue, blackout, daily limit,
  cooldown, one purchase in flight per user, the price, and — when the robot's playlist can be
  read — that the item is not already on it) and then, in ONE ledger transaction, takes the
  price into an escrow (debit-or-fail) and writes the purchase row as ``pending``
  (:mod:`.tables`). Then, in the background, the row is marked ``sent`` (its own commit) and
  ``add_media`` goes out (at ``end`` for queue, ``next`` for playnext and forcenow): the reply
  says the price is held; the robot's answer settles it.
- The answer settles the purchase in ONE transaction that first claims the row (``WHERE
  status IN ('pending','sent')``): confirmed → the escrow is released (the spend is final),
  ``queues_used`` +1, the ``queue`` announcement and a PM with the balance; refused → the
  escrow is refunded in full and the user told why. Unconfirmed or no answer: the playlist
  decides (:mod:`.settlement`): the item on it → spent as if confirmed; absent or unknown →
  refunded (unknown logged at WARNING).
- At start-up a purchase still ``pending`` (never sent) is refunded and the user told; one
  left ``sent`` is settled on the playlist: there → spent and the user told it was queued;
  absent or unknown → refunded and told. So with a readable playlist there is neither a
  charge without an item nor an item without a charge; only an unreadable playlist leaves the
  user-favoured refund (an item CyTube took may then play unpaid).
- ``forcenow`` by a non-admin with ``force_play_requires_admin`` opens a ``force_play``
  approval (the core's escrow; refunded if rejected); the approving transaction marks the row
  ``approved`` and the item is sent right after that commit (and at start-up for rows left
  ``approved``). An approved item the robot then refuses has its price given back as a
  ``media_refund`` posting. An admin's own forcenow is bought like playnext.
- A bought item that starts playing (``economy_media_changed``) gets the ``now_playing_credit``
  announcement, once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from economy_core import (
    Announcement,
    ApiError,
    ApiRequest,
    Ask,
    CommandCall,
    Contract,
    Counter,
    Kind,
    LedgerTx,
    MediaChanged,
    PlaylistItem,
    PluginContext,
    PostingType,
    Price,
    Rest,
    RoomSnapshot,
    command,
    endpoint,
    hookimpl,
    inserted_id,
    shown,
    user_key,
)

from . import blackout, tables
from .catalogue import (
    MAX_QUERY_CHARS,
    CatalogueUnavailable,
    MediaCms,
    MediaItem,
    NotConfigured,
    valid_token,
)
from .config import MediaQueueConfig
from .settlement import (
    COMPENSATION,
    COUNTER,
    FORCE_APPROVAL,
    NOW_PLAYING,
    POSITION,
    PURCHASE,
    QUEUE_ANNOUNCEMENT,
    WORDING,
    Settlement,
)

ALLOWANCE = "queue"
"""The daily allowance (``ctx.pricing.allowance``) of purchases; the ranks perk adds to it."""
PICK_WORDS = tuple(str(n) for n in range(100))
"""Bare numbers: picking from a search list. With no list they get a clear answer."""

UNAVAILABLE = "📡 The media catalogue is unavailable right now. Nothing was charged; try again " \
              "in a few minutes."
NOT_CONFIGURED = "🎬 Media queueing is not configured here."


class Refused(Exception):
    """A purchase refused before or inside its transaction; the text is the reply."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class MediaQueue:
    """The plugin; see the module docstring."""

    name = "media_queue"
    Config = MediaQueueConfig
    schema = tables.schema
    contract = Contract(
        personal_data=("media bought (title, id, price, outcome)",),
        user_tables=tables.PERSONAL,
        posting_types=(PostingType(PURCHASE, "media queue purchase", Kind.SPEND),
                       PostingType(COMPENSATION, "media queue refund", Kind.CORRECTION)),
        counters=(Counter(COUNTER, "items queued"),),
        announcements=(
            Announcement(QUEUE_ANNOUNCEMENT, "someone bought a place in the playlist",
                         "queued items"),
            Announcement(NOW_PLAYING, "a bought item starts playing", "now playing"),
        ),
    )

    def __init__(self, ctx: PluginContext[MediaQueueConfig]) -> None:
        self.ctx = ctx
        self.catalogue = MediaCms(lambda: self.ctx.config.mediacms, now=ctx.clock.now,
                                  sleep=ctx.clock.sleep, log=ctx.log)
        self.settlement = Settlement(ctx)
        ctx.approvals.register(FORCE_APPROVAL, label="force-play",
                               deliver=self.settlement.approved,
                               on_reject=self.settlement.rejected)
        self._catalogue_errors = ctx.metrics.counter(
            "catalogue_errors_total", "MediaCMS requests that failed after every try")

    @property
    def cfg(self) -> MediaQueueConfig:
        return self.ctx.config

    # -- life cycle -----------------------------------------------------------------------------

    @hookimpl
    async def economy_startup(self) -> None:
        await self.settlement.start()

    @hookimpl
    async def economy_settle(self) -> None:
        await self.settlement.drain()

    @hookimpl
    async def economy_shutdown(self) -> None:
        self.settlement.stopping = True
        await self.settlement.drain()
        await self.catalogue.close()

    @hookimpl
    async def economy_room_seeded(self, snapshot: RoomSnapshot) -> None:
        """The robot's state was read: purchases a previous process sent are decided now."""
        await self.settlement.room_seeded(snapshot.channel)

    @hookimpl
    def economy_config_reloaded(self) -> None:
        self.catalogue.clear_cache()

    # -- prices, limits, windows ----------------------------------------------------------------

    def base_price(self, kind: str, item: MediaItem) -> int:
        cfg = self.cfg
        if kind == "playnext":
            return cfg.interrupt_play_next
        if kind == "forcenow":
            return cfg.force_play_now
        for tier in cfg.queue_tiers:
            if item.minutes <= tier.max_minutes:
                return tier.cost
        return cfg.queue_tiers[-1].cost

    async def price(self, channel: str, username: str, kind: str, item: MediaItem) -> Price:
        return await self.ctx.pricing.quote(channel, username, f"media_queue.{kind}",
                                            self.base_price(kind, item))

    def _price_text(self, price: Price) -> str:
        fmt = self.ctx.format_amount
        if price.amount < price.base:
            return (f"{fmt(price.amount)} (was {fmt(price.base)}, "
                    f"−{price.discount_percent:.0f}%)")
        return fmt(price.amount)

    def _now_local(self) -> datetime:
        return self.ctx.clock.now().astimezone(self.ctx.tz)

    def _when(self, moment: datetime) -> str:
        return moment.strftime("%a %H:%M")

    def closed_by(self) -> blackout.Occurrence | None:
        return blackout.closing(self.cfg.blackout_windows, self._now_local(),
                                timedelta(minutes=self.cfg.blackout_notice_minutes))

    def _blackout_text(self, occ: blackout.Occurrence) -> str:
        now = self._now_local()
        factor = f" (×{occ.multiplier:g} earnings)" if occ.multiplier != 1 else ""
        if occ.active(now):
            return (f"🚫 Queueing is closed during {occ.name}{factor} until "
                    f"{self._when(occ.end)} (started {self._when(occ.start)}). Nothing was "
                    "charged.")
        return (f"🚫 Queueing is closed: {occ.name}{factor} starts at {self._when(occ.start)} "
                f"and runs until {self._when(occ.end)}. Nothing was charged.")

    async def _limits(self, channel: str, username: str) -> str | None:
        """Why the user may not buy now (daily limit, cooldown, a purchase in flight)."""
        if (channel, user_key(username)) in self.settlement.inflight:
            return ("⏳ Your previous purchase is still waiting for the room's answer; try again "
                    "in a moment. Nothing was charged.")
        allowed = await self.ctx.pricing.allowance(channel, username, ALLOWANCE,
                                                   self.cfg.max_queues_per_day)
        used = (await self.ctx.ledger.daily(channel, username,
                                            self.ctx.clock.local_date(self.ctx.ledger.tz))
                ).get(COUNTER, 0)
        if used >= allowed:
            return (f"📅 You have used your {allowed} queue{'s' if allowed != 1 else ''} for "
                    "today. Nothing was charged.")
        minutes = self.cfg.queue_cooldown_minutes
        if minutes > 0:
            last = await self._last_purchase(channel, username)
            if last is not None:
                left = (last + timedelta(minutes=minutes) - self.ctx.clock.now()).total_seconds()
                if left > 0:
                    wait = math.ceil(left / 60)
                    return (f"⌛ Cooldown: you can queue again in {wait} minute"
                            f"{'s' if wait != 1 else ''}. Nothing was charged.")
        return None

    async def _last_purchase(self, channel: str, username: str) -> datetime | None:
        p = tables.purchases
        async with self.ctx.db.connect() as conn:
            found = await conn.scalar(sa.select(sa.func.max(p.c.settled_at)).where(
                p.c.channel == channel, p.c.user_key == user_key(username),
                p.c.status.in_(("queued", "played"))))
        return found if isinstance(found, datetime) else None

    async def _gate(self, call: CommandCall, kind: str) -> str | None:
        """What refuses a media command before anything else: not configured, a blackout."""
        if not self.catalogue.configured:
            return NOT_CONFIGURED
        if kind != "forcenow":
            occ = self.closed_by()
            if occ is not None:
                return self._blackout_text(occ)
        return None

    # -- commands -------------------------------------------------------------------------------

    @command("search", help="Find something to queue: search <words>")
    async def search(self, call: CommandCall, words: Rest) -> str | Ask:
        refusal = await self._gate(call, "queue")
        if refusal:
            return refusal
        query = " ".join(str(words).split())
        if len(query) > MAX_QUERY_CHARS:
            return (f"🔎 That search is too long ({len(query):,} characters; at most "
                    f"{MAX_QUERY_CHARS}).")
        try:
            items = await self.catalogue.search(query)
        except CatalogueUnavailable:
            self._catalogue_errors.inc({"call": "search"})
            return UNAVAILABLE
        except NotConfigured:
            return NOT_CONFIGURED
        if not items:
            return f"🔎 Nothing found for {shown(query)}."
        lines = [f"🔎 {len(items)} result{'s' if len(items) != 1 else ''} for {shown(query)}:"]
        for n, item in enumerate(items, 1):
            price = await self.price(call.channel, call.username, "queue", item)
            lines.append(f"{n}. {item.title} [{item.runtime}] id {item.token} — "
                         f"{self._price_text(price)}")
        lines.append(f"Reply with a number (1–{len(items)}) to pick one.")

        async def picked(pick: CommandCall, text: str) -> str | Ask:
            number = int(text.strip())
            if not 1 <= number <= len(items):
                return Ask(f"Enter 1–{len(items)} (or any command to drop the list).", picked,
                           accepts=_is_number,
                           timeout_seconds=self.cfg.confirm_timeout_seconds)
            return await self._offer(pick, "queue", items[number - 1].token)

        return Ask("\n".join(lines), picked, accepts=_is_number,
                   timeout_seconds=self.cfg.confirm_timeout_seconds)

    @command("pick", aliases=PICK_WORDS, help="Pick a search result by its number",
             listed=lambda _plugin: False)
    async def pick(self, call: CommandCall) -> str:
        return "There is no list to pick from: `search <words>` first."

    @command("yes", help="Confirm a purchase", listed=lambda _plugin: False)
    async def yes(self, call: CommandCall) -> str:
        return "There is nothing to confirm right now. Nothing was charged."

    @command("queue", help="Buy a place at the end of the playlist: queue <id>")
    async def queue(self, call: CommandCall, id: str | None = None) -> str | Ask:
        return await self._direct(call, "queue", id)

    @command("playnext", help="Buy the next place in the playlist: playnext <id>")
    async def playnext(self, call: CommandCall, id: str | None = None) -> str | Ask:
        return await self._direct(call, "playnext", id)

    @command("forcenow", help="Force an item in next (admin-approved): forcenow <id>")
    async def forcenow(self, call: CommandCall, id: str | None = None) -> str | Ask:
        return await self._direct(call, "forcenow", id)

    async def _direct(self, call: CommandCall, kind: str, token: str | None) -> str | Ask:
        if not token:
            return (f"Usage: {kind} <id> — the id is shown by `search <words>`. Nothing was "
                    "charged.")
        if not valid_token(token):
            return (f"🎬 {shown(token)} is not a catalogue id (letters, digits, _ and - only). "
                    "Nothing was charged.")
        return await self._offer(call, kind, token)

    async def _lookup(self, token: str) -> MediaItem | str:
        try:
            item = await self.catalogue.item(token)
        except CatalogueUnavailable:
            self._catalogue_errors.inc({"call": "item"})
            return UNAVAILABLE
        except NotConfigured:
            return NOT_CONFIGURED
        if item is None:
            return f"🎬 {shown(token)} is not in the catalogue. Nothing was charged."
        return item

    async def _offer(self, call: CommandCall, kind: str, token: str) -> str | Ask:
        """Every check, then the confirmation question."""
        refusal = await self._gate(call, kind) or await self._limits(call.channel,
                                                                     call.username)
        if not refusal and kind == "forcenow" and self.cfg.force_play_requires_admin \
                and not call.is_admin:
            refusal = await self._waiting_approval(call.channel, call.username)
        if refusal:
            return refusal
        found = await self._lookup(token)
        if isinstance(found, str):
            return found
        item = found
        price = await self.price(call.channel, call.username, kind, item)
        balance = await self.ctx.ledger.balance(call.channel, call.username)
        fmt = self.ctx.format_amount
        if balance < price.amount:
            return (f"Not enough coins: {item.title} costs {self._price_text(price)}, you have "
                    f"{fmt(balance)}. Nothing was charged.")
        discount = f", discount {price.discount_percent:.0f}%" if price.amount < price.base else ""
        extra = ""
        if kind == "forcenow" and self.cfg.force_play_requires_admin and not call.is_admin:
            extra = " An admin must approve it (refunded in full if not)."
        text = (f"🎬 {WORDING[kind].capitalize()} “{item.title}” [{item.runtime}] for "
                f"{fmt(price.amount)}{discount}?{extra} Reply YES to buy; anything else "
                "cancels.")

        async def confirmed(yes: CommandCall, _text: str) -> str:
            return await self.buy(yes.channel, yes.username, kind, item.token,
                                  shown_price=price.amount, is_admin=yes.is_admin)

        return Ask.confirm(text, confirmed, timeout_seconds=self.cfg.confirm_timeout_seconds,
                           cancelled="Cancelled. Nothing was charged.")

    @command("status", aliases=("eventstatus",),
             help="Is media queueing open, and the next blackout window")
    async def status(self, call: CommandCall) -> str:
        if not self.catalogue.configured:
            return NOT_CONFIGURED
        now = self._now_local()
        windows = self.cfg.blackout_windows
        active = blackout.current(windows, now)
        nxt = blackout.upcoming(windows, now)
        lines = []
        if active is not None:
            lines.append(f"🚫 Queueing is closed: {active.name} runs until "
                         f"{self._when(active.end)} (×{active.multiplier:g}).")
        else:
            occ = self.closed_by()
            if occ is not None:
                lines.append(f"🚫 Queueing is closed: {occ.name} starts at "
                             f"{self._when(occ.start)}.")
            else:
                lines.append("✅ Queueing is open.")
        if nxt is not None:
            lines.append(f"Next window: {nxt.name}, {self._when(nxt.start)}–"
                         f"{self._when(nxt.end)} (×{nxt.multiplier:g}). See `events`.")
        else:
            lines.append("No blackout windows are scheduled.")
        return "\n".join(lines)

    # -- buying ---------------------------------------------------------------------------------

    async def buy(self, channel: str, username: str, kind: str, token: str, *,
                  shown_price: int | None = None, is_admin: bool = False) -> str:
        """YES: re-check, hold the price and send the item in the background (the user is
        told when the room answers)."""
        try:
            purchase = await self._hold(channel, username, kind, token,
                                        shown_price=shown_price, is_admin=is_admin)
        except Refused as refused:
            return refused.text
        fmt = self.ctx.format_amount
        if purchase["status"] == "approval":
            number = purchase["approval_id"]
            self._tell_admins(channel, f"🎬 {username} asks to force-play “{purchase['title']}”"
                                       f" (approval #{number}): approve {number} or reject "
                                       f"{number}")
            return (f"🎬 Force-play request #{number} sent to the admins: "
                    f"{fmt(purchase['cost'])} held, refunded in full if it is not approved. "
                    f"Balance: {fmt(purchase['balance'])}.")
        who = (channel, user_key(username))
        self.settlement.inflight.add(who)
        self.settlement.spawn(self.settlement.send(purchase["id"], who),
                              f"send-{purchase['id']}")
        return (f"⏳ {fmt(purchase['cost'])} held for “{purchase['title']}”; asking the room to "
                f"{WORDING[kind]} it… You'll get a PM when it is in (refunded if not).")

    async def _hold(self, channel: str, username: str, kind: str, token: str, *,
                    shown_price: int | None = None, request_id: str | None = None,
                    is_admin: bool = False) -> dict[str, Any]:
        """Re-check everything, then ONE transaction: escrow + purchase row (see the module
        docstring). Raises :class:`Refused` with the reply."""
        if not self.catalogue.configured:
            raise Refused(NOT_CONFIGURED)
        if kind != "forcenow":
            occ = self.closed_by()
            if occ is not None:
                raise Refused(self._blackout_text(occ))
        limit = await self._limits(channel, username)
        if limit:
            raise Refused(limit)
        found = await self._lookup(token)
        if isinstance(found, str):
            raise Refused(found)
        item = found
        entry = self.catalogue.playlist_entry(item)
        if entry is None:
            raise Refused(f"🎬 “{item.title}” has no playable file. Nothing was charged.")
        if isinstance(await self.settlement.find(channel, *entry), PlaylistItem):
            raise Refused(f"🎬 “{item.title}” is already on the playlist. Nothing was charged.")
        price = await self.price(channel, username, kind, item)
        if shown_price is not None and price.amount > shown_price:
            raise Refused(f"💱 The price changed to {self._price_text(price)}; ask again. "
                          "Nothing was charged.")
        fmt = self.ctx.format_amount
        too_poor = (f"Not enough coins: “{item.title}” costs {self._price_text(price)}. Nothing "
                    "was charged.")
        if kind == "forcenow" and self.cfg.force_play_requires_admin and not is_admin:
            return await self._hold_for_approval(channel, username, item, entry, price,
                                                 too_poor)
        media_type, media_id = entry
        p = tables.purchases
        key = f"media_queue:{request_id}" if request_id else None

        async def run(tx: LedgerTx) -> dict[str, Any]:
            held = await tx.escrow(channel, username, price.amount, purpose=f"spend.{kind}",
                                   type=PURCHASE, kind=Kind.SPEND,
                                   reason=f"{WORDING[kind]}: {item.title}"[:200],
                                   metadata={"token": item.token, "base": price.base},
                                   key=key)
            if not held.ok:
                raise Refused(f"{too_poor} Balance: {fmt(held.balance)}.")
            if held.replayed:
                raise _Replayed(held.escrow_id)
            result = await tx.conn.execute(p.insert().values(
                channel=channel, username=username, user_key=user_key(username), kind=kind,
                token=item.token, title=item.title[:300], duration_s=item.duration_s,
                media_type=media_type, media_id=media_id, position=POSITION[kind],
                cost=price.amount, escrow_id=held.escrow_id, approval_id=None,
                request_key=key, status="pending", uid=None, note="", created_at=tx.now,
                settled_at=None))
            return {"id": inserted_id(result), "status": "pending", "title": item.title,
                    "cost": price.amount, "balance": held.balance,
                    "escrow_id": held.escrow_id}

        return await self.ctx.ledger.atomic(run)

    async def _waiting_approval(self, channel: str, username: str) -> str | None:
        waiting = await self.ctx.approvals.pending(channel, kind=FORCE_APPROVAL,
                                                   requester=username)
        if waiting:
            return (f"🎬 Your force-play #{waiting[0].id} is still waiting for an admin; ask "
                    "again once it is decided. Nothing was charged.")
        return None

    async def _hold_for_approval(self, channel: str, username: str, item: MediaItem,
                                 entry: tuple[str, str], price: Price,
                                 too_poor: str) -> dict[str, Any]:
        media_type, media_id = entry
        waiting = await self._waiting_approval(channel, username)
        if waiting:
            raise Refused(waiting)
        done = await self.ctx.approvals.request(
            channel, username, FORCE_APPROVAL, price.amount,
            summary=f"force-play “{item.title}” [{item.runtime}] now",
            data={"token": item.token, "title": item.title, "duration_s": item.duration_s,
                  "media_type": media_type, "media_id": media_id},
            posting_type=PURCHASE, reason=f"force-play: {item.title}"[:200])
        if not done.ok or done.approval is None:
            raise Refused(f"{too_poor} Balance: {self.ctx.format_amount(done.balance)}.")
        return {"status": "approval", "approval_id": done.approval.id, "title": item.title,
                "cost": price.amount, "balance": done.balance}

    def _tell_admins(self, channel: str, text: str) -> None:
        level = self.ctx.core.admin.owner_level
        for user in self.ctx.rooms[channel].present():
            if user.rank >= level:
                self.ctx.outbox.notify(channel, user.username, text, transactional=True)

    # -- now playing ----------------------------------------------------------------------------

    @hookimpl
    async def economy_media_changed(self, event: MediaChanged) -> None:
        """A bought item starts: credit its buyer in public, once (the row is claimed
        ``queued`` → ``played`` in a transaction; nothing is written for other items)."""
        if not event.media_id:
            return
        p = tables.purchases
        since = event.at - timedelta(days=2)
        async with self.ctx.db.connect() as conn:
            row = (await conn.execute(sa.select(p).where(
                p.c.channel == event.channel, p.c.status == "queued",
                p.c.media_id == event.media_id, p.c.created_at >= since)
                .order_by(p.c.id))).first()
        if row is None:
            return

        async def claim(tx: LedgerTx) -> bool:
            done = await tx.conn.execute(p.update().where(p.c.id == row.id,
                                                          p.c.status == "queued")
                                         .values(status="played"))
            return bool(done.rowcount == 1)

        if await self.ctx.ledger.atomic(claim):
            await self.ctx.announcer.announce(
                event.channel, NOW_PLAYING, self.cfg.now_playing_template, people=("user",),
                title=row.title, user=row.username)

    # -- the endpoint ---------------------------------------------------------------------------

    @endpoint("spend.queue", help="Buy a place in the playlist for a user: username, id "
                                  "(catalogue id), position \"end\" or \"next\"; request_id makes "
                                  "a retry move nothing and return the first answer")
    async def spend_queue(self, request: ApiRequest) -> dict[str, Any]:
        username = request.user()
        token = request.args.get("id")
        position = request.args.get("position", "end")
        if not isinstance(token, str) or not valid_token(token):
            raise ApiError("id must be a catalogue id (letters, digits, _ and -)")
        if position not in ("end", "next"):
            raise ApiError("position must be \"end\" or \"next\"")
        kind = "queue" if position == "end" else "playnext"
        if self.ctx.identity.is_banned(request.channel, username):
            raise ApiError(f"{username}'s economy access is suspended")
        key = f"media_queue:{request.request_id}" if request.request_id else None
        if key is not None:
            done = await self._by_request(key)
            if done is not None:
                return {**done, "replayed": True}
        try:
            purchase = await self._hold(request.channel, username, kind, token,
                                        request_id=request.request_id)
        except Refused as refused:
            raise ApiError(refused.text) from None
        except _Replayed as replayed:  # a concurrent retry held it first
            done = await self._by_escrow(replayed.escrow_id)
            if done is None:
                raise ApiError("the first request with this request_id is still running") \
                    from None
            return {**done, "replayed": True}
        who = (request.channel, user_key(username))
        self.settlement.inflight.add(who)
        await self.settlement.send(purchase["id"], who)
        done = await self._by_escrow(purchase.get("escrow_id", -1))
        if done is None:
            raise ApiError("the purchase was not recorded")
        return {**done, "replayed": False}

    async def _by_request(self, key: str) -> dict[str, Any] | None:
        p = tables.purchases
        return await self._answer(sa.select(p).where(p.c.request_key == key))

    async def _by_escrow(self, escrow_id: int) -> dict[str, Any] | None:
        p = tables.purchases
        return await self._answer(sa.select(p).where(p.c.escrow_id == escrow_id,
                                                     p.c.approval_id.is_(None)))

    async def _answer(self, stmt: Any) -> dict[str, Any] | None:
        """A purchase row as the endpoint answers it."""
        async with self.ctx.db.connect() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            return None
        balance = await self.ctx.ledger.balance(row.channel, row.username)
        return {"status": row.status if row.status != "played" else "queued",
                "title": row.title, "cost": row.cost, "balance": balance, "note": row.note,
                "uid": row.uid, "purchase_id": row.id}


class _Replayed(Exception):
    """The escrow's idempotency key was seen before: nothing was held this time."""

    def __init__(self, escrow_id: int) -> None:
        super().__init__(escrow_id)
        self.escrow_id = escrow_id


def _is_number(text: str) -> bool:
    word = text.strip()
    return word.isascii() and word.isdigit() and len(word) <= 6


__all__: Sequence[str] = ("MediaQueue",)
