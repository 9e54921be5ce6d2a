"""The one paced outbound queue: every PM and public chat line the economy sends goes through here.

Contract (per channel, one worker task each):

* **Pacing.** At most one send per ``min_gap_seconds`` per channel, measured in real monotonic
  time between the starts of two sends; the first message goes at once.
* **Priority.** Replies first. Notifications and chat lines keep the order they were queued in
  (an announcement queued before a burst of PMs about it goes first), except that a chat line
  held back by the chat budget lets notifications pass. A message that has begun sending
  finishes first: the chunks of one message stay consecutive.
* **Splitting.** Text is cut into chunks of at most ``max_chars`` characters at line breaks; a
  single over-long line is cut at spaces, then hard. Each chunk is one send.
* **Merging.** A notification to a user who already has an unsent notification queued less than
  ``merge_window_seconds`` earlier joins it (texts joined by newlines, split as usual).
* **Quiet.** A non-transactional notification to a user for whom ``is_quiet(channel, user)`` is
  true when it is queued is dropped; the others get ``quiet_hint`` as their last line (once per
  merged PM). Replies and transactional notifications are never dropped and get no hint.
* **Chat.** A line identical to one queued in the same channel in the last 30 s is dropped; at
  most ``chat_per_minute`` chat sends per rolling minute (the excess waits, it is not dropped).
* **Time.** The rules about what was *queued* when — the 30 s duplicate window and the merge
  window — follow the injected ``clock`` (the economy's clock: under a test's FakeClock, a
  45-minute jump is 45 minutes). Pacing of real sends — the gap between sends, the chat budget,
  retries — is about the chat server's limits and follows real monotonic time. Without a
  ``clock`` everything follows monotonic time.
* **Failures.** A send that raises is retried every ``retry_seconds`` with the message kept at the
  head of its channel's queue: nothing is lost. One warning per outage, one line on recovery.
* **Enqueueing** (:meth:`Outbox.reply`, :meth:`Outbox.notify`, :meth:`Outbox.chat`) is synchronous
  and never blocks; empty or whitespace-only text is ignored.

The module knows nothing of what the messages say: callers decide which kind a message is.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from enum import IntEnum
from typing import Protocol

import attrs

from .clock import Clock

CHAT_DEDUPE_SECONDS = 30.0
"""A chat line identical to one queued this recently (same channel) is dropped."""

_ORDER = itertools.count()

CHAT_BUDGET_WINDOW_SECONDS = 60.0
"""The rolling window of the chat budget."""


class Transport(Protocol):
    """Where the outbox hands messages: the bus in production, a recorder in tests.

    Either method may raise (the connection is down); the outbox then retries the same message.
    """

    async def send_pm(self, channel: str, username: str, text: str) -> None: ...

    async def send_chat(self, channel: str, text: str) -> None: ...


class Kind(IntEnum):
    """Message kinds in priority order (lower value goes first)."""

    REPLY = 0
    NOTIFY = 1
    CHAT = 2


def split_text(text: str, max_chars: int) -> list[str]:
    """Cut ``text`` into chunks of at most ``max_chars`` characters.

    Whole lines are packed greedily into chunks joined by newlines; a line longer than
    ``max_chars`` is cut at the last space that fits, else hard at ``max_chars``. Chunks are
    stripped of surrounding whitespace; whitespace-only chunks are dropped.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be >= 1")
    pieces: list[str] = []
    for line in text.split("\n"):
        line = line.rstrip()
        while len(line) > max_chars:
            cut = line.rfind(" ", 0, max_chars + 1)
            if cut <= 0:
                pieces.append(line[:max_chars])
                line = line[max_chars:]
            else:
                pieces.append(line[:cut].rstrip())
                line = line[cut + 1:].lstrip()
        pieces.append(line)
    chunks: list[str] = []
    current: str | None = None
    for piece in pieces:
        if current is None:
            current = piece
        elif len(current) + 1 + len(piece) <= max_chars:
            current = f"{current}\n{piece}"
        else:
            chunks.append(current)
            current = piece
    if current is not None:
        chunks.append(current)
    return [c.strip() for c in chunks if c.strip()]


@attrs.define
class _Message:
    """One logical message: its texts (several when merged) and the chunks still to send."""

    kind: Kind
    to: str | None
    texts: list[str]
    queued_at: float
    """Rule time (:meth:`Outbox._rule_time`) when queued."""
    hint: bool = False
    chunks: deque[str] = attrs.field(factory=deque)
    started: bool = False
    seq: int = attrs.field(factory=lambda: next(_ORDER))
    """Queueing order across kinds (a merged notification keeps its first place)."""


@attrs.define
class _Channel:
    """The queues and pacing state of one channel."""

    name: str
    queues: tuple[deque[_Message], deque[_Message], deque[_Message]] = attrs.field(
        factory=lambda: (deque(), deque(), deque()))
    current: _Message | None = None
    wake: asyncio.Event = attrs.field(factory=asyncio.Event)
    last_send: float | None = None
    chat_sends: deque[float] = attrs.field(factory=deque)
    """Monotonic start times of recent chat sends (the chat budget)."""
    recent_chat: dict[str, float] = attrs.field(factory=dict)
    """Chat text → rule time it was last queued (the duplicate window)."""
    task: asyncio.Task[None] | None = None
    in_flight: bool = False

    def pending_chunks(self) -> int:
        total = len(self.current.chunks) if self.current is not None else 0
        return total + sum(len(m.chunks) for q in self.queues for m in q)


class Outbox:
    """One paced outbound queue per channel (see the module docstring for the contract)."""

    def __init__(self, transport: Transport, *, min_gap_seconds: float = 2.0,
                 max_chars: int = 240, merge_window_seconds: float = 1.0,
                 chat_per_minute: int = 10,
                 is_quiet: Callable[[str, str], bool] = lambda c, u: False,
                 quiet_hint: str = "(PM 'quiet' to mute these)", retry_seconds: float = 2.0,
                 on_depth: Callable[[int], None] | None = None,
                 log: logging.Logger | None = None, clock: Clock | None = None) -> None:
        if max_chars < 20:
            raise ValueError("max_chars must be >= 20")
        if chat_per_minute < 1:
            raise ValueError("chat_per_minute must be >= 1")
        self._transport = transport
        self._gap = max(0.0, min_gap_seconds)
        self._max_chars = max_chars
        self._merge_window = max(0.0, merge_window_seconds)
        self._chat_per_minute = chat_per_minute
        self._is_quiet = is_quiet
        self._hint = quiet_hint.strip()
        self._retry = max(0.01, retry_seconds)
        self._on_depth = on_depth
        self._log = log or logging.getLogger("economy_core.outbox")
        self._clock = clock
        self._channels: dict[str, _Channel] = {}
        self._depth = 0
        self._started = False
        self._closed = False
        self._failing = False
        self._idle: asyncio.Event | None = None

    def _rule_time(self) -> float:
        """Seconds on the injected clock (monotonic time without one), for the queueing rules:
        the duplicate-chat window and the notification merge window."""
        if self._clock is None:
            return time.monotonic()
        return self._clock.now().timestamp()

    # -- enqueueing (sync, never blocks) ----------------------------------------------------------

    def reply(self, channel: str, username: str, text: str | Sequence[str]) -> None:
        """Answer a user's PM. A sequence is several replies, each split on its own; all their
        chunks are sent back to back. Never dropped, never hinted."""
        texts = [text] if isinstance(text, str) else list(text)
        chunks = [c for t in texts for c in split_text(t, self._max_chars)]
        if not chunks:
            return
        msg = _Message(Kind.REPLY, username, texts, self._rule_time(), chunks=deque(chunks))
        self._push(channel, msg)

    def notify(self, channel: str, username: str, text: str, *,
               transactional: bool = False) -> None:
        """An automated PM. Non-transactional ones are dropped for quiet users and carry the
        quiet hint; unsent notifications to the same user within the merge window are merged."""
        if not text.strip():
            return
        if not transactional and self._is_quiet(channel, username):
            return
        if self._closed:
            self._log.warning("outbox closed: notification to %s dropped", username)
            return
        now = self._rule_time()
        ch = self._channel(channel)
        for msg in ch.queues[Kind.NOTIFY]:
            if (msg.to is not None and msg.to.casefold() == username.casefold()
                    and not msg.started and now - msg.queued_at < self._merge_window):
                msg.texts.append(text)
                msg.hint = msg.hint or not transactional
                self._rechunk(msg)
                self._changed(ch)
                return
        msg = _Message(Kind.NOTIFY, username, [text], now, hint=not transactional)
        self._rechunk(msg)
        self._push(channel, msg)

    def chat(self, channel: str, text: str) -> None:
        """A public chat line: dropped if identical to one queued in the last 30 s; at most
        ``chat_per_minute`` per rolling minute (the excess waits)."""
        if not text.strip():
            return
        now = self._rule_time()
        ch = self._channel(channel)
        for old, at in list(ch.recent_chat.items()):
            if not 0 <= now - at < CHAT_DEDUPE_SECONDS:  # (a clock set back forgets too)
                del ch.recent_chat[old]
        key = text.strip()
        if key in ch.recent_chat:
            self._log.debug("duplicate chat line dropped in %s: %r", channel, key)
            return
        chunks = split_text(text, self._max_chars)
        msg = _Message(Kind.CHAT, None, [text], now, chunks=deque(chunks))
        if self._push(channel, msg):
            ch.recent_chat[key] = now

    def depth(self) -> int:
        """Sends still to do (chunks), over every channel."""
        return self._depth

    # -- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start one worker per channel (channels that appear later get theirs at once)."""
        self._started = True
        self._closed = False
        self._idle_event()
        for ch in self._channels.values():
            self._ensure_worker(ch)
        self._update_idle()

    async def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued message is sent: True, or False when ``timeout`` passed."""
        self._update_idle()
        try:
            await asyncio.wait_for(self._idle_event().wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 10.0) -> None:
        """Flush (up to ``timeout``), then stop the workers; later messages are dropped."""
        if self._started:
            flushed = await self.flush(timeout)
            if not flushed:
                self._log.warning("outbox closing with %d unsent message(s)", self._depth)
        self._closed = True
        self._started = False
        tasks = [ch.task for ch in self._channels.values() if ch.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for ch in self._channels.values():
            ch.task = None

    # -- internals --------------------------------------------------------------------------------

    def _channel(self, name: str) -> _Channel:
        ch = self._channels.get(name)
        if ch is None:
            ch = self._channels[name] = _Channel(name)
        return ch

    def _rechunk(self, msg: _Message) -> None:
        lines = list(msg.texts)
        if msg.hint and self._hint:
            lines.append(self._hint)
        msg.chunks = deque(split_text("\n".join(lines), self._max_chars))

    def _push(self, channel: str, msg: _Message) -> bool:
        if self._closed:
            self._log.warning("outbox closed: message to %s dropped", msg.to or channel)
            return False
        if not msg.chunks:
            return False
        ch = self._channel(channel)
        ch.queues[msg.kind].append(msg)
        self._changed(ch)
        if self._started:
            self._ensure_worker(ch)
        return True

    def _changed(self, ch: _Channel) -> None:
        depth = sum(c.pending_chunks() for c in self._channels.values())
        if depth != self._depth:
            self._depth = depth
            if self._on_depth is not None:
                try:
                    self._on_depth(depth)
                except Exception:  # a metrics callback must not break sending
                    self._log.exception("on_depth callback failed")
        ch.wake.set()
        self._update_idle()

    def _idle_event(self) -> asyncio.Event:
        if self._idle is None:
            self._idle = asyncio.Event()
        return self._idle

    def _update_idle(self) -> None:
        if self._idle is None:
            return
        busy = self._depth > 0 or any(c.in_flight for c in self._channels.values())
        if busy:
            self._idle.clear()
        else:
            self._idle.set()

    def _ensure_worker(self, ch: _Channel) -> None:
        if ch.task is None or ch.task.done():
            ch.task = asyncio.create_task(self._run(ch), name=f"outbox-{ch.name}")

    def _chat_ready_at(self, ch: _Channel, now: float) -> float:
        while ch.chat_sends and now - ch.chat_sends[0] >= CHAT_BUDGET_WINDOW_SECONDS:
            ch.chat_sends.popleft()
        if len(ch.chat_sends) < self._chat_per_minute:
            return now
        return ch.chat_sends[0] + CHAT_BUDGET_WINDOW_SECONDS

    def _pick(self, ch: _Channel, now: float) -> tuple[_Message | None, float | None]:
        """The message to send next, or (None, when to look again: None = on the next wake)."""
        if ch.current is not None:
            return ch.current, None
        if ch.queues[Kind.REPLY]:
            return ch.queues[Kind.REPLY].popleft(), None
        notes, chat = ch.queues[Kind.NOTIFY], ch.queues[Kind.CHAT]
        ready = self._chat_ready_at(ch, now) if chat else None
        if chat and ready is not None and ready <= now and (not notes
                                                            or chat[0].seq < notes[0].seq):
            return chat.popleft(), None
        if notes:
            return notes.popleft(), None
        return None, ready

    async def _run(self, ch: _Channel) -> None:
        while True:
            if ch.pending_chunks() == 0:
                ch.wake.clear()
                self._update_idle()
                await ch.wake.wait()
                continue
            if ch.last_send is not None:
                wait = ch.last_send + self._gap - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            now = time.monotonic()
            msg, again_at = self._pick(ch, now)
            if msg is None:
                ch.wake.clear()
                timeout = None if again_at is None else max(0.0, again_at - now)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ch.wake.wait(), timeout)
                continue
            ch.current = msg
            msg.started = True
            await self._send_head(ch, msg)

    async def _send_head(self, ch: _Channel, msg: _Message) -> None:
        """Send the message's next chunk, retrying until it goes; then account for it."""
        chunk = msg.chunks[0]
        ch.in_flight = True
        try:
            while True:
                ch.last_send = time.monotonic()
                try:
                    if msg.to is None:
                        await self._transport.send_chat(ch.name, chunk)
                    else:
                        await self._transport.send_pm(ch.name, msg.to, chunk)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not self._failing:
                        self._failing = True
                        self._log.warning(
                            "sending failed (%s: %s); holding %d message(s), retrying every "
                            "%g s", type(exc).__name__, exc, self._depth, self._retry)
                    await asyncio.sleep(self._retry)
                    continue
                break
            if self._failing:
                self._failing = False
                self._log.info("sending works again; %d message(s) waiting", self._depth - 1)
            if msg.kind is Kind.CHAT:
                ch.chat_sends.append(ch.last_send)
            msg.chunks.popleft()
            if not msg.chunks:
                ch.current = None
        finally:
            ch.in_flight = False
            self._changed(ch)
