"""Triggers about other people: greeting a newcomer, being mentioned, making others laugh,
kudos (``name++``), and getting an answer from a chat bot."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from economy_core import Cap, ChatContext, TriggerHit, user_key

from .base import Builtin, one_per_person
from .state import ChannelState

LAUGH_WINDOW = timedelta(minutes=5)
"""The rolling window of ``max_laughers_per_joke`` (SPEC §3.3)."""


class GreetedNewcomer(Builtin):
    """A line naming a user who genuinely joined at most ``window_seconds`` ago pays its sender;
    the first greeter consumes the join; at most one per line; never for greeting oneself."""

    trigger_id = "social.greeted_newcomer"
    section = "greeted_newcomer"

    def text(self) -> str:
        cfg = self.cfg
        return (f"Greeting a newcomer by name within {cfg.window_seconds} s: "
                f"{self.shared.amount(cfg.reward)}")

    async def check(self, ctx: ChatContext) -> Sequence[TriggerHit]:
        state = self.shared.state(ctx)
        if not state.joins:
            return ()
        names = self.shared.facts(ctx).names
        window = timedelta(seconds=self.cfg.window_seconds)
        candidates = sorted((joined, key, name) for key, (name, joined) in state.joins.items()
                            if key in names and key != ctx.sender_key
                            and ctx.at - joined <= window)
        for _, _, name in candidates:
            if await ctx.same_person(ctx.username, name):
                continue
            return (TriggerHit(ctx.username, self.cfg.reward, self.trigger_id,
                               related_user=name, reason=f"greeted {name}"),)
        return ()

    def after(self, ctx: ChatContext, hits: Sequence[TriggerHit]) -> None:
        state = self.shared.state(ctx)
        for hit in hits:
            if hit.related_user is not None:
                state.joins.pop(user_key(hit.related_user), None)


class MentionedByOther(Builtin):
    """A present user named as a whole word is paid (not the sender, not a kudos token), once
    per person however many of their aliases the line names; at most
    ``max_per_hour_same_user`` per sender -> target per rolling hour."""

    trigger_id = "social.mentioned_by_other"
    section = "mentioned_by_other"

    def text(self) -> str:
        return f"Being mentioned by name: {self.shared.amount(self.cfg.reward)}"

    async def check(self, ctx: ChatContext) -> Sequence[TriggerHit]:
        facts = self.shared.facts(ctx)
        present = ctx.present
        targets = [k for k in facts.names if k in present and k != ctx.sender_key]
        if not targets:
            return ()
        if facts.kudos:
            given = {user_key(n) for n in facts.kudos}
            targets = [k for k in targets if k not in given]
        cfg = self.cfg
        cap = Cap.per_hour(cfg.max_per_hour_same_user, scope=ctx.sender_key)
        names = [present[k] for k in sorted(targets)]
        if len(names) > 1:
            names = await one_per_person(ctx, names)
        return tuple(TriggerHit(name, cfg.reward, self.trigger_id, related_user=ctx.username,
                                reason=f"mentioned by {ctx.username}", caps=(cap,))
                     for name in names)


class LaughReceived(Builtin):
    """A laughing line pays the sender of the most recent non-laugh line (someone else), once
    per distinct laugher per joke (a person laughing again under an alias does not count), at
    most ``max_laughers_per_joke`` per teller per 5 minutes."""

    trigger_id = "chat.laugh_received"
    section = "laugh_received"

    def text(self) -> str:
        return f"Making people laugh: {self.shared.amount(self.cfg.reward_per_laugher)} a laugher"

    async def check(self, ctx: ChatContext) -> Sequence[TriggerHit]:
        if not self.shared.facts(ctx).laugh:
            return ()
        joke = self.shared.state(ctx).joke
        if joke is None or user_key(joke.teller) == ctx.sender_key \
                or ctx.sender_key in joke.laughers:
            return ()
        for laugher in joke.laughers.values():  # an alias of someone who already laughed
            if await ctx.same_person(laugher, ctx.username):
                return ()
        cfg = self.cfg
        return (TriggerHit(joke.teller, cfg.reward_per_laugher, self.trigger_id,
                           related_user=ctx.username, reason=f"{ctx.username} laughed",
                           caps=(Cap(cfg.max_laughers_per_joke, LAUGH_WINDOW),),
                           counters={"laughs_received": 1}),)

    def after(self, ctx: ChatContext, hits: Sequence[TriggerHit]) -> None:
        joke = self.shared.state(ctx).joke
        if hits and joke is not None:
            joke.laughers[ctx.sender_key] = ctx.username


class KudosReceived(Builtin):
    """Each ``name++`` token pays its target once per line — once per person, however many of
    their aliases get kudos: a user with an account who is present or left at most
    ``recent_minutes`` ago, not the giver; capped per giver -> target."""

    trigger_id = "chat.kudos_received"
    section = "kudos_received"

    def text(self) -> str:
        return f"Getting kudos (yourname++) from others: {self.shared.amount(self.cfg.reward)}"

    async def check(self, ctx: ChatContext) -> Sequence[TriggerHit]:
        kudos = self.shared.facts(ctx).kudos
        if not kudos:
            return ()
        cfg = self.cfg
        state: ChannelState = self.shared.state(ctx)
        recent = timedelta(minutes=cfg.recent_minutes)
        cap = Cap.per_hour(cfg.max_per_hour_same_user, scope=ctx.sender_key)
        targets = []
        for name in kudos:
            key = user_key(name)
            if key == ctx.sender_key or not state.recently_here(key, ctx.at, recent):
                continue
            if not await self.shared.has_account(ctx.channel, name):
                continue
            targets.append(state.present.get(key, name))
        if len(targets) > 1:
            targets = await one_per_person(ctx, targets)
        return tuple(TriggerHit(
            name, cfg.reward, self.trigger_id, related_user=ctx.username,
            reason=f"kudos from {ctx.username}", caps=(cap,), counters={"kudos_received": 1},
            related_counters={"kudos_given": 1}) for name in targets)


class BotInteraction(Builtin):
    """A chat bot's line — relayed through the economy bot's own account, or from the separate
    ``bot_username`` — pays the previous human speaker, once per human line, at most
    ``max_per_day`` a day (not a line trigger: the pipeline calls :meth:`answer`)."""

    trigger_id = "social.bot_interaction"
    section = "bot_interaction"

    def text(self) -> str:
        cfg = self.cfg
        who = cfg.bot_username or "the chat bot"
        return (f"Getting an answer from {who}: {self.shared.amount(cfg.reward)} "
                f"(up to {cfg.max_per_day} a day)")

    @property
    def bot_key(self) -> str:
        return user_key(self.cfg.bot_username)

    def answer(self, state: ChannelState, bot_name: str) -> list[TriggerHit]:
        """The hit for a bot line (and the previous human line marked answered)."""
        cfg = self.cfg
        if not cfg.enabled or state.last_speaker is None or state.answered:
            return []
        state.answered = True
        return [TriggerHit(state.last_speaker, cfg.reward, self.trigger_id,
                           related_user=bot_name, reason=f"talked with {bot_name}",
                           caps=(Cap.per_day(cfg.max_per_day),),
                           counters={"bot_interactions": 1})]
