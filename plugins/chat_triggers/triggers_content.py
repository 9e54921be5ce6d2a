"""Triggers about what plays: first line after a media change, comments during media, and the
content rewards that are not chat lines (PM ``like``, watching an item to its end, being here
when an event starts)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from economy_core import Cap, ChatContext, TriggerHit

from .base import Builtin
from .state import MediaItem


class FirstAfterMediaChange(Builtin):
    """The first line at most ``window_seconds`` after a media change; one claimant (any line
    consumes the slot, see the pipeline)."""

    trigger_id = "chat.first_after_media_change"
    section = "first_after_media_change"

    def text(self) -> str:
        cfg = self.cfg
        return (f"First to comment within {cfg.window_seconds} s of a new item: "
                f"{self.shared.amount(cfg.reward)}")

    async def check(self, ctx: ChatContext) -> Sequence[TriggerHit]:
        item = self.shared.state(ctx).media
        if item is None or item.first_claimed:
            return ()
        if ctx.at - item.info.started_at > timedelta(seconds=self.cfg.window_seconds):
            return ()
        return (TriggerHit(ctx.username, self.cfg.reward, self.trigger_id,
                           reason=f"first comment on {item.info.title}"[:200]),)


def comment_cap(base: int, duration_s: int, scale: bool) -> int:
    """Lines paid per user per item: ``base``, or max(base, floor(base x minutes / 30))."""
    if not scale or duration_s <= 0:
        return base
    return max(base, base * duration_s // 1800)


class CommentDuringMedia(Builtin):
    """Each line while an item plays, up to a per-user, per-item cap (kept with the item)."""

    trigger_id = "content.comment_during_media"
    section = "comment_during_media"

    def text(self) -> str:
        cfg = self.cfg
        return (f"Chatting while something plays: {self.shared.amount(cfg.reward_per_message)} "
                f"a line (up to {cfg.max_per_item_base} lines per item"
                + (", more for long ones)" if cfg.scale_with_duration else ")"))

    async def check(self, ctx: ChatContext) -> Sequence[TriggerHit]:
        cfg = self.cfg
        item = self.shared.state(ctx).media
        if item is None or not item.info.playing_at(ctx.at):
            return ()
        cap = comment_cap(cfg.max_per_item_base, item.info.duration_s, cfg.scale_with_duration)
        if item.comments.get(ctx.sender_key, 0) >= cap:
            return ()
        return (TriggerHit(ctx.username, cfg.reward_per_message, self.trigger_id,
                           reason="comment during media"),)

    def after(self, ctx: ChatContext, hits: Sequence[TriggerHit]) -> None:
        item = self.shared.state(ctx).media
        if hits and item is not None:
            item.comments[ctx.sender_key] = item.comments.get(ctx.sender_key, 0) + 1


class LikeCurrent(Builtin):
    """PM ``like`` while an item plays: once per user per item (the command lives in the
    plugin; this object lists it and names its trigger)."""

    trigger_id = "content.like_current"
    section = "like_current"

    def text(self) -> str:
        return f"PM 'like' while something plays: {self.shared.amount(self.cfg.reward)}"


class SurvivedFullMedia(Builtin):
    """At a media change: everyone present at the previous item's start and still present, if it
    had a duration and played at least ``min_presence_percent`` % of it."""

    trigger_id = "content.survived_full_media"
    section = "survived_full_media"

    def text(self) -> str:
        return f"Watching an item from start to end: {self.shared.amount(self.cfg.reward)}"

    def hits(self, item: MediaItem, present: dict[str, str], at: datetime) -> list[TriggerHit]:
        cfg = self.cfg
        info = item.info
        if not cfg.enabled or info.duration_s <= 0:
            return []
        if (at - info.started_at).total_seconds() * 100 < cfg.min_presence_percent \
                * info.duration_s:
            return []
        reason = f"watched {info.title}"[:200]
        return [TriggerHit(present[key], cfg.reward, self.trigger_id, reason=reason)
                for key in sorted(item.present_at_start) if key in present]


class PresentAtEventStart(Builtin):
    """When an occasion (an event) starts: everyone present gets its reward (the occasion's own,
    else ``default_reward``; an occasion's reward of 0 pays nothing — the events plugin sends 0
    because it pays its presence pot itself). Once per occasion start: each hit carries a
    one-per-day cap scoped to (name, start instant), so a repeated announcement — also after a
    restart — pays nothing."""

    trigger_id = "content.present_at_event_start"
    section = "present_at_event_start"

    def text(self) -> str:
        return f"Being here when an event starts: {self.shared.amount(self.cfg.default_reward)}"

    def hits(self, name: str, at: datetime, reward: int | None,
             present: dict[str, str]) -> list[TriggerHit]:
        cfg = self.cfg
        amount = cfg.default_reward if reward is None else reward
        if not cfg.enabled or amount <= 0:
            return []
        occasion = hashlib.sha256(f"{name}\n{at.isoformat()}".encode()).hexdigest()[:24]
        cap = Cap.per_day(1, scope=occasion)
        reason = f"here when {name} started"[:200]
        return [TriggerHit(present[key], float(amount), self.trigger_id, reason=reason,
                           caps=(cap,)) for key in sorted(present)]
