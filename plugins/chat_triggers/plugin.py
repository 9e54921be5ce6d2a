"""The chat_triggers plugin: pays for chat and content activity (SPEC §3.3) and runs third-party
earning triggers (the ``economy_earning_triggers`` hook) in the same pipeline.

Room events keep the in-memory channel state (:mod:`.state`); each chat line goes through the
:mod:`.pipeline`, whose writes the :mod:`.writer` commits in batches (call
:meth:`ChatTriggers.drain` to wait for them; shutdown does). ``like`` is a PM command;
``econ:triggers`` shows today's trigger analytics to admins; ``profile`` shows when a user last
chatted (``last_active``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pluggy

from economy_core import (
    ChatMessage,
    CommandCall,
    Contract,
    Counter,
    EarningTrigger,
    LedgerTx,
    MediaChanged,
    PlayingMedia,
    PluginContext,
    ProfileField,
    RelayedChat,
    RoomSnapshot,
    TriggerHit,
    UserArrived,
    UserJoined,
    UserLeft,
    command,
    hookimpl,
    user_key,
)

from . import activity, analytics, hookspecs, tables
from .base import Builtin, Shared
from .config import ChatTriggersConfig
from .pipeline import Pipeline
from .state import ChannelState
from .triggers_chat import ConversationStarter, FirstMessageOfDay, LongMessage
from .triggers_content import (
    CommentDuringMedia,
    FirstAfterMediaChange,
    LikeCurrent,
    PresentAtEventStart,
    SurvivedFullMedia,
)
from .triggers_social import (
    BotInteraction,
    GreetedNewcomer,
    KudosReceived,
    LaughReceived,
    MentionedByOther,
)
from .writer import Job, Writer

PRUNE_SECONDS = 60
ARRIVALS_HOOK = "economy_user_arrived"
"""Published by the plugin that keeps sessions (presence): genuine arrivals to greet."""

COUNTERS = (
    Counter("messages_sent", "chat lines"),
    Counter("long_messages", "long chat lines"),
    Counter("gifs_posted", "GIFs posted"),
    Counter("unique_emotes_used", "different emotes used"),
    Counter("kudos_given", "kudos given"),
    Counter("kudos_received", "kudos received"),
    Counter("laughs_received", "laughs received"),
    Counter("bot_interactions", "answers from a chat bot"),
    Counter("first_message_claimed", "first line of the day"),
)


class ChatTriggers:
    """See the module docstring."""

    name = "chat_triggers"
    Config = ChatTriggersConfig
    schema = tables.schema
    contract = Contract(
        personal_data=("which triggers paid a user each day", "when each user last chatted"),
        user_tables=tables.PERSONAL,
        counters=COUNTERS)

    @staticmethod
    @hookimpl
    def economy_addhooks(pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(hookspecs)

    def __init__(self, ctx: PluginContext[ChatTriggersConfig]) -> None:
        self.ctx = ctx
        self.states: dict[str, ChannelState] = {c: ChannelState(c) for c in ctx.channels}
        self._accounts: set[tuple[str, str]] = set()
        self.shared = Shared(lambda: self.ctx.config, self.states,
                             lambda: self.ctx.core.currency.symbol, self._has_account)
        s = self.shared
        self.line_triggers: list[Builtin] = [
            LongMessage(s), FirstMessageOfDay(s), ConversationStarter(s),
            FirstAfterMediaChange(s), CommentDuringMedia(s), GreetedNewcomer(s),
            MentionedByOther(s), LaughReceived(s), KudosReceived(s)]
        self.bot = BotInteraction(s)
        self.like_trigger = LikeCurrent(s)
        self.survived = SurvivedFullMedia(s)
        self.occasion = PresentAtEventStart(s)
        metrics = ctx.metrics
        self._lines = metrics.counter("lines_total", "Chat lines through the trigger pipeline")
        self._hits = metrics.counter("hits_total", "Trigger hits past their caps, by trigger")
        self._paid = metrics.counter("z_total", "Currency paid by each trigger, by trigger")
        self._errors = metrics.counter("trigger_errors_total",
                                       "Trigger failures (the line still counted), by trigger")
        self.writer = Writer(ctx, on_paid=self._count_hit)
        self.pipeline = Pipeline(ctx, s, self.line_triggers, self.bot, self.writer,
                                 on_error=lambda t: self._errors.inc({"trigger": t}))

    @property
    def cfg(self) -> ChatTriggersConfig:
        return self.ctx.config

    def _count_hit(self, trigger_id: str, amount: int) -> None:
        self._hits.inc({"trigger": trigger_id})
        if amount > 0:
            self._paid.add({"trigger": trigger_id}, amount)

    async def _has_account(self, channel: str, username: str) -> bool:
        key = (channel, user_key(username))
        if key in self._accounts:
            return True
        if await self.ctx.ledger.account(channel, username) is None:
            return False
        self._accounts.add(key)
        return True

    async def drain(self) -> None:
        """Wait until every line handled so far is committed to the ledger."""
        await self.writer.drain()

    # -- lifecycle ------------------------------------------------------------------------------

    @hookimpl
    async def economy_startup(self) -> None:
        self.writer.start()
        self.pipeline.extra = await self._collect_triggers()
        if (self.cfg.greeted_newcomer.enabled
                and self.ctx.catalogue.publisher_of(ARRIVALS_HOOK) is None):
            self.ctx.log.warning(
                "greeted_newcomer pays nothing: no enabled plugin reports genuine arrivals "
                "(the %s hook; enable presence, or disable the trigger)", ARRIVALS_HOOK)
        self.ctx.scheduler.every(PRUNE_SECONDS, self._prune, name="prune")

    @hookimpl
    async def economy_shutdown(self) -> None:
        await self.writer.stop()

    @hookimpl
    async def economy_settle(self) -> None:
        await self.drain()

    async def _collect_triggers(self) -> list[EarningTrigger]:
        """Third-party triggers from every plugin's ``economy_earning_triggers``."""
        hook = hookspecs.economy_earning_triggers
        answers = await self.ctx.hooks.collect(hook)
        ids = {t.trigger_id for t in self.line_triggers} | {
            self.bot.trigger_id, self.like_trigger.trigger_id, self.survived.trigger_id,
            self.occasion.trigger_id}
        out: list[EarningTrigger] = []
        for trigger in answers:
            trigger_id = getattr(trigger, "trigger_id", None)
            if not isinstance(trigger, EarningTrigger) or not isinstance(trigger_id, str):
                self.ctx.log.error("ignoring %r from %s: not an EarningTrigger", trigger,
                                   hook.__name__)
                continue
            if trigger_id in ids:
                self.ctx.log.error("ignoring trigger %r: its id is already taken", trigger_id)
                continue
            ids.add(trigger_id)
            out.append(trigger)
        if out:
            self.ctx.log.info("third-party earning triggers: %s",
                              ", ".join(t.trigger_id for t in out))
        return out

    async def _prune(self) -> None:
        now = self.ctx.clock.now()
        keep = self.pipeline.keep_for()
        for state in self.states.values():
            state.prune(now, keep)

    # -- room events ----------------------------------------------------------------------------

    def _state(self, channel: str) -> ChannelState:
        return self.pipeline.state(channel)

    @hookimpl
    async def economy_room_seeded(self, snapshot: RoomSnapshot) -> None:
        self._state(snapshot.channel).seed(u.username for u in snapshot.users)

    @hookimpl
    async def economy_user_joined(self, event: UserJoined) -> None:
        self._state(event.channel).join(event.username)

    @hookimpl(optionalhook=True)
    async def economy_user_arrived(self, arrival: UserArrived) -> None:
        """A genuine arrival can be greeted (until greeted, or ``window_seconds`` pass)."""
        key = user_key(arrival.username)
        if not arrival.genuine or (self.cfg.greeted_newcomer.bot_joins_excluded
                                   and self.pipeline.excluded(key)):
            return
        self._state(arrival.channel).joins[key] = (arrival.username, arrival.at)

    @hookimpl
    async def economy_user_left(self, event: UserLeft) -> None:
        self._state(event.channel).leave(event.username, event.at)

    @hookimpl
    async def economy_chat_message(self, event: ChatMessage) -> None:
        self._lines.inc({})
        await self.pipeline.on_chat(event)

    @hookimpl
    async def economy_relayed_chat(self, event: RelayedChat) -> None:
        await self.pipeline.on_relayed(event)

    @hookimpl
    async def economy_media_changed(self, event: MediaChanged) -> None:
        """A new play starts, unless this announces the current play again (see
        :meth:`~.state.MediaItem.repeated_by`): then the item keeps its likers, comment counts,
        first-after-media slot and watchers, and nothing is paid."""
        state = self._state(event.channel)
        current = state.media
        if current is not None and current.repeated_by(event.media_type, event.media_id,
                                                       event.at):
            return
        previous = state.start_media(PlayingMedia(event.media_type, event.media_id, event.title,
                                                  event.duration_s, event.at))
        if previous is not None:
            hits = self.survived.hits(previous, state.present, event.at)
            if hits:
                await self.pipeline.pay(event.channel, hits)

    @hookimpl(optionalhook=True)
    async def economy_occasion_started(self, channel: str, name: str, at: datetime,
                                       reward: int | None) -> None:
        """An occasion (a scheduled or admin-started event) began at ``at``: everyone present
        is paid ``reward`` (None: ``default_reward``) once per (name, at); a ``reward`` of 0
        pays nothing. Published by whichever plugin runs occasions: the built-in events plugin
        pays SPEC's presence pot itself and always sends 0, so presence at an event start is
        paid once, as its pot."""
        hits = self.occasion.hits(name, at, reward, self._state(channel).present)
        if hits:
            await self.pipeline.pay(channel, hits)

    @hookimpl
    async def economy_day_closed(self, channel: str, day: Any) -> None:
        async def forget(tx: LedgerTx) -> None:
            await analytics.forget_users_through(tx.conn, channel, day)

        await self.drain()
        await self.ctx.ledger.atomic(forget)

    # -- commands -------------------------------------------------------------------------------

    @command("like", help="Like what is playing now (pays once per item)")
    async def like(self, call: CommandCall) -> str:
        cfg = self.cfg.like_current
        if not cfg.enabled:
            return "Liking does not pay here right now."
        item = self._state(call.channel).media
        if item is None or not item.info.playing_at(call.at):
            return "Nothing playing right now: try again when something is on."
        title = item.info.title or "this item"
        key = user_key(call.username)
        if key in item.likers:
            return f"You already liked “{title}”."
        item.likers.add(key)
        hit = TriggerHit(call.username, cfg.reward, self.like_trigger.trigger_id,
                         reason=f"liked {title}"[:200])
        kept = await self.pipeline.screen(call.channel, [hit])
        if not kept:
            return f"👍 You liked “{title}”."
        day = call.at.astimezone(self.ctx.tz).date()
        try:
            [outcome] = await self.writer.run(Job(call.channel, day, kept))
        except Exception:
            item.likers.discard(key)  # nothing was written: the like may be tried again
            raise
        if not outcome:
            return f"👍 You liked “{title}”."
        return f"👍 You liked “{title}”: +{self.ctx.format_amount(outcome)}."

    @command("econ:triggers", admin=True,
             help="Today's chat triggers: hits, distinct users, Z; enabled ones without hits")
    async def econ_triggers(self, call: CommandCall) -> str:
        await self.drain()
        day = call.at.astimezone(self.ctx.tz).date()
        async with self.ctx.db.connect() as conn:
            rows = await analytics.day_rows(conn, call.channel, day)
        lines = [f"📈 Triggers today ({day.isoformat()}):"]
        lines += [f"• {r.trigger_id}: {r.hits} hits, {r.unique_users} users, "
                  f"{self.ctx.format_amount(r.z)}" for r in rows]
        if not rows:
            lines.append("• no hits yet")
        hit_ids = {r.trigger_id for r in rows}
        dead = [t for t in self._enabled_ids() if t not in hit_ids]
        if dead:
            lines.append("💤 No hits: " + ", ".join(dead))
        return "\n".join(lines)

    def _enabled_ids(self) -> list[str]:
        ids = [t.trigger_id for t in self.line_triggers if t.enabled]
        if self.bot.enabled:
            ids.append(self.bot.trigger_id)
        ids += [t.trigger_id for t in (self.like_trigger, self.survived, self.occasion)
                if t.enabled]
        ids += [t.trigger_id for t in self.pipeline.extra]
        return ids

    # -- what others can ask --------------------------------------------------------------------

    @hookimpl
    async def economy_profile_fields(self, channel: str, username: str) -> list[ProfileField]:
        """"Last active": when the user last chatted (nothing if never, as far as we know)."""
        async with self.ctx.db.connect() as conn:
            at = await activity.last_line_at(conn, channel, username)
        if at is None:
            return []
        return [ProfileField("chat_triggers.last_active", "Last active",
                             activity.ago(self.ctx.clock.now() - at), 82)]

    @hookimpl
    def economy_reward_lines(self, channel: str) -> list[str]:
        shown: list[str] = []
        hidden = 0
        builtins: list[Builtin] = [*self.line_triggers, self.bot, self.like_trigger,
                                   self.survived, self.occasion]
        for trigger in builtins:
            if not trigger.enabled:
                continue
            text = trigger.describe()
            # a hidden occasion trigger pays only with an events plugin: not hinted at either
            if text is not None:
                shown.append(text)
            elif trigger is not self.occasion:
                hidden += 1
        for extra in self.pipeline.extra:
            try:
                text = extra.describe()
            except Exception:
                self.ctx.log.exception("trigger %s failed to describe itself", extra.trigger_id)
                continue
            if text is None:
                hidden += 1
            else:
                shown.append(str(text))
        if hidden:
            shown.append(f"…and {hidden} more way(s) to earn by taking part in chat: "
                         "find them! 🔍")
        return shown
