"""The vanity shop (SPEC §3.8): things to spend coins on that change how you appear.

Commands: ``shop`` (every enabled item with the price this user pays — "was X" when a discount
applies — its syntax and description, then what they own), ``buy <item> …``, ``shoutout
<message>`` (= ``buy shoutout``), ``fortune`` (= ``buy fortune``), and for admins
``approve_gif @user`` / ``reject_gif @user [reason]`` (the user's oldest GIF waiting for
approval). Items: ``greeting <text>`` (posted on arrival), ``title <text>`` (``name [title]`` in
every announcement, through the core's ``economy_display_name`` hook), ``color <palette name |
#hex>`` (a hex colour must pass the APCA contrast guard, :mod:`.contrast`), ``gif <http(s) url>``
(charged now, held in the core's approvals until an admin decides, refunded in full if not
approved), ``shoutout <message>`` (a public ``📢`` line, cooldown checked before charging),
``fortune`` (once a day; free once a day with the ``free_fortune`` allowance, a rank perk),
``rename <name>`` (the user's own currency name, shown in ``balance`` and ``profile``).

Rules for every purchase: the price is ``ctx.pricing.quote(channel, user,
"vanity_shop.<item>", cost)`` (the same quote every front-end uses); every check (enabled,
syntax, length, HTML, contrast, cooldown, once a day) happens before anything is charged, so a
refusal moves nothing; the charge (type ``vanity``, trigger ``spend.vanity.<item>``) and the item
are written in ONE ledger transaction (a rebuy replaces the item). An item the shop does not sell
is offered to the other plugins through the ``economy_purchase`` hook it publishes (the ranks
plugin sells ``cytube2``/``level2`` that way); nobody answering → "not available".

Endpoints: ``vanity.list`` (every enabled item: word, syntax, description, base price, and with
``username`` the price that user pays) and ``vanity.get`` (``username`` → what they own).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import attrs
import pluggy
import sqlalchemy as sa

from economy_core import (
    Announcement,
    ApiRequest,
    Approval,
    CommandCall,
    Contract,
    Kind,
    LedgerTx,
    PluginConnection,
    PluginContext,
    PostingType,
    Price,
    ProfileField,
    Rest,
    UserArrived,
    Username,
    command,
    endpoint,
    hookimpl,
    shown,
    user_key,
)

from . import hookspecs as shop_hooks
from . import inputs, store, tables
from .config import VanityShopConfig
from .contrast import judge, parse_hex, to_hex
from .greetings import Greeter

LEGACY_ITEMS = {"custom_greeting": "greeting", "custom_title": "title",
                "chat_color": "color", "channel_gif": "gif",
                "personal_currency_name": "rename"}
"""kryten-economy's vanity item types → the shop's items."""
LEGACY_ACCOUNT_ITEMS = {"custom_greeting": "greeting", "custom_title": "title",
                        "chat_color": "color", "channel_gif_url": "gif",
                        "personal_currency_name": "rename"}
"""kryten-economy's account columns holding the same items."""

POSTING_TYPE = "vanity"
GIF_APPROVAL = "channel_gif"
GREETING = "custom_greeting"
SHOUTOUT = "shoutout"
FREE_FORTUNE = "free_fortune"
"""The daily allowance (``ctx.pricing.allowance``) of free fortunes; 0 unless a plugin adds."""
SHOWN_CHARS = 30
"""Owned values are shown (and a purchase echoed) up to this many characters."""


@attrs.frozen
class Item:
    """One thing the shop sells: its config table, how users read it, how they type it."""

    word: str
    section: str
    label: str
    syntax: str


ITEMS = {
    "greeting": Item("greeting", "custom_greeting", "greeting", "buy greeting <text>"),
    "title": Item("title", "custom_title", "title", "buy title <text>"),
    "color": Item("color", "chat_color", "chat colour", "buy color <name or #hex>"),
    "gif": Item("gif", "channel_gif", "channel GIF", "buy gif <http(s) link>"),
    "shoutout": Item("shoutout", "shoutout", "shoutout", "shoutout <message>"),
    "fortune": Item("fortune", "daily_fortune", "fortune", "fortune"),
    "rename": Item("rename", "rename_currency_personal", "currency name", "buy rename <name>"),
}
ALIASES = {"colour": "color", "currency": "rename"}
BUY_USAGE = "Usage: buy <item> [what] · PM 'shop' for the items and prices"


class Refused(Exception):
    """A purchase refused inside its transaction (everything rolls back); the text is the
    reply."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def fortune_of(fortunes: list[str], username: str, day: date) -> str:
    """The user's fortune on ``day``: chosen by a hash of their name and the date."""
    digest = hashlib.sha256(f"{user_key(username)}|{day.isoformat()}".encode()).digest()
    return fortunes[int.from_bytes(digest[:8], "big") % len(fortunes)]


def short(value: str) -> str:
    """An owned value as the shop lists it (at most :data:`SHOWN_CHARS` characters)."""
    return value if len(value) <= SHOWN_CHARS else value[:SHOWN_CHARS - 1] + "…"


class VanityShop:
    """The shop; see the module docstring."""

    name = "vanity_shop"
    Config = VanityShopConfig
    schema = tables.schema
    contract = Contract(
        personal_data=("items bought (greeting, title, colour, GIF, currency name)",
                       "last shoutout", "fortunes read"),
        user_tables=tables.PERSONAL,
        posting_types=(PostingType(POSTING_TYPE, "shop purchase", Kind.SPEND),),
        announcements=(
            Announcement(GREETING, "a custom greeting when its owner arrives", "greetings"),
            Announcement(SHOUTOUT, "a paid shoutout", "shoutouts"),
        ),
    )

    @staticmethod
    @hookimpl
    def economy_addhooks(pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(shop_hooks)

    @hookimpl
    async def economy_prune_veto(self, channel: str, user_key: str, username: str,
                                 inactive_since: datetime) -> str | None:
        """``prune``: an account that owns items is kept (SPEC §6: vanity-free only)."""
        t = tables.items
        async with self.ctx.db.connect() as conn:
            owned = await conn.scalar(sa.select(sa.func.count()).select_from(t).where(
                t.c.channel == channel, t.c.user_key == user_key))
        return f"owns {owned} vanity item(s)" if owned else None

    @hookimpl
    async def economy_import_legacy(self, channel: str, source: Any, users: Mapping[str, str],
                                    now: datetime, conn: PluginConnection) -> list[str]:
        """kryten-economy's active vanity items (and the same items kept on its accounts) →
        owned items, price 0 (paid there). A GIF not approved there is not imported."""
        tables_there = {r[0] for r in source.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        owned: dict[tuple[str, str], tuple[str, str, datetime]] = {}
        columns = {r[1] for r in source.execute("PRAGMA table_info(accounts)")}
        for row in source.execute("SELECT * FROM accounts WHERE channel = ?", (channel,)):
            for column, item in LEGACY_ACCOUNT_ITEMS.items():
                if column in columns and row[column] and row["username"] in users:
                    if item == "gif" and not row["channel_gif_approved"]:
                        continue
                    owned[(row["username"], item)] = (row["username"], str(row[column]), now)
        if "vanity_items" in tables_there:
            for row in source.execute("SELECT * FROM vanity_items WHERE channel = ? AND "
                                      "active = 1 ORDER BY id", (channel,)):
                found = LEGACY_ITEMS.get(row["item_type"])
                if found is None or row["username"] not in users or not row["value"]:
                    continue
                owned[(row["username"], found)] = (row["username"], str(row["value"]), now)
        for name, item in sorted(owned):
            username, value, at = owned[(name, item)]
            await store.put(conn, channel, username, item, value, 0, at)
        return [f"{len(owned)} item(s)"]

    def __init__(self, ctx: PluginContext[VanityShopConfig]) -> None:
        self.ctx = ctx
        self.owned = store.Owned(ctx)
        self.greeter = Greeter(ctx, self._post_greetings)
        ctx.approvals.register(GIF_APPROVAL, label="channel GIF", deliver=self._deliver_gif)
        self._purchases = ctx.metrics.counter("purchases_total", "Shop purchases, by item")

    @property
    def cfg(self) -> VanityShopConfig:
        return self.ctx.config

    def _item_config(self, item: Item) -> Any:
        return getattr(self.cfg, item.section)

    # -- life cycle and hooks -------------------------------------------------------------------

    @hookimpl
    async def economy_startup(self) -> None:
        await self.owned.load()

    @hookimpl
    async def economy_shutdown(self) -> None:
        await self.greeter.flush_all()

    @hookimpl
    def economy_display_name(self, channel: str, username: str) -> str | None:
        """``alice [Night Owl]`` for a user who owns a title."""
        title = self.owned.get(channel, username, "title")
        return f"{username} [{title}]" if title else None

    @hookimpl
    async def economy_profile_fields(self, channel: str, username: str) -> list[ProfileField]:
        found = await self.owned.everything(channel, username)
        fields = []
        if "title" in found:
            fields.append(ProfileField("title", "Title", found["title"], 20))
        if "rename" in found:  # the wallet's balance shows it too (well-known key "currency")
            fields.append(ProfileField("currency", "Currency", found["rename"], 21))
        if "color" in found:
            fields.append(ProfileField("color", "Chat colour", found["color"], 22))
        if "gif" in found:
            fields.append(ProfileField("gif", "Channel GIF", found["gif"], 23))
        return fields

    @hookimpl(optionalhook=True)
    async def economy_user_arrived(self, arrival: UserArrived) -> None:
        """Queue the arriving user's greeting (see :mod:`.greetings`)."""
        cfg = self.cfg
        if not arrival.genuine or not cfg.custom_greeting.enabled:
            return
        if (arrival.absence is not None
                and arrival.absence < timedelta(minutes=cfg.greeting_absence_minutes)):
            return
        greeting = self.owned.get(arrival.channel, arrival.username, "greeting")
        if greeting and not self.ctx.identity.is_banned(arrival.channel, arrival.username):
            self.greeter.queue(arrival.channel, greeting)

    async def _post_greetings(self, channel: str, greetings: str) -> None:
        await self.ctx.announcer.announce(channel, GREETING, self.cfg.greeting_template,
                                          greeting=greetings)

    # -- prices ---------------------------------------------------------------------------------

    async def _price(self, call: CommandCall, item: Item) -> Price:
        return await self.ctx.pricing.quote(call.channel, call.username,
                                            f"vanity_shop.{item.word}",
                                            self._item_config(item).cost)

    def _price_text(self, price: Price) -> str:
        fmt = self.ctx.format_amount
        if price.amount < price.base:
            return f"{fmt(price.amount)} (was {fmt(price.base)})"
        if price.amount > price.base:
            return f"{fmt(price.amount)} (base {fmt(price.base)})"
        return fmt(price.amount)

    def _too_poor(self, balance: int, price: Price) -> str:
        fmt = self.ctx.format_amount
        return (f"Not enough coins: it costs {self._price_text(price)}, you have "
                f"{fmt(balance)}. Nothing was charged.")

    def _off(self, item: Item) -> str:
        return f"Sorry, the {item.label} is not available here."

    # -- listing --------------------------------------------------------------------------------

    @command("shop", help="What the shop sells, at your price, and what you own")
    async def shop(self, call: CommandCall) -> str:
        fmt = self.ctx.format_amount
        balance = await self.ctx.ledger.balance(call.channel, call.username)
        lines = [f"🛍️ Shop · your balance {fmt(balance)}:"]
        for item in ITEMS.values():
            cfg = self._item_config(item)
            if not cfg.enabled or (item.word == "shoutout"
                                   and not self.ctx.announcer.enabled(SHOUTOUT)):
                continue
            price_text = self._price_text(await self._price(call, item))
            if item.word == "fortune" and await self._free_fortunes(call) > 0:
                price_text = "free today"
            lines.append(f"• {item.syntax} — {price_text}: {cfg.description}")
        others = await self.ctx.hooks.collect(shop_hooks.economy_shop_lines,
                                              channel=call.channel, username=call.username)
        lines += [f"• {line}" for line in others if isinstance(line, str) and line.strip()]
        if len(lines) == 1:
            return "🛍️ The shop is closed: nothing is for sale right now."
        mine = await self._owned_line(call.channel, call.username)
        lines.append(mine or "You own nothing from the shop yet.")
        return "\n".join(lines)

    async def _owned_line(self, channel: str, username: str) -> str:
        found = await self.owned.everything(channel, username)
        parts = [f"{ITEMS[i].label} “{short(found[i])}”" for i in
                 ("title", "greeting", "color", "gif", "rename") if i in found]
        waiting = await self.ctx.approvals.pending(channel, kind=GIF_APPROVAL,
                                                   requester=username)
        if waiting:
            parts.append(f"channel GIF waiting for approval (#{waiting[0].id})")
        return ("Yours: " + " · ".join(parts)) if parts else ""

    # -- endpoints ------------------------------------------------------------------------------

    @endpoint("vanity.list", help="The shop's enabled items (word, syntax, description, "
                                  "base price; with username, that user's price)")
    async def api_list(self, request: ApiRequest) -> dict[str, Any]:
        name = request.optional_user()
        items = []
        for item in ITEMS.values():
            cfg = self._item_config(item)
            if not cfg.enabled:
                continue
            entry: dict[str, Any] = {"item": item.word, "syntax": item.syntax,
                                     "description": cfg.description, "base_price": cfg.cost}
            if name is not None:
                price = await self.ctx.pricing.quote(request.channel, name,
                                                     f"vanity_shop.{item.word}", cfg.cost)
                entry["price"] = price.amount
            items.append(entry)
        return {"items": items}

    @endpoint("vanity.get", help="What a user owns from the shop: username → items")
    async def api_get(self, request: ApiRequest) -> dict[str, Any]:
        name = request.user()
        assert name is not None
        found = await self.owned.everything(request.channel, name)
        waiting = await self.ctx.approvals.pending(request.channel, kind=GIF_APPROVAL,
                                                   requester=name)
        return {"username": name, "items": dict(found),
                "gif_waiting_for_approval": [a.id for a in waiting]}

    # -- buying ---------------------------------------------------------------------------------

    @command("buy", help="Buy from the shop: buy <item> [what] (PM 'shop' for the list)")
    async def buy(self, call: CommandCall, item: str | None = None,
                  what: Rest | None = None) -> str:
        if not item:
            return BUY_USAGE
        word = item.casefold()
        word = ALIASES.get(word, word)
        found = ITEMS.get(word)
        text = str(what or "")
        if found is None:
            answer = await self.ctx.hooks.first(shop_hooks.economy_purchase,
                                                channel=call.channel, username=call.username,
                                                item=word, args=text)
            if isinstance(answer, str) and answer:
                return answer
            return (f"Sorry, {shown(item)} is not available here. PM 'shop' for what is for "
                    "sale.")
        if not self._item_config(found).enabled:
            return self._off(found)
        if word == "fortune":
            return await self._fortune(call)
        if word == "shoutout":
            return await self._shoutout(call, text)
        if not text.strip():
            return f"Usage: {found.syntax}"
        if word == "greeting":
            return await self._buy_text(call, found, text, self.cfg.custom_greeting.max_length)
        if word == "title":
            return await self._buy_text(call, found, text, self.cfg.custom_title.max_length)
        if word == "color":
            return await self._buy_colour(call, text)
        if word == "gif":
            return await self._buy_gif(call, text.strip())
        return await self._buy_rename(call, text)

    async def _buy_text(self, call: CommandCall, item: Item, raw: str, max_length: int) -> str:
        value = inputs.clean(raw)
        problem = inputs.text_problem(value, what=f"a {item.label}", max_length=max_length)
        if problem:
            return f"{problem} Nothing was charged."
        return await self._sell(call, item, value, f"“{short(value)}”")

    async def _buy_rename(self, call: CommandCall, raw: str) -> str:
        item = ITEMS["rename"]
        value = inputs.clean(raw)
        problem = inputs.rename_problem(value)
        if problem:
            return f"{problem} Nothing was charged."
        return await self._sell(call, item, value,
                                f"“{short(value)}” (shown in balance and profile)")

    async def _buy_colour(self, call: CommandCall, raw: str) -> str:
        item = ITEMS["color"]
        cfg = self.cfg.chat_color
        wanted = inputs.clean(raw)
        names = ", ".join(c.name for c in cfg.palette)
        named = {c.name.casefold(): c for c in cfg.palette}.get(wanted.casefold())
        if named is not None:
            value = named.hex.upper()
            return await self._sell(call, item, value, f"{named.name} ({value})")
        rgb = parse_hex(wanted)
        if rgb is None:
            return (f"🎨 No colour called {shown(wanted)}. Pick one of: {names} — or a hex "
                    "colour like #FFD700. Nothing was charged.")
        value = to_hex(rgb)
        note = ""
        background = parse_hex(cfg.contrast_bg)
        if cfg.enforce_contrast and background is not None:
            verdict = judge(rgb, background, min_lc=cfg.min_contrast_lc,
                            warn_lc=cfg.warn_contrast_lc)
            if verdict.outcome == "refused":
                return (f"🎨 {value} is {verdict.hint} to read on the chat background "
                        f"(contrast {verdict.score:.0f}, needs {cfg.min_contrast_lc:g}). "
                        f"Nothing was charged. Try another, or one of: {names}.")
            if verdict.outcome == "warn":
                note = (f" ⚠️ It may be hard to read ({verdict.hint}: contrast "
                        f"{verdict.score:.0f}).")
        return await self._sell(call, item, value, value, note)

    async def _sell(self, call: CommandCall, item: Item, value: str, what: str,
                    note: str = "") -> str:
        """Charge and store one item in one transaction; the reply."""
        price = await self._price(call, item)
        channel, username = call.channel, call.username

        async def run(tx: LedgerTx) -> int:
            paid = await tx.debit(channel, username, price.amount, type=POSTING_TYPE,
                                  kind=Kind.SPEND, trigger_id=f"spend.vanity.{item.word}",
                                  reason=item.label, metadata={"item": item.word,
                                                               "base": price.base})
            if not paid.ok:
                raise Refused(self._too_poor(paid.balance, price))
            await store.put(tx.conn, channel, username, item.word, value, price.amount, tx.now)
            return paid.balance

        try:
            balance = await self.ctx.ledger.atomic(run)
        except Refused as refused:
            return refused.text
        self.owned.remember(channel, username, item.word, value)
        self._purchases.inc({"item": item.word})
        return (f"✅ Your {item.label} is now {what}. −{self._price_text(price)}. "
                f"Balance: {self.ctx.format_amount(balance)}.{note}")

    # -- the channel GIF (held for an admin) ----------------------------------------------------

    async def _buy_gif(self, call: CommandCall, url: str) -> str:
        item = ITEMS["gif"]
        problem = inputs.url_problem(url)
        if problem:
            return f"🖼️ {problem} Nothing was charged."
        if not self.cfg.channel_gif.requires_admin_approval:
            return await self._sell(call, item, url, short(url))
        channel, username = call.channel, call.username
        waiting = await self.ctx.approvals.pending(channel, kind=GIF_APPROVAL,
                                                   requester=username)
        if waiting:
            return (f"🖼️ Your GIF #{waiting[0].id} is still waiting for an admin; ask again "
                    "once it is decided. Nothing was charged.")
        price = await self._price(call, item)
        done = await self.ctx.approvals.request(
            channel, username, GIF_APPROVAL, price.amount, summary=f"GIF {url}",
            data={"url": url}, posting_type=POSTING_TYPE, reason="channel GIF (awaiting approval)")
        if not done.ok or done.approval is None:
            return self._too_poor(done.balance, price)
        self._purchases.inc({"item": "gif"})
        approval = done.approval
        self._tell_admins(channel, f"🖼️ {username} asks for a channel GIF (#{approval.id}): "
                                   f"{url} · approve_gif @{username} or reject_gif @{username}")
        fmt = self.ctx.format_amount
        return (f"🖼️ GIF request #{approval.id} sent to the admins: {self._price_text(price)} "
                f"held, refunded in full if it is not approved. Balance: {fmt(done.balance)}.")

    def _tell_admins(self, channel: str, text: str) -> None:
        level = self.ctx.core.admin.owner_level
        for user in self.ctx.rooms[channel].present():
            if user.rank >= level:
                self.ctx.outbox.notify(channel, user.username, text)

    async def _deliver_gif(self, tx: LedgerTx, approval: Approval) -> None:
        """Approved (inside the approving transaction): the GIF becomes the user's."""
        url = str(approval.data.get("url", ""))
        await store.put(tx.conn, approval.channel, approval.requester, "gif", url,
                        approval.cost, tx.now)

    @command("approve_gif", help="Approve a user's oldest GIF waiting: approve_gif @user",
             admin=True)
    async def approve_gif(self, call: CommandCall, user: Username) -> str:
        return await self._decide_gif(call, str(user), True, "")

    @command("reject_gif", help="Reject a user's oldest GIF waiting (full refund): "
                                "reject_gif @user [reason]", admin=True)
    async def reject_gif(self, call: CommandCall, user: Username,
                         reason: Rest | None = None) -> str:
        return await self._decide_gif(call, str(user), False, str(reason or ""))

    async def _decide_gif(self, call: CommandCall, user: str, approve: bool, note: str) -> str:
        waiting = await self.ctx.approvals.pending(call.channel, kind=GIF_APPROVAL,
                                                   requester=user)
        if not waiting:
            return f"No GIF of {user} is waiting for approval."
        done = await self.ctx.approvals.resolve(waiting[0].id, approve=approve,
                                                by=call.username, note=note)
        if not done.ok or done.approval is None:
            return f"GIF #{waiting[0].id} was already decided (try 'approvals')."
        a = done.approval
        if approve:
            return f"✅ Approved {a.requester}'s GIF #{a.id}: {a.data.get('url', '')}"
        return (f"↩️ Rejected {a.requester}'s GIF #{a.id}: {self.ctx.format_amount(a.cost)} "
                "refunded, and they were told.")

    # -- shoutout -------------------------------------------------------------------------------

    @command("shoutout", help="Say something to the whole room: shoutout <message> (paid)")
    async def shoutout(self, call: CommandCall, message: Rest | None = None) -> str:
        return await self._shoutout(call, str(message or ""))

    async def _shoutout(self, call: CommandCall, raw: str) -> str:
        item = ITEMS["shoutout"]
        cfg = self.cfg.shoutout
        if not cfg.enabled or not self.ctx.announcer.enabled(SHOUTOUT):
            return self._off(item)
        message = inputs.clean(raw)
        if not message:
            return f"Usage: {item.syntax}"
        problem = inputs.text_problem(message, what="a shoutout", max_length=cfg.max_length)
        if problem:
            return f"{problem} Nothing was charged."
        channel, username = call.channel, call.username
        wait = await self._shoutout_wait(channel, username, None)
        if wait:
            return wait
        price = await self._price(call, item)
        template = self.cfg.shoutout_template

        async def run(tx: LedgerTx) -> int:
            left = await self._shoutout_wait(channel, username, tx)
            if left:
                raise Refused(left)
            paid = await tx.debit(channel, username, price.amount, type=POSTING_TYPE,
                                  kind=Kind.SPEND, trigger_id="spend.vanity.shoutout",
                                  reason="shoutout", metadata={"item": "shoutout",
                                                               "base": price.base})
            if not paid.ok:
                raise Refused(self._too_poor(paid.balance, price))
            s = tables.shoutouts
            key = user_key(username)
            await tx.conn.execute(s.delete().where(s.c.channel == channel, s.c.user_key == key))
            await tx.conn.execute(s.insert().values(channel=channel, user_key=key,
                                                    last_at=tx.now))
            # queued last, before the commit: a shoutout the announcer will not post (a
            # duplicate, a broken template) rolls the charge back
            if not await self.ctx.announcer.announce(channel, SHOUTOUT, template,
                                                     user=username, message=message):
                raise Refused("That shoutout could not be posted (the same line just went "
                              "out?). Nothing was charged.")
            return paid.balance

        try:
            balance = await self.ctx.ledger.atomic(run)
        except Refused as refused:
            return refused.text
        self._purchases.inc({"item": "shoutout"})
        return (f"📢 Shouted out! −{self._price_text(price)}. "
                f"Balance: {self.ctx.format_amount(balance)}.")

    async def _shoutout_wait(self, channel: str, username: str, tx: LedgerTx | None) -> str:
        """The refusal while the user's shoutout cooldown runs ("" when they may)."""
        minutes = self.cfg.shoutout.cooldown_minutes
        if minutes <= 0:
            return ""
        s = tables.shoutouts
        stmt = sa.select(s.c.last_at).where(s.c.channel == channel,
                                            s.c.user_key == user_key(username))
        if tx is not None:
            last = (await tx.conn.execute(stmt)).scalar_one_or_none()
        else:
            async with self.ctx.db.connect() as conn:
                last = (await conn.execute(stmt)).scalar_one_or_none()
        if last is None:
            return ""
        left = last + timedelta(minutes=minutes) - self.ctx.clock.now()
        if left <= timedelta(0):
            return ""
        wait = max(1, -(-int(left.total_seconds()) // 60))
        return f"⏳ Your next shoutout can go in {wait} min. Nothing was charged."

    # -- fortune --------------------------------------------------------------------------------

    @command("fortune", help="Today's fortune (once a day)")
    async def fortune(self, call: CommandCall) -> str:
        if not self.cfg.daily_fortune.enabled:
            return self._off(ITEMS["fortune"])
        return await self._fortune(call)

    async def _free_fortunes(self, call: CommandCall) -> int:
        return await self.ctx.pricing.allowance(call.channel, call.username, FREE_FORTUNE, 0)

    async def _fortune(self, call: CommandCall) -> str:
        cfg = self.cfg.daily_fortune
        channel, username = call.channel, call.username
        fortunes = list(cfg.fortunes)
        free = await self._free_fortunes(call) > 0
        price = None if free else await self._price(call, ITEMS["fortune"])
        f = tables.fortunes

        async def run(tx: LedgerTx) -> tuple[date, int | None]:
            key = user_key(username)
            had = (await tx.conn.execute(sa.select(f.c.day).where(
                f.c.channel == channel, f.c.user_key == key, f.c.day == tx.today))).first()
            if had is not None:
                raise Refused(f"🔮 You had today's fortune already: "
                              f"“{fortune_of(fortunes, username, tx.today)}” "
                              "Come back tomorrow.")
            balance = None
            if price is not None:
                paid = await tx.debit(channel, username, price.amount, type=POSTING_TYPE,
                                      kind=Kind.SPEND, trigger_id="spend.vanity.fortune",
                                      reason="fortune", metadata={"item": "fortune",
                                                                  "base": price.base})
                if not paid.ok:
                    raise Refused(self._too_poor(paid.balance, price))
                balance = paid.balance
            await tx.conn.execute(f.insert().values(channel=channel, user_key=key, day=tx.today,
                                                    price=0 if price is None else price.amount))
            return tx.today, balance

        try:
            day, balance = await self.ctx.ledger.atomic(run)
        except Refused as refused:
            return refused.text
        self._purchases.inc({"item": "fortune"})
        text = f"🔮 {fortune_of(fortunes, username, day)}"
        if price is None or balance is None:
            return f"{text} (free today: a perk of your rank)"
        return (f"{text} (−{self._price_text(price)}. "
                f"Balance: {self.ctx.format_amount(balance)})")
