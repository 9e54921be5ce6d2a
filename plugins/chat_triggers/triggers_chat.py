"""Triggers about the line itself: long message, first message of the day, conversation starter."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from economy_core import Cap, ChatContext, TriggerHit

from .base import Builtin


class LongMessage(Builtin):
    """``min_chars`` or more characters; at most ``max_per_hour`` per user per rolling hour."""

    trigger_id = "chat.long_message"
    section = "long_message"

    def text(self) -> str:
        cfg = self.cfg
        return (f"Chat lines of {cfg.min_chars}+ characters: {self.shared.amount(cfg.reward)} "
                f"each (up to {cfg.max_per_hour} an hour)")

    async def check(self, ctx: ChatContext) -> Sequence[TriggerHit]:
        cfg = self.cfg
        if self.shared.facts(ctx).length < cfg.min_chars:
            return ()
        return (TriggerHit(ctx.username, cfg.reward, self.trigger_id, reason="long message",
                           caps=(Cap.per_hour(cfg.max_per_hour),)),)


class FirstMessageOfDay(Builtin):
    """A user's first line of the channel day (a daily cap of one: once even across restarts)."""

    trigger_id = "chat.first_message_of_day"
    section = "first_message_of_day"

    def text(self) -> str:
        return f"Your first chat line of the day: {self.shared.amount(self.cfg.reward)}"

    async def check(self, ctx: ChatContext) -> Sequence[TriggerHit]:
        if self.shared.state(ctx).claimed_first(ctx.sender_key, ctx.day):
            return ()
        return (TriggerHit(ctx.username, self.cfg.reward, self.trigger_id,
                           reason="first message of the day", caps=(Cap.per_day(1),),
                           counters={"first_message_claimed": 1}),)

    def after(self, ctx: ChatContext, hits: Sequence[TriggerHit]) -> None:
        # Tried once per user and day in memory; the cap store decides across restarts.
        self.shared.state(ctx).claim_first(ctx.sender_key, ctx.day)


class ConversationStarter(Builtin):
    """The first line after ``min_silence_minutes`` without one (or the first since start-up)."""

    trigger_id = "chat.conversation_starter"
    section = "conversation_starter"

    def text(self) -> str:
        cfg = self.cfg
        return (f"Breaking {cfg.min_silence_minutes}+ minutes of silence: "
                f"{self.shared.amount(cfg.reward)}")

    async def check(self, ctx: ChatContext) -> Sequence[TriggerHit]:
        silence = timedelta(minutes=self.cfg.min_silence_minutes)
        if ctx.last_line_at is not None and ctx.at - ctx.last_line_at < silence:
            return ()
        return (TriggerHit(ctx.username, self.cfg.reward, self.trigger_id,
                           reason="started a conversation"),)
