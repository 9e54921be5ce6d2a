"""The extension point for earning triggers: how a public chat line looks to a trigger, what a
trigger answers, and the protocol every trigger implements.

A plugin that runs a chat pipeline collects :class:`EarningTrigger` objects from every plugin
through the ``economy_earning_triggers`` hook at start-up and asks each of them about every public
chat line from a human. Built-in and third-party triggers are treated alike. The pipeline promises
each trigger:

- **State before the line.** :class:`ChatContext` describes the channel as it was before this line
  (who is present, the previous speaker, what plays); the line's own effects are recorded only
  after every trigger has answered.
- **Isolation.** A trigger that raises is logged and counted; the other triggers still run and the
  line is still counted.
- **Nobody paid who must not be.** Hits naming the bot, an ignored user or a banned user are
  dropped, and so are hits that would pay a user because of themselves: the paid user and the
  ``related_user``, or the paid user and the line's sender, being the same person (alias-aware).
- **Caps.** Every :class:`Cap` of a hit is taken from the ledger's cap store (per paid user, kept
  across restarts); if one is exhausted, the hit pays nothing and counts nothing.
- **Activity pay.** ``amount`` is a base amount: multipliers apply and fractions accumulate per
  (user, trigger), so 0.5 per line pays 1 every second line. ``trigger_id`` is written on the
  ledger posting and in the trigger analytics.

Triggers must be cheap (they run on every line) and must not move money themselves.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

import attrs

from .events import user_key

Window = timedelta | Literal["day"]
"""A cap's window: a rolling duration, or ``"day"`` (until the channel's day changes)."""


def _window_valid(_instance: object, _attribute: object, value: Any) -> None:
    if value == "day":
        return
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ValueError(f"a cap window is a positive timedelta or 'day', not {value!r}")


def _count_valid(_instance: object, _attribute: object, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"a cap's max_count is an int >= 1, not {value!r}")


@attrs.frozen
class Cap:
    """At most ``max_count`` paid hits per ``window`` for the paid user.

    The cap's key is the hit's trigger id, plus ``scope`` when given (for example the other
    user's key, to cap "A rewards B" per pair rather than per B).
    """

    max_count: int = attrs.field(validator=_count_valid)
    window: Window = attrs.field(validator=_window_valid)
    scope: str = ""

    @classmethod
    def per_hour(cls, max_count: int, scope: str = "") -> Cap:
        """At most ``max_count`` per rolling hour."""
        return cls(max_count, timedelta(hours=1), scope)

    @classmethod
    def per_day(cls, max_count: int, scope: str = "") -> Cap:
        """At most ``max_count`` per channel day."""
        return cls(max_count, "day", scope)

    def key(self, trigger_id: str) -> str:
        """The cap-store key of this cap for ``trigger_id``."""
        return f"{trigger_id}:{self.scope}" if self.scope else trigger_id


@attrs.frozen
class TriggerHit:
    """One payment a trigger asks for.

    ``username`` is paid ``amount`` (a base amount, >= 0; 0 pays nothing but still counts);
    ``related_user`` is the other person involved (the laugher, the kudos giver), recorded on the
    posting. ``counters`` are daily activity counters added to the paid user and
    ``related_counters`` to the related user, both only when the hit gets past its caps.
    """

    username: str
    amount: float
    trigger_id: str
    related_user: str | None = None
    reason: str = ""
    caps: tuple[Cap, ...] = ()
    counters: Mapping[str, int] = attrs.field(factory=dict, hash=False)
    related_counters: Mapping[str, int] = attrs.field(factory=dict, hash=False)

    def problem(self) -> str | None:
        """Why this hit cannot be paid as it stands (None when it is well formed)."""
        if not isinstance(self.username, str) or not user_key(self.username) \
                or len(self.username) > 100:
            return f"bad username {self.username!r}"
        if self.related_user is not None and (not isinstance(self.related_user, str)
                                              or not user_key(self.related_user)
                                              or len(self.related_user) > 100):
            return f"bad related_user {self.related_user!r}"
        if isinstance(self.amount, bool) or not isinstance(self.amount, int | float) \
                or not math.isfinite(self.amount) or self.amount < 0:
            return f"bad amount {self.amount!r}"
        if not isinstance(self.trigger_id, str) or not self.trigger_id \
                or len(self.trigger_id) > 100 or any(c.isspace() for c in self.trigger_id):
            return f"bad trigger_id {self.trigger_id!r}"
        if not isinstance(self.reason, str) or len(self.reason) > 200:
            return f"bad reason {self.reason!r} (a str of at most 200 characters)"
        for cap in self.caps:
            if not isinstance(cap, Cap) or len(cap.key(self.trigger_id)) > 200:
                return f"bad cap {cap!r}"
        for counters in (self.counters, self.related_counters):
            for name, by in counters.items():
                if not isinstance(name, str) or not name or len(name) > 100 \
                        or isinstance(by, bool) or not isinstance(by, int) or by < 1:
                    return f"bad counter {name!r}={by!r}"
        return None


@attrs.frozen
class PlayingMedia:
    """The item that started playing last (as the channel announced it)."""

    media_type: str
    media_id: str
    title: str
    duration_s: int
    started_at: datetime

    def playing_at(self, at: datetime) -> bool:
        """Still playing at ``at`` (an item without a duration, a live stream, plays on)."""
        if self.duration_s <= 0:
            return True
        return at < self.started_at + timedelta(seconds=self.duration_s)


async def _same_name(a: str, b: str) -> bool:
    return user_key(a) == user_key(b)


@attrs.frozen
class ChatContext:
    """A public chat line and the channel as it was just before it.

    ``present`` maps the user key of everyone in the room (the bot and ignored users excluded) to
    their display name; ``last_speaker``/``last_line_at`` describe the previous human line, if any
    since start-up; ``media`` is what plays (None when unknown). ``day`` is the channel-local day
    of ``at``. ``same_person(a, b)`` is the alias-aware identity check.
    """

    channel: str
    username: str
    text: str
    at: datetime
    day: date
    present: Mapping[str, str]
    last_speaker: str | None = None
    last_line_at: datetime | None = None
    media: PlayingMedia | None = None
    raw: str = ""
    same_person: Callable[[str, str], Awaitable[bool]] = _same_name

    @property
    def sender_key(self) -> str:
        return user_key(self.username)

    def is_present(self, name: str) -> bool:
        return user_key(name) in self.present


@runtime_checkable
class EarningTrigger(Protocol):
    """A rule that may pay for a chat line; see the module docstring for what the pipeline
    guarantees around it."""

    @property
    def trigger_id(self) -> str:
        """The main trigger id (dotted, e.g. ``"keyword.said"``): analytics and listings."""
        ...

    def describe(self) -> str | None:
        """One line for the ``rewards`` listing, or None to stay hidden (hidden triggers are
        only counted in a "more to discover" hint)."""
        ...

    async def check(self, ctx: ChatContext) -> Sequence[TriggerHit]:
        """The payments this line earns (usually none). Must not move money or keep a reference
        to ``ctx`` beyond the call."""
        ...


__all__ = ["Cap", "ChatContext", "EarningTrigger", "PlayingMedia", "TriggerHit", "Window"]
