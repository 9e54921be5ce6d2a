"""The message pipeline: one chat line in, one writer job out.

For a line from a human (the core already dropped the economy bot, ignored and shadowed users):

0. a banned sender's line stops here: it pays, counts and changes nothing (it takes no
   first-after-media slot, is no joke to laugh at, breaks no silence);
1. a :class:`ChatContext` is built from the channel state **before** the line;
2. every enabled trigger is asked in order (long message, first of the day, conversation
   starter, first after media change, comment during media, greeted newcomer, mentions, laugh,
   kudos, then third-party triggers); one that raises is logged and counted and the others
   still run;
3. each hit is screened: never the bot, an ignored or banned user, and never a payment to a user
   because of themselves (alias-aware);
4. the triggers record what their surviving hits consumed (a greeted join, a laugher, a comment),
   then the line itself is recorded (last line, joke, first-after-media slot);
5. the hits, the sender's daily counters (messages_sent, long_messages, gifs_posted) and the
   sender's ``last_active`` go to the writer, which applies caps, multipliers and analytics and
   commits. Should that write fail, the line's first-of-the-day claim is given back.

A chat bot's line — relayed through the economy bot's own account (a ``RelayedChat``), or from
the configured ``bot_interaction.bot_username`` — only pays ``social.bot_interaction`` to the
previous human speaker and changes nothing else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from economy_core import (
    Cap,
    ChatContext,
    ChatMessage,
    EarningTrigger,
    PluginContext,
    RelayedChat,
    TriggerHit,
    user_key,
)

from .base import Builtin, Shared
from .config import ChatTriggersConfig
from .detect import LineFacts
from .state import ChannelState, Joke
from .triggers_chat import FirstMessageOfDay
from .triggers_social import BotInteraction
from .writer import Job, Writer


class Pipeline:
    """Runs the triggers on each line; see the module docstring."""

    def __init__(self, ctx: PluginContext[ChatTriggersConfig], shared: Shared,
                 builtins: Sequence[Builtin], bot: BotInteraction, writer: Writer,
                 on_error: Callable[[str], None]) -> None:
        self.ctx = ctx
        self.shared = shared
        self.builtins = list(builtins)
        self.bot = bot
        self.writer = writer
        self.extra: list[EarningTrigger] = []
        self._on_error = on_error
        self._ignored: tuple[tuple[str, ...], frozenset[str]] = ((), frozenset())

    @property
    def cfg(self) -> ChatTriggersConfig:
        return self.ctx.config

    def state(self, channel: str) -> ChannelState:
        states = self.shared.states
        if channel not in states:
            states[channel] = ChannelState(channel)
        return states[channel]

    def triggers(self) -> list[Any]:
        """The triggers asked about each line, in order."""
        return [t for t in self.builtins if t.enabled] + self.extra

    def excluded(self, key: str) -> bool:
        """Never paid, never a target: the economy bot, ignored users, the bot_interaction bot."""
        core = self.ctx.core
        names = tuple(core.ignored_users)
        if self._ignored[0] != names:
            self._ignored = (names, frozenset(user_key(u) for u in names))
        if key == user_key(core.bot.username) or key in self._ignored[1]:
            return True
        bot_name = self.cfg.bot_interaction.bot_username
        return bool(bot_name) and key == user_key(bot_name)

    def _undeclared_counter(self, hit: TriggerHit) -> str | None:
        """A counter no enabled plugin declared would fail the whole write batch: say so."""
        known = self.ctx.catalogue.counters
        for name in (*hit.counters, *hit.related_counters):
            if name not in known:
                return (f"trigger {hit.trigger_id!r} bumps daily counter {name!r}, which no "
                        "enabled plugin declares (Contract.counters)")
        return None

    async def screen(self, channel: str, hits: Sequence[TriggerHit],
                     sender: str | None = None) -> list[TriggerHit]:
        """The hits that may be paid (module docstring, step 3)."""
        out = []
        for hit in hits:
            problem = hit.problem() if isinstance(hit, TriggerHit) else f"not a TriggerHit: {hit!r}"
            if problem is None:
                problem = self._undeclared_counter(hit)
            if problem is not None:
                self.ctx.log.warning("dropping a malformed hit: %s", problem)
                continue
            key = user_key(hit.username)
            if self.excluded(key) or self.ctx.identity.is_banned(channel, hit.username):
                continue
            same = self.ctx.aliases.same_person
            if hit.related_user is not None and await same(channel, hit.username,
                                                           hit.related_user):
                continue
            if sender is not None and key != user_key(sender) and (
                    hit.related_user is None or user_key(hit.related_user) != user_key(sender)) \
                    and await same(channel, hit.username, sender):
                continue
            out.append(hit)
        return out

    async def on_chat(self, event: ChatMessage) -> None:
        state = self.state(event.channel)
        sender_key = user_key(event.username)
        if self.cfg.bot_interaction.bot_username and sender_key == self.bot.bot_key:
            await self._bot_line(state, event)
            return
        if self.excluded(sender_key):  # the core drops these already; never count them
            return
        if self.ctx.identity.is_banned(event.channel, event.username):
            return  # step 0: no slot taken, no joke told, no silence broken, nothing counted
        day = event.at.astimezone(self.ctx.tz).date()
        channel = event.channel
        item = state.media

        async def same_person(a: str, b: str) -> bool:
            return await self.ctx.aliases.same_person(channel, a, b)

        ctx = ChatContext(channel=channel, username=event.username, text=event.text,
                          at=event.at, day=day, present=state.present_view,
                          last_speaker=state.last_speaker, last_line_at=state.last_line_at,
                          media=item.info if item is not None else None, raw=event.raw,
                          same_person=same_person)
        facts = self.shared.facts(ctx)
        answered: list[tuple[Any, list[TriggerHit]]] = []
        for trigger in self.triggers():
            try:
                hits = await self.screen(channel, list(await trigger.check(ctx)),
                                         event.username)
            except Exception:
                name = _trigger_name(trigger)
                self.ctx.log.exception("trigger %s failed on a line; the others still run",
                                       name)
                self._on_error(name)
                continue
            answered.append((trigger, hits))
        for trigger, hits in answered:
            if isinstance(trigger, Builtin):
                try:
                    trigger.after(ctx, hits)
                except Exception:
                    self.ctx.log.exception("trigger %s failed recording a line", trigger)
                    self._on_error(trigger.trigger_id)
        self._note_line(state, ctx, facts)
        counters = [(event.username, "messages_sent", 1)]
        if facts.length >= self.cfg.long_message.min_chars:
            counters.append((event.username, "long_messages", 1))
        if facts.gifs:
            counters.append((event.username, "gifs_posted", facts.gifs))
        hits = [h for _, hs in answered for h in hs]
        hits += emote_hits(event.username, ctx.text, self.ctx.rooms[channel].emotes)
        # should the write fail, the first line of the day may still pay later
        undo = partial(state.unclaim_first, sender_key, day) \
            if any(h.trigger_id == FirstMessageOfDay.trigger_id for h in hits) else None
        await self.writer.put(Job(channel, day, hits, counters,
                                  active=(event.username, event.at), on_failure=undo))

    def _note_line(self, state: ChannelState, ctx: ChatContext, facts: LineFacts) -> None:
        """The line's own effects on the channel state (after every trigger saw the line)."""
        state.last_line_at = ctx.at
        state.last_speaker = ctx.username
        state.answered = False
        if state.media is not None:
            state.media.first_claimed = True
        if not facts.laugh:
            state.joke = Joke(ctx.username, ctx.at)

    async def on_relayed(self, event: RelayedChat) -> None:
        """A line another service sent through the economy bot's account: a chat bot's answer."""
        await self._bot_line(self.state(event.channel), event)

    async def _bot_line(self, state: ChannelState, event: ChatMessage | RelayedChat) -> None:
        hits = await self.screen(event.channel, self.bot.answer(state, event.username))
        if hits:
            day = event.at.astimezone(self.ctx.tz).date()
            await self.writer.put(Job(event.channel, day, hits))

    async def pay(self, channel: str, hits: Sequence[TriggerHit]) -> None:
        """Queue hits that do not come from a chat line (e.g. survived_full_media)."""
        kept = await self.screen(channel, hits)
        if kept:
            day = self.ctx.clock.now().astimezone(self.ctx.tz).date()
            await self.writer.put(Job(channel, day, kept))

    def keep_for(self) -> timedelta:
        """How long departures and joins must be remembered."""
        cfg = self.cfg
        minutes = max(30, cfg.kudos_received.recent_minutes,
                      cfg.greeted_newcomer.window_seconds // 60 + 1)
        return timedelta(minutes=minutes)


EMOTE_COUNTER_ID = "chat.emote_variety"
"""Zero-amount hits that count ``unique_emotes_used``: the day cap per emote makes each distinct
channel emote count once per user and day, also across restarts."""


def emote_hits(username: str, text: str, emotes: frozenset[str]) -> list[TriggerHit]:
    """One counting hit per distinct channel emote in the line (emotes are written as words)."""
    if not emotes:
        return []
    used = {word for word in text.split() if word in emotes}
    return [TriggerHit(username, 0, EMOTE_COUNTER_ID,
                       caps=(Cap.per_day(1, scope=hashlib.sha256(e.encode()).hexdigest()[:24]),),
                       counters={"unique_emotes_used": 1}) for e in sorted(used)]


def _trigger_name(trigger: Any) -> str:
    try:
        return str(trigger.trigger_id)
    except Exception:
        return type(trigger).__name__
