"""The achievements plugin: one-time rewards for lasting activity (SPEC §3.11).

Each achievement is earned once per user and id (:mod:`.award`: paid exactly once across
restarts, retries and a crash at any commit) and checked only on the events its condition type
depends on (:mod:`.conditions`):

- **chat** (``economy_chat_message``): ``lifetime_messages``, ``unique_emotes_used_lifetime``;
- **tick** (a job of this plugin every :data:`PRESENCE_SECONDS`, over the users present):
  ``lifetime_presence_hours``;
- **streak** (``economy_streak_reached``, published by streaks): ``daily_streak``;
- **tips**, **earn**, **spend**, **gambling** (``economy_transaction_committed``: transfer, earn,
  spend and gamble postings): ``unique_tip_recipients`` / ``_senders``, ``lifetime_earned``,
  ``lifetime_spent``, ``lifetime_gambled``, ``gambling_biggest_win``;
- **rank** (``economy_rank_reached``, published by ranks): ``rank_reached``.

Values only another plugin knows are asked through ``economy_achievement_value``, a hook this
plugin publishes and their owners answer. A configured achievement whose source is not enabled
is reported by :meth:`Achievements.review_config` (``config check``, and a warning at start-up
and reload) and never checked; an unknown condition type is a config error naming the entry.
The engine (:mod:`.engine`) keeps the events' path free of reads.

``achievements``: earned ones with their dates, the visible unearned ones with a 10-cell
progress bar (current / threshold), and how many hidden ones remain.

Endpoints: ``achievement.list`` (the visible configured achievements; with ``username``, the
ones that user earned, with dates) and ``achievement.grant`` (``username``, ``id``: awards one
through the same once-only payment as the checks; granting an earned one again pays nothing and
says ``already_earned``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pluggy

from economy_core import (
    ApiError,
    ApiRequest,
    Catalogue,
    ChatMessage,
    CommandCall,
    ConfigNote,
    Contract,
    Kind,
    PluginConnection,
    PluginContext,
    Posting,
    PostingType,
    ProfileField,
    command,
    endpoint,
    hookimpl,
    legacy_time,
    user_key,
)

from . import award, hookspecs, tables
from .award import POSTING_TYPE
from .conditions import TYPES
from .config import AchievementsConfig
from .engine import EMOTES, MESSAGES, PRESENCE, RECHECK_SECONDS, Engine

PRESENCE_SECONDS = 60
BAR_CELLS = 10


def bar(value: int, threshold: int, cells: int = BAR_CELLS) -> str:
    filled = max(0, min(cells, value * cells // max(1, threshold)))
    return "█" * filled + "░" * (cells - filled)


class Achievements:
    """See the module docstring."""

    name = "achievements"
    Config = AchievementsConfig
    schema = tables.schema
    contract = Contract(
        personal_data=("achievements earned", "channel emotes used"),
        user_tables=tables.PERSONAL,
        posting_types=(PostingType(POSTING_TYPE, "achievement", Kind.EARN),),
                        announcements=(award.ANNOUNCEMENT,))

    @staticmethod
    @hookimpl
    def economy_addhooks(pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(hookspecs)

    @staticmethod
    def review_config(config: AchievementsConfig, catalogue: Catalogue) -> list[ConfigNote]:
        """An enabled achievement whose condition the enabled plugins cannot know is reported
        (it is never awarded), naming the achievement and what is missing."""
        notes = []
        for index, a in enumerate(config.achievements):
            missing = TYPES[a.condition.type].missing(catalogue) if a.enabled else None
            if missing is not None:
                notes.append(ConfigNote(
                    f"plugins.achievements.achievements[{index}]",
                    f"achievement {a.id!r} ({a.condition.type}) is never awarded: it needs "
                    f"{missing}"))
        return notes

    @hookimpl
    async def economy_import_legacy(self, channel: str, source: Any, users: Mapping[str, str],
                                    now: datetime, conn: PluginConnection) -> list[str]:
        """kryten-economy's earned achievements whose id is configured here → earned (reward 0
        recorded: it was paid there; never paid again here)."""
        tables_there = {r[0] for r in source.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        if "achievements" not in tables_there:
            return []
        known = {a.id for a in self.ctx.config.achievements}
        imported, unknown = 0, set()
        for row in source.execute("SELECT * FROM achievements WHERE channel = ? ORDER BY id",
                                  (channel,)):
            key = users.get(row["username"])
            if key is None:
                continue
            if row["achievement_id"] not in known:
                unknown.add(str(row["achievement_id"]))
                continue
            at = legacy_time(row["awarded_at"]) or now
            await conn.execute(tables.earned.insert().values(
                channel=channel, user_key=key, achievement=row["achievement_id"],
                username=row["username"], reward=0, at=at))
            imported += 1
        lines = [f"{imported} achievement(s)"]
        if unknown:
            lines.append(f"skipped achievements not configured here: {', '.join(sorted(unknown))}")
        return lines

    def __init__(self, ctx: PluginContext[AchievementsConfig]) -> None:
        self.ctx = ctx
        self.engine = Engine(ctx)

    # -- life cycle -----------------------------------------------------------------------------

    @hookimpl
    async def economy_startup(self) -> None:
        await self.engine.load()
        self.ctx.scheduler.every(PRESENCE_SECONDS, self.presence_tick, name="presence")
        self.ctx.scheduler.every(RECHECK_SECONDS, self.engine.recheck, name="recheck")

    @hookimpl(trylast=True)
    async def economy_settle(self) -> None:
        """After the other plugins settled (their counters are written): finish every check."""
        await self.engine.drain()
        await self.engine.recheck()

    @hookimpl
    async def economy_shutdown(self) -> None:
        await self.engine.drain()

    # -- events ---------------------------------------------------------------------------------

    @hookimpl
    def economy_chat_message(self, event: ChatMessage) -> None:
        engine, channel = self.engine, event.channel
        key = user_key(event.username)
        if engine.in_use(MESSAGES):
            engine.bump(channel, key, event.username, MESSAGES, 1)
        if engine.in_use(EMOTES):
            emotes = self.ctx.rooms[channel].emotes
            used = {w for w in event.text.split() if w in emotes} if emotes else set()
            if used:
                engine.emotes_used(channel, key, event.username, used)

    async def presence_tick(self) -> None:
        if not self.engine.in_use(PRESENCE):
            return
        now = self.ctx.clock.now()
        core = self.ctx.core
        skip = {user_key(n) for n in core.ignored_users} | {user_key(core.bot.username)}
        for channel in self.ctx.channels:
            present = {user_key(u.username): u.username
                       for u in self.ctx.rooms[channel].present()}
            self.engine.presence_due(channel, {k: n for k, n in present.items()
                                               if k not in skip}, now)

    @hookimpl
    async def economy_transaction_committed(self, postings: Sequence[Posting]) -> None:
        """On the core's commit-observer task: the checks these postings make due are done
        before it returns (so ``settle`` covers them; the ledger writer never waits)."""
        engine = self.engine
        use = {c: engine.in_use(c) for c in ("lifetime_earned", "lifetime_spent",
                                              "lifetime_gambled", "gambling_biggest_win",
                                              "unique_tip_recipients", "unique_tip_senders")}
        if not any(use.values()):
            return
        for p in postings:
            kind, amount = p.kind, p.amount
            if kind == Kind.EARN:
                if amount > 0 and use["lifetime_earned"]:
                    engine.bump(p.channel, p.user_key, p.username, "lifetime_earned", amount)
            elif kind == Kind.SPEND:
                if amount < 0 and use["lifetime_spent"]:
                    engine.bump(p.channel, p.user_key, p.username, "lifetime_spent", -amount)
            elif kind == Kind.GAMBLE:
                if amount < 0 and use["lifetime_gambled"]:
                    engine.bump(p.channel, p.user_key, p.username, "lifetime_gambled", -amount)
                elif amount > 0 and use["gambling_biggest_win"]:
                    engine.due(p.channel, "gambling_biggest_win", p.user_key, p.username)
            elif kind == Kind.TRANSFER and p.related_user:
                condition = "unique_tip_recipients" if amount < 0 else "unique_tip_senders"
                if use[condition]:
                    engine.due(p.channel, condition, p.user_key, p.username)
        await engine.drain()

    @hookimpl(optionalhook=True)
    def economy_streak_reached(self, channel: str, username: str, days: int) -> None:
        if self.engine.in_use("daily_streak"):
            self.engine.due(channel, "daily_streak", user_key(username), username, days)

    @hookimpl(optionalhook=True)
    def economy_rank_reached(self, channel: str, username: str, tier_index: int) -> None:
        if self.engine.in_use("rank_reached"):
            self.engine.due(channel, "rank_reached", user_key(username), username, tier_index)

    # -- what users ask -------------------------------------------------------------------------

    @hookimpl
    def economy_profile_fields(self, channel: str, username: str) -> list[ProfileField]:
        earned = self.engine.earned.get((channel, user_key(username)), {})
        return [ProfileField("achievements", "Achievements", f"{len(earned)} earned", 50)]

    @command("achievements", help="Your achievements, and how far you are from the others")
    async def achievements(self, call: CommandCall) -> str:
        engine, channel = self.engine, call.channel
        key = user_key(call.username)
        earned = engine.earned.get((channel, key), {})
        configured = {a.id: a for a in self.ctx.config.achievements}
        lines = []
        for ident, at in sorted(earned.items(), key=lambda item: (item[1], item[0])):
            found = configured.get(ident)
            what = found.description if found is not None else ident
            lines.append(f"✅ {what} · {at.astimezone(self.ctx.tz).date().isoformat()}")
        open_ones = [a for a in engine.active() if a.id not in earned]
        for a in open_ones:
            if a.hidden:
                continue
            values = await engine.values.read(channel, a.condition.type, {key: call.username})
            value, goal = values.get(key, 0), a.condition.threshold
            lines.append(f"⬜ {a.description}: [{bar(value, goal)}] {min(value, goal):,}/"
                         f"{goal:,} {TYPES[a.condition.type].unit}")
        hidden = sum(1 for a in open_ones if a.hidden)
        if hidden:
            lines.append(f"🔒 {hidden} hidden remain.")
        if not lines:
            return "🏆 No achievements here yet."
        return "\n".join([f"🏆 Achievements ({len(earned)} earned):", *lines])

    # -- endpoints --------------------------------------------------------------------------------

    @endpoint("achievement.list", help="The visible achievements (id, description, reward); "
                                       "with username, the ones that user earned")
    async def api_list(self, request: ApiRequest) -> dict[str, Any]:
        listed = [{"id": a.id, "description": a.description, "reward": a.reward}
                  for a in self.engine.active() if not a.hidden]
        name = request.optional_user()
        if name is None:
            return {"achievements": listed}
        configured = {a.id: a for a in self.ctx.config.achievements}
        earned = self.engine.earned.get((request.channel, user_key(name)), {})
        return {"achievements": listed, "username": name, "earned": [
            {"id": ident, "at": at.isoformat(),
             "description": configured[ident].description if ident in configured else ident}
            for ident, at in sorted(earned.items(), key=lambda item: (item[1], item[0]))]}

    @endpoint("achievement.grant", help="Award an achievement: username, id (paid once per "
                                        "user and id; a repeat pays nothing)")
    async def api_grant(self, request: ApiRequest) -> dict[str, Any]:
        name, ident = request.user(), request.args.get("id")
        found = next((a for a in self.engine.active() if a.id == ident), None)
        if found is None:
            raise ApiError(f"no enabled achievement with id {str(ident)[:40]!r}")
        channel = request.channel
        account = await self.ctx.ledger.account(channel, name)
        if account is None:
            raise ApiError(f"{name[:30]} has no account here")
        key = account.user_key
        if found.id in self.engine.earned.get((channel, key), {}):
            return {"username": account.username, "id": found.id, "granted": False,
                    "already_earned": True, "paid": 0}
        if self.ctx.identity.is_banned(channel, account.username):
            raise ApiError(f"{account.username} is banned from the economy")
        earned = await award.pay(self.ctx, channel, [(account.username, found)])
        for e in earned:
            self.engine.earned.setdefault((channel, key), {})[e.achievement.id] = e.at
        await award.tell(self.ctx, channel, earned)
        self.ctx.log.info("audit: achievement.grant in %s by api:%s: target=%r id=%r paid=%s",
                          channel, request.caller, account.username, found.id,
                          [e.paid for e in earned])
        if not earned:
            raise ApiError(f"{account.username} may not be paid yet (onboarding); nothing "
                           "was granted")
        return {"username": account.username, "id": found.id, "granted": True,
                "already_earned": False, "paid": earned[0].paid}
