"""A Python mirror of CyTube's own message limiter, used two ways.

CyTube (``src/utilities.js`` ``newRateLimiter``, ``src/channel/chat.js``) gives every user, the bot
included, ONE limiter ``{count, lastTime}`` per connection, shared by PMs and public chat. Each
message is checked with options ``{burst, sustained, cooldown}`` (cooldown defaults to
burst/sustained seconds); times are integer milliseconds (``Date.now()``)::

    if lastTime < now - cooldown*1000:   allow; count = 1; lastTime = now      (cooled down)
    elif count < burst:                  allow; count += 1; lastTime = now     (within the burst)
    elif now - lastTime < 1000/sustained: DROP (nothing changes)
    else:                                allow; lastTime = now                 (sustained rate)

A PM is always checked with ``{burst: 20, sustained: 10}`` (:data:`CYTUBE_PM`). A public chat
line uses the same, unless the channel's ``chat_antiflood`` option is on and the sender's channel
rank is below 2; then the channel's ``chat_antiflood_params`` (default burst 4, sustained 1,
cooldown 4: :data:`CYTUBE_ANTIFLOOD_DEFAULT`; CyTube caps them at 20 and 10). A dropped message
is lost (the sender gets a ``cooldown`` event that kryten-robot does not forward).

* :class:`CyTubeLimiter` is the exact mirror (integer ms, drop and count): the robot stand-in
  judges the bot's sends with it, as CyTube would.
* :class:`SendPlanner` plans sends for the outbox: :meth:`SendPlanner.ready_at` is the earliest
  time the next message with given :class:`Limits` may go, never earlier than CyTube would accept
  it even when transit delays a message by up to a margin (minus 1 ms for CyTube's integer clock)
  more than the previous one. Within the burst a message goes at once; beyond it, one per
  ``1/sustained + margin``, or — for a backlog long enough that this is faster — the planner
  waits ``cooldown + cooldown_margin`` and sends a fresh burst (20 per 2.1 s instead of one per
  0.12 s; only the first message of each burst depends on timing, with the larger margin). It
  counts a burst as restored only after ``cooldown + cooldown_margin`` of silence, and keeps
  ``margin`` between two messages checked with different options (so transit cannot swap
  them). Its state is the limiter's state as CyTube sees it at worst (the count CyTube keeps is
  never above the planner's), so every message it lets go is accepted (checked against the
  exact limiter by a property test in ``tests/test_outbox.py``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import attrs


def _positive(_instance: Any, attribute: Any, value: Any) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value}")


@attrs.frozen
class Limits:
    """One set of CyTube limiter options."""

    burst: int = attrs.field(validator=_positive)
    """Messages allowed back to back after a cooldown."""
    sustained: float = attrs.field(validator=_positive)
    """Messages per second once the burst is used up (gap = 1/sustained)."""
    cooldown: float | None = None
    """Seconds of silence that restore the burst; None = burst/sustained (CyTube's default)."""

    @property
    def cooldown_seconds(self) -> float:
        return self.cooldown if self.cooldown is not None else self.burst / self.sustained

    @property
    def gap_seconds(self) -> float:
        return 1.0 / self.sustained


CYTUBE_PM = Limits(20, 10.0)
"""CyTube's limit for every PM, and for public chat of a moderator or with antiflood off."""

CYTUBE_ANTIFLOOD_DEFAULT = Limits(4, 1.0, 4.0)
"""CyTube's default ``chat_antiflood_params`` (public chat below moderator, antiflood on)."""

CYTUBE_ANTIFLOOD_MAX = Limits(20, 10.0)
"""CyTube caps a channel's antiflood burst at 20 and its sustained rate at 10."""


_EPSILON = 1e-6
"""Float slack in comparing a time the planner computed with the same sum again (far below the
1 ms of CyTube's clock that every margin already includes)."""


def _wall_ms() -> int:
    return int(time.time() * 1000)


class CyTubeLimiter:
    """The exact limiter (CyTube's ``newRateLimiter``): :meth:`throttle` answers True when the
    message is dropped, as the JavaScript does, and counts it in ``dropped``."""

    def __init__(self, now_ms: Callable[[], int] = _wall_ms) -> None:
        self._now_ms = now_ms
        self.count = 0
        self.last_time = 0
        """``lastTime`` in ms (0 before the first message, as in CyTube)."""
        self.dropped = 0
        self.allowed = 0

    def throttle(self, limits: Limits, now_ms: int | None = None) -> bool:
        """Judge one message: False = accepted (state updated), True = dropped."""
        now = self._now_ms() if now_ms is None else now_ms
        if self.last_time < now - limits.cooldown_seconds * 1000:
            self.count = 1
            self.last_time = now
        elif self.count < limits.burst:
            self.count += 1
            self.last_time = now
        elif now - self.last_time < 1000 / limits.sustained:
            self.dropped += 1
            return True
        else:
            self.last_time = now
        self.allowed += 1
        return False


class SendPlanner:
    """When may the next message go (see the module docstring)? Times are seconds on any
    monotonic clock. ``margin`` is added to the gap between two messages beyond the burst,
    ``cooldown_margin`` to the silence after which the burst counts as restored; each must
    exceed the transit jitter (how much later one message may arrive than the previous, relative
    to when they were sent) plus 1 ms."""

    def __init__(self, margin: float = 0.02, cooldown_margin: float = 0.1) -> None:
        for name, value in (("margin", margin), ("cooldown_margin", cooldown_margin)):
            if not value >= 0 or math.isinf(value):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        self.margin = margin
        self.cooldown_margin = cooldown_margin
        self.count = 0
        self.last: float | None = None
        """When the last message went (None: none yet)."""
        self.last_limits: Limits | None = None

    def _cooled(self, limits: Limits, at: float) -> bool:
        """True when CyTube is sure to see a cooldown before a message sent at ``at``."""
        return (self.last is None
                or at - self.last >= limits.cooldown_seconds + self.cooldown_margin - _EPSILON)

    def block_threshold(self, limits: Limits) -> float:
        """The backlog from which, once the burst is used, waiting for the cooldown and sending
        a fresh burst finishes sooner than one message per gap (infinite when never)."""
        cooldown = limits.cooldown_seconds + self.cooldown_margin
        step = limits.gap_seconds + self.margin
        needed = math.ceil(cooldown / step - 1e-9)
        return needed if needed <= limits.burst else math.inf

    def ready_at(self, limits: Limits, now: float, backlog: int = 1) -> float:
        """The earliest time >= ``now`` a message checked with ``limits`` may be sent, with
        ``backlog`` messages (this one included) waiting to go.

        Within the burst: at once. Beyond it: one per gap, or — when the backlog reaches
        :meth:`block_threshold` — after the cooldown, as the first of a fresh burst (faster for a
        long backlog, and only the first message of each burst depends on the timing)."""
        if self.last is None:
            return now
        # Messages checked with other options (a PM after a chat line under antiflood) keep the
        # margin between them: transit cannot swap them, which could change their verdicts.
        # Messages with the same options may swap: CyTube counts them alike.
        earliest = now if limits == self.last_limits else max(now, self.last + self.margin)
        if self._cooled(limits, earliest) or self.count < limits.burst:
            return earliest
        cooled_at = self.last + limits.cooldown_seconds + self.cooldown_margin
        if backlog >= self.block_threshold(limits):
            return max(earliest, cooled_at)
        return max(earliest, min(self.last + limits.gap_seconds + self.margin, cooled_at))

    def record(self, limits: Limits, at: float) -> None:
        """A message checked with ``limits`` went at ``at`` (it must not be earlier than
        :meth:`ready_at` said)."""
        if self._cooled(limits, at):
            self.count = 1
        elif self.count < limits.burst:
            self.count += 1
        self.last = at
        self.last_limits = limits
