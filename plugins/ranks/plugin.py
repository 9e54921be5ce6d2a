"""The ranks plugin: ranks by lifetime earnings, their perks as services, CyTube levels
(SPEC §3.10).

- **Rank check** after every committed earn-class posting (``economy_transaction_committed``,
  on the core's commit-observer task, batched: :mod:`.promote`); promote only; an admin's
  ``set_rank`` holds until earnings pass a higher tier (:mod:`.tiers`). A promotion is stored,
  the user notified with the new perks (a notification: quiet mode mutes it), one merged public
  line announced through the hourly gate (:mod:`.announce`), ``economy_rank_reached`` told,
  and the robot asked for a CyTube level the tier gives.
- **Perks as services**, answered from memory (:mod:`.store`) through the core's hooks, so no
  plugin needs to know ranks exists: ``economy_price_adjustments`` (the spend discount, stage
  "discount", named "rank discount"), ``economy_allowance_bonus`` (``queue``: extra queues a day;
  ``free_fortune``: free fortunes a day), ``economy_award_multiplier`` (the earn factor
  ``1 + earn_multiplier_per_rank × index`` on every activity earning — the core asks this hook
  only for those: presence pay, chat/content/social trigger hits, rain; fixed awards are paid
  without multipliers and never reach it — and the rain perk on earnings whose trigger id is in
  ``rain_triggers``). With the plugin disabled nobody answers: every price is the base price.
- **Commands:** ``rank [@user]``, admin ``set_rank @user <tier name>``, ``buy_level
  cytube2|level2`` (:mod:`.purchase`); ``profile`` gets the rank and perks (key ``rank``, so
  ``balance`` shows it), ``top ranks`` counts users per tier (the wallet's leaderboard hooks).
  The shop's ``buy`` reaches the purchase through ``economy_purchase`` and lists it through
  ``economy_shop_lines`` (hooks the shop publishes and calls for items it does not sell itself;
  implemented here as optional hooks).
- **Endpoints:** ``rank.get`` and ``rank.set`` (also as ``admin.set_rank``, for clients allowed
  ``admin.*``), the same rules as ``rank`` and ``set_rank``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pluggy

from economy_core import (
    ApiError,
    ApiRequest,
    AwardRequest,
    CommandCall,
    Contract,
    Kind,
    Multiplier,
    PluginConnection,
    PluginContext,
    Posting,
    PostingType,
    PriceAdjustment,
    PriceQuote,
    ProfileField,
    Rest,
    RoomSnapshot,
    UserJoined,
    Username,
    command,
    endpoint,
    hookimpl,
    user_key,
)

from . import announce, hookspecs, tables
from .config import RanksConfig
from .promote import Promoter, level_of
from .purchase import ITEMS, POSTING_TYPE, USAGE, LevelShop
from .store import Change, RankStore
from .tiers import (
    Perks,
    find_tier,
    next_promotion,
    perks_of,
    progress_bar,
    tier_of,
)


class Ranks:
    """See the module docstring."""

    name = "ranks"
    Config = RanksConfig
    schema = tables.schema
    contract = Contract(
        personal_data=("each user's rank and who set it", "CyTube levels bought"),
        user_tables=tables.PERSONAL,
        posting_types=(
        PostingType(POSTING_TYPE, "CyTube level bought", Kind.SPEND),
    ), announcements=(announce.ANNOUNCEMENT,))

    @staticmethod
    @hookimpl
    def economy_addhooks(pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(hookspecs)

    @hookimpl
    async def economy_import_legacy(self, channel: str, source: Any, users: Mapping[str, str],
                                    now: datetime, conn: PluginConnection) -> list[str]:
        """kryten-economy's rank name → the tier of that name. A rank above what the earnings
        reach is held as an admin's ``set_rank`` would be (``held``: the earned tier); a rank
        below them is promoted by the usual rule at the next check."""
        tiers, t = self.cfg.tiers, tables.users
        imported, unknown = 0, set()
        for row in source.execute("SELECT username, rank_name, lifetime_earned FROM accounts "
                                  "WHERE channel = ?", (channel,)):
            key = users.get(row["username"])
            if key is None or not row["rank_name"]:
                continue
            tier = find_tier(tiers, row["rank_name"])
            if tier is None:
                unknown.add(str(row["rank_name"]))
                continue
            earned = tier_of(tiers, max(0, int(row["lifetime_earned"] or 0)))
            if tier == 0:
                continue  # the default: nothing to store
            held = earned if tier > earned else None
            await conn.execute(t.insert().values(
                channel=channel, user_key=key, username=row["username"], tier=tier, held=held,
                set_by="kryten-economy" if held is not None else None, level_pending=0,
                updated_at=now))
            imported += 1
        lines = [f"{imported} rank(s)"]
        if unknown:
            lines.append(f"skipped ranks not configured here: {', '.join(sorted(unknown))}")
        return lines

    def __init__(self, ctx: PluginContext[RanksConfig]) -> None:
        self.ctx = ctx
        self.store = RankStore(ctx.db)
        self.promoter = Promoter(ctx, self.store)
        self.levels = LevelShop(ctx, self.store)
        self._perks: tuple[Any, list[Perks]] = (None, [])
        self._distribution = ctx.metrics.gauge(
            "distribution", "Accounts at each rank, by channel and rank")
        ctx.metrics.refresher(self.refresh_distribution)

    @property
    def cfg(self) -> RanksConfig:
        return self.ctx.config

    def perks(self, tier: int) -> Perks:
        """The effective perks of a tier index (cached per config)."""
        cfg = self.cfg
        if self._perks[0] is not cfg:
            self._perks = (cfg, [perks_of(cfg.tiers, i, cfg.spend_discount_per_rank)
                                 for i in range(len(cfg.tiers))])
        table = self._perks[1]
        return table[max(0, min(tier, len(table) - 1))]

    def _tier_of_user(self, channel: str, username: str) -> int:
        return min(self.store.tier(channel, username), len(self.cfg.tiers) - 1)

    async def refresh_distribution(self) -> None:
        """Set the rank distribution gauge (the core's metrics schedule): stored ranks from
        memory, every account without one at the first tier."""
        tiers = self.cfg.tiers
        for channel in self.ctx.channels:
            at = [0] * len(tiers)
            for tier, count in self.store.counts(channel).items():
                at[max(0, min(tier, len(tiers) - 1))] += count
            accounts = await self.ctx.ledger.account_count(channel)
            at[0] += max(0, accounts - sum(at))
            for rank, count in zip(tiers, at, strict=True):
                self._distribution.set({"channel": channel, "rank": rank.name}, count)

    # -- life cycle -----------------------------------------------------------------------------

    @hookimpl
    async def economy_startup(self) -> None:
        await self.store.load()
        await self.levels.refund_orphans()

    # -- the rank check -------------------------------------------------------------------------

    @hookimpl
    async def economy_transaction_committed(self, postings: Sequence[Posting]) -> None:
        for channel, users in self.promoter.observe(postings).items():
            await self.promoter.check(channel, users)

    @hookimpl
    async def economy_user_joined(self, event: UserJoined) -> None:
        await self.promoter.seen(event.channel, [(event.username, event.rank)])

    @hookimpl
    async def economy_room_seeded(self, snapshot: RoomSnapshot) -> None:
        await self.promoter.seen(snapshot.channel, [(u.username, u.rank) for u in snapshot.users])

    # -- perks as services ----------------------------------------------------------------------

    @hookimpl
    def economy_price_adjustments(self, quote: PriceQuote) -> PriceAdjustment | None:
        discount = self.perks(self._tier_of_user(quote.channel, quote.username)).discount
        if discount <= 0:
            return None
        return PriceAdjustment("rank discount", 1.0 - discount, stage="discount")

    @hookimpl
    def economy_allowance_bonus(self, channel: str, username: str, allowance: str) -> int | None:
        perks = self.perks(self._tier_of_user(channel, username))
        extra = {"queue": perks.extra_queues, "free_fortune": perks.free_fortunes}.get(allowance)
        return extra or None

    @hookimpl
    def economy_award_multiplier(self, award: AwardRequest) -> list[Multiplier] | None:
        cfg = self.cfg
        rain = award.trigger_id in cfg.rain_triggers
        if cfg.earn_multiplier_per_rank <= 0 and not rain:
            return None
        tier = self._tier_of_user(award.channel, award.username)
        out = []
        if cfg.earn_multiplier_per_rank > 0 and tier > 0:
            out.append(Multiplier("rank", 1.0 + cfg.earn_multiplier_per_rank * tier))
        if rain and (pct := self.perks(tier).rain_percent) > 0:
            out.append(Multiplier("rank rain perk", 1.0 + pct / 100.0))
        return out or None

    # -- what others ask ------------------------------------------------------------------------

    @hookimpl
    async def economy_profile_fields(self, channel: str, username: str) -> list[ProfileField]:
        tier = self._tier_of_user(channel, username)
        return [ProfileField("rank", "Rank", self.cfg.tiers[tier].name, 10),
                ProfileField("ranks.perks", "Perks", self.perks(tier).describe(), 11)]

    @hookimpl(optionalhook=True)
    async def economy_digest_values(self, channel: str, username: str,
                                    earned_yesterday: int) -> dict[str, str]:
        """For the user digest: the rank, the next rank and how many days away it is at
        yesterday's pace (max(1, remaining ÷ max(1, earned_yesterday)); "top rank" at the
        top)."""
        cfg = self.cfg
        standing = self.store.get(channel, user_key(username))
        tier = min(standing.tier, len(cfg.tiers) - 1)
        values = {"rank": cfg.tiers[tier].name}
        nxt = next_promotion(cfg.tiers, standing.tier, standing.held)
        if nxt is None:
            values.update(next_goal_description="top rank", days_away="—")
            return values
        account = await self.ctx.ledger.account(channel, username)
        lifetime = account.lifetime_earned if account is not None else 0
        remaining = max(0, cfg.tiers[nxt].min_lifetime_earned - lifetime)
        values["next_goal_description"] = (f"{cfg.tiers[nxt].name} "
                                           f"({self.ctx.format_amount(remaining)} to go)")
        values["days_away"] = str(max(1, -(-remaining // max(1, earned_yesterday))))
        return values

    @hookimpl(optionalhook=True)
    def economy_leaderboard_categories(self, channel: str) -> list[str]:
        return ["ranks"]

    @hookimpl(optionalhook=True)
    async def economy_leaderboard(self, channel: str, category: str, limit: int) -> str | None:
        """``top ranks``: how many users hold each rank, highest first."""
        if category != "ranks":
            return None
        tiers = self.cfg.tiers
        counts: dict[int, int] = {}
        for tier, n in self.store.counts(channel).items():
            top = min(tier, len(tiers) - 1)
            counts[top] = counts.get(top, 0) + n
        counts[0] = max(0, await self.ctx.ledger.account_count(channel)
                        - sum(n for t, n in counts.items() if t > 0))
        rows = [(tiers[t].name, n) for t, n in sorted(counts.items(), reverse=True) if n > 0]
        if not rows:
            return "🏆 Ranks: nobody yet."
        return "\n".join(["🏆 Ranks (users per rank):",
                          *(f"{name}: {n}" for name, n in rows[:limit])])

    @hookimpl(optionalhook=True)
    async def economy_achievement_value(self, channel: str, username: str,
                                        condition: str) -> int | None:
        """For achievements: the user's rank (tier index) for ``rank_reached``."""
        if condition != "rank_reached":
            return None
        return self._tier_of_user(channel, username)

    @hookimpl(optionalhook=True)
    async def economy_purchase(self, channel: str, username: str, item: str) -> str | None:
        """A ``buy`` front-end asks for an item it does not sell: CyTube levels are ours."""
        if item.strip().casefold() not in ITEMS:
            return None
        return await self.levels.buy(channel, username, item,
                                     self.ctx.rooms[channel].rank_of(username))

    @hookimpl(optionalhook=True)
    async def economy_shop_lines(self, channel: str, username: str) -> list[str]:
        """The shop's listing: CyTube level 2 at this user's price."""
        return await self.levels.listing(channel, username)

    # -- commands -------------------------------------------------------------------------------

    @command("rank", help="Your rank, perks and the way to the next one: rank [@user]")
    async def rank(self, call: CommandCall, user: Username | None = None) -> str:
        who = str(user or call.username)
        account = await self.ctx.ledger.account(call.channel, who)
        if account is None and user is not None:
            return f"No account for {who} yet."
        if account is not None:  # earnings from before ranks were on promote now
            await self.promoter.check(call.channel, {account.user_key: account.username})
        name = account.username if account is not None else who
        lifetime = account.lifetime_earned if account is not None else 0
        cfg, fmt = self.cfg, self.ctx.format_amount
        standing = self.store.get(call.channel, user_key(name))
        tier = min(standing.tier, len(cfg.tiers) - 1)
        perks = self.perks(tier)
        lines = [f"🎖️ {name}: {cfg.tiers[tier].name} (rank {tier + 1} of {len(cfg.tiers)}) "
                 f"· lifetime {fmt(lifetime)}"]
        nxt = next_promotion(cfg.tiers, standing.tier, standing.held)
        if nxt is None:
            lines.append("🏆 Maximum rank!")
        else:
            goal = cfg.tiers[nxt].min_lifetime_earned
            start = cfg.tiers[nxt - 1].min_lifetime_earned
            done = max(0.0, min(1.0, (lifetime - start) / max(1, goal - start)))
            lines.append(f"Next: {cfg.tiers[nxt].name} at {fmt(goal)}: "
                         f"{fmt(max(0, goal - lifetime))} to go")
            lines.append(f"[{progress_bar(done)}] {int(done * 100)}%")
        lines.append(f"Perks: {perks.describe(discount=False)} · "
                     f"Discount: {perks.discount * 100:g}%")
        return "\n".join(lines)

    @command("set_rank", admin=True, help="Set a user's rank: set_rank @user <rank name>")
    async def set_rank(self, call: CommandCall, user: Username, rank: Rest) -> str:
        """Exact rank names (any case). The set rank holds until the user's earnings reach a
        higher rank than they had earned when it was set."""
        try:
            done = await self.set_rank_to(call.channel, call.username, user, rank)
        except ApiError as refused:
            return str(refused)
        return f"✅ {done['username']} is now {done['rank']} (was {done['was']})."

    async def set_rank_to(self, channel: str, by: str, user: str,
                          rank: str) -> dict[str, Any]:
        """Set ``user``'s rank to the tier named ``rank`` (any case), stored with ``by``, the
        user PM'd (transactional); raises :class:`ApiError` with the reply for an unknown rank
        or user. Shared by ``set_rank`` and the ``rank.set`` / ``admin.set_rank`` endpoints."""
        cfg = self.cfg
        index = find_tier(cfg.tiers, rank)
        if index is None:
            raise ApiError(f"No rank called {str(rank)[:40]!r}. Ranks: "
                           f"{', '.join(t.name for t in cfg.tiers)}")
        account = await self.ctx.ledger.account(channel, user)
        if account is None:
            raise ApiError(f"No account for {user} yet.")
        old = self.store.get(channel, account.user_key)
        level = level_of(cfg, index)
        gained = level if level > level_of(cfg, min(old.tier, len(cfg.tiers) - 1)) else 0
        change = Change(account.username, old, index, tier_of(cfg.tiers, account.lifetime_earned),
                        max(old.level_pending, gained), set_by=by)
        async with self.store.lock:
            async with self.ctx.db.begin() as conn:
                await self.store.write(conn, channel, [change], self.ctx.clock.now())
            self.store.remember(channel, [change])
        name = cfg.tiers[index].name
        self.ctx.outbox.notify(channel, account.username,
                               f"🎖️ An admin set your rank to {name}. Perks: "
                               f"{self.perks(index).describe()}", transactional=True)
        self.ctx.log.info("audit: set_rank in %s by %s: target=%r rank=%r", channel, by,
                          account.username, name)
        await self.ctx.hooks.broadcast(hookspecs.economy_rank_reached, channel=channel,
                                       username=account.username, tier_index=index,
                                       tier_name=name)
        if change.level_pending:
            await self.promoter.ask_levels(channel, [(account.username, change.level_pending)])
        was = cfg.tiers[min(old.tier, len(cfg.tiers) - 1)].name
        return {"username": account.username, "rank": name, "rank_index": index, "was": was,
                "by": by}

    # -- endpoints ------------------------------------------------------------------------------

    @endpoint("rank.get", help="A user's rank: username → rank, rank_index, lifetime_earned, "
                               "next rank and what is left to it")
    async def api_rank_get(self, request: ApiRequest) -> dict[str, Any]:
        name = request.user()
        account = await self.ctx.ledger.account(request.channel, name)
        if account is None:
            return {"found": False, "username": name}
        cfg = self.cfg
        standing = self.store.get(request.channel, account.user_key)
        tier = min(standing.tier, len(cfg.tiers) - 1)
        nxt = next_promotion(cfg.tiers, standing.tier, standing.held)
        return {"found": True, "username": account.username, "rank": cfg.tiers[tier].name,
                "rank_index": tier, "lifetime_earned": account.lifetime_earned,
                "next_rank": None if nxt is None else cfg.tiers[nxt].name,
                "to_next": None if nxt is None else max(
                    0, cfg.tiers[nxt].min_lifetime_earned - account.lifetime_earned)}

    async def _api_set(self, request: ApiRequest) -> dict[str, Any]:
        rank = request.args.get("rank")
        if not isinstance(rank, str) or not rank.strip():
            raise ApiError("rank (a configured rank name) is required")
        by = request.args.get("by")
        return await self.set_rank_to(request.channel,
                                      by if isinstance(by, str) and by else
                                      f"api:{request.caller}", request.user(), rank)

    @endpoint("rank.set", help="Set a user's rank: username, rank (a configured name), by?")
    async def api_rank_set(self, request: ApiRequest) -> dict[str, Any]:
        return await self._api_set(request)

    @endpoint("admin.set_rank", help="The same as rank.set, under admin.* for admin clients")
    async def api_admin_set_rank(self, request: ApiRequest) -> dict[str, Any]:
        return await self._api_set(request)

    @command("buy_level", help="Buy CyTube channel level 2: buy_level cytube2")
    async def buy_level(self, call: CommandCall, item: str | None = None) -> str:
        if item is None:
            return USAGE
        return await self.levels.buy(call.channel, call.username, item, call.rank)
