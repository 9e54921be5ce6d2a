"""The announcer: every public chat line a plugin posts goes through here (SPEC §2.6).

A plugin declares the kinds of line it posts (``Contract(announcements=(Announcement(kind,
description, summary),))``) and posts them with ``await ctx.announcer.announce(channel, kind,
template, **values)``. For each line, in this order:

1. **Declared kinds.** A plugin may post only kinds its contract declares; anything else raises
   ValueError before anything is sent (a programming error, like an undeclared posting type).
2. **Gate.** A kind listed in ``[announcements] disabled`` is dropped (``announce`` returns
   False). ``enabled(kind)`` asks first, for a line worth checking before work is done (a paid
   shoutout is refused before it is charged).
3. **Template.** ``template.format(**values)``, the plugin's own wording from its config with
   fixed placeholders. The placeholders named in ``people`` (default: ``user``) hold user names
   and are shown as the ``economy_display_name`` hook answers (``alice [Night Owl]`` for a user
   with a title; the bare name when nobody answers). A template that fails to format is skipped
   with a warning and ``announce`` returns False — or ``fallback`` is posted instead when the
   plugin gives one. Never raises for a template.
4. **Duplicates.** A text identical to one posted in the same channel in the last 30 s (clock
   time) is dropped.
5. **Coalescing** (per channel and kind, ``[announcements] coalesce_seconds``, default 2 s of
   clock time): a line goes to the outbox at once when no line of its kind went out in the last
   ``coalesce_seconds``; otherwise it is held, and every line held for that kind goes out as ONE
   line, the texts joined by ``" | "``, when ``coalesce_seconds`` have passed since the kind's
   last line. A kind therefore sends at most one line per window: a burst of N lines becomes the
   first line at once plus one merged line. ``0`` sends every line at once. :meth:`flush` sends
   what is held immediately (``settle()`` in tests and demos, and at shutdown).
6. **Budget.** Lines go to the outbox's public chat: CyTube's limiter, at most
   ``outbox.chat_per_minute`` (10) lines a minute per channel, and a backlog beyond that folded
   into one "…and N more <summary>" line (the kind's declared summary noun), never queued for
   minutes.

Lines are not stored: a line held at a crash is lost, like any unsent chat line.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import attrs

from .clock import Clock
from .config import AnnouncementsConfig, CoreConfig
from .contract import Catalogue
from .outbox import CHAT_DEDUPE_SECONDS, Outbox
from .scheduler import Job, Scheduler
from .text import placeholders, render

JOINER = " | "
"""Between the texts of lines merged into one."""

DisplayName = Callable[[str, str], Awaitable[str | None]]
"""(channel, username) → the name to show, or None (the ``economy_display_name`` hook)."""


@attrs.define
class _Held:
    """One channel's kind: when its last line went out and what waits for the next window."""

    last_sent: float | None = None
    texts: list[str] = attrs.field(factory=list)
    job: Job | None = None


def unknown_kinds(config: CoreConfig, catalogue: Catalogue) -> list[str]:
    """Problems of ``[announcements] disabled`` against the declared kinds (empty: none)."""
    known = sorted(catalogue.announcements)
    problems = []
    for index, kind in enumerate(config.announcements.disabled):
        if kind not in catalogue.announcements:
            problems.append(
                f"announcements.disabled[{index}]: unknown announcement kind {kind!r} (kinds of "
                f"the enabled plugins: {', '.join(known) or 'none'})")
    return problems


class Announcer:
    """Posts the plugins' public lines (see the module docstring)."""

    def __init__(self, outbox: Outbox, scheduler: Scheduler, clock: Clock,
                 catalogue: Catalogue, settings: Callable[[], AnnouncementsConfig],
                 display_name: DisplayName, log: logging.Logger | None = None) -> None:
        """``settings`` is read at each line (it follows a config reload)."""
        self._outbox = outbox
        self._scheduler = scheduler
        self._clock = clock
        self._catalogue = catalogue
        self._settings = settings
        self._display_name = display_name
        self._log = log or logging.getLogger("economy_core.announcer")
        self._held: dict[tuple[str, str], _Held] = {}
        self._recent: dict[str, dict[str, float]] = {}

    # -- asking ---------------------------------------------------------------------------------

    def enabled(self, kind: str) -> bool:
        """Whether lines of ``kind`` go out (declared, and not switched off)."""
        return (kind in self._catalogue.announcements
                and kind not in self._settings().disabled)

    def owner_of(self, kind: str) -> str | None:
        """The plugin that declared ``kind`` (None: nobody)."""
        return self._catalogue.announcement_owner.get(kind)

    # -- posting --------------------------------------------------------------------------------

    async def announce(self, channel: str, kind: str, template: str, *,
                       people: Iterable[str] = ("user",), fallback: str | None = None,
                       values: dict[str, Any]) -> bool:
        """Render and post one line (steps 2–6 of the module docstring); True when it was
        sent or held for sending, False when the gate, a broken template or the duplicate
        rule dropped it."""
        if not self.enabled(kind):
            return False
        shown = dict(values)
        try:
            used = placeholders(template)
        except ValueError:
            used = set()
        for field in people:
            name = shown.get(field)
            if field in used and isinstance(name, str) and name:
                shown[field] = await self._name(channel, name)
        text = render(template, fallback if fallback is not None else "", **shown)
        if not text.strip():  # (a template that failed was logged by render)
            return False
        return self.post(channel, kind, text)

    def post(self, channel: str, kind: str, text: str) -> bool:
        """Post a finished line of ``kind`` (steps 2 and 4–6): the gate, the duplicate rule,
        coalescing, the outbox."""
        if not self.enabled(kind) or not text.strip():
            return False
        now = self._clock.now().timestamp()
        if self._duplicate(channel, text.strip(), now):
            self._log.debug("duplicate announcement dropped in %s: %r", channel, text)
            return False
        window = self._settings().coalesce_seconds
        state = self._held.setdefault((channel, kind), _Held())
        if window <= 0:
            self._send(channel, kind, text, now, state)
            return True
        if state.texts:
            state.texts.append(text)
            return True
        if state.last_sent is not None and 0 <= now - state.last_sent < window:
            state.texts.append(text)
            delay = state.last_sent + window - now

            async def due() -> None:
                self._release(channel, kind)

            state.job = self._scheduler.once(delay, due, name=f"announce:{channel}:{kind}",
                                             owner="core")
            return True
        self._send(channel, kind, text, now, state)
        return True

    def flush(self) -> None:
        """Send every held line now (settle, shutdown)."""
        for channel, kind in list(self._held):
            self._release(channel, kind)

    # -- internals ------------------------------------------------------------------------------

    async def _name(self, channel: str, username: str) -> str:
        try:
            answer = await self._display_name(channel, username)
        except Exception:
            self._log.exception("display name of %s failed", username)
            return username
        return answer if isinstance(answer, str) and answer.strip() else username

    def _duplicate(self, channel: str, text: str, now: float) -> bool:
        recent = self._recent.setdefault(channel, {})
        for old, at in list(recent.items()):
            if not 0 <= now - at < CHAT_DEDUPE_SECONDS:  # (a clock set back forgets too)
                del recent[old]
        if text in recent:
            return True
        recent[text] = now
        return False

    def _release(self, channel: str, kind: str) -> None:
        state = self._held.get((channel, kind))
        if state is None or not state.texts:
            return
        if state.job is not None:
            state.job.cancel()
            state.job = None
        text, state.texts = JOINER.join(state.texts), []
        self._send(channel, kind, text, self._clock.now().timestamp(), state)

    def _send(self, channel: str, kind: str, text: str, now: float, state: _Held) -> None:
        declared = self._catalogue.announcements.get(kind)
        summary = declared.summary if declared is not None else "announcements"
        self._outbox.chat(channel, text, summary=summary)
        state.last_sent = now


class PluginAnnouncer:
    """``ctx.announcer``: one plugin's side of the announcer (its declared kinds only)."""

    def __init__(self, announcer: Announcer, plugin: str) -> None:
        self._announcer = announcer
        self._plugin = plugin

    def _check(self, kind: str) -> None:
        owner = self._announcer.owner_of(kind)
        if owner != self._plugin:
            whose = "no plugin" if owner is None else f"plugin {owner!r}"
            raise ValueError(f"plugin {self._plugin!r} announces kind {kind!r}, which "
                             f"{whose} declared (Contract.announcements)")

    def enabled(self, kind: str) -> bool:
        """Whether lines of this plugin's ``kind`` go out now (the operator's gate)."""
        self._check(kind)
        return self._announcer.enabled(kind)

    async def announce(self, channel: str, kind: str, template: str, /, *,
                       people: Iterable[str] = ("user",), fallback: str | None = None,
                       **values: Any) -> bool:
        """Post one line of ``kind``: ``template`` filled with ``values``, the placeholders in
        ``people`` shown as display names (``{user}`` → ``alice [Night Owl]``). True when it
        was sent or held for sending; False when switched off, a duplicate, or the template
        failed (logged; ``fallback`` is posted instead when given). See
        :mod:`economy_core.announcer` for the whole contract."""
        self._check(kind)
        return await self._announcer.announce(channel, kind, template, people=people,
                                              fallback=fallback, values=values)
