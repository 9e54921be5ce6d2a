"""The one paced outbound queue: every PM and public chat line the economy sends goes through here.

Contract (per channel, one worker task each):

* **Pacing: CyTube's own limiter, mirrored.** CyTube gives the bot one limiter per channel,
  shared by its PMs and its public chat, and *drops* (does not delay) a message over it
  (:mod:`economy_core.ratelimit` has the algorithm). Each channel keeps a
  :class:`~economy_core.ratelimit.SendPlanner` and a chunk goes as soon as that planner says
  CyTube will accept it: after a quiet spell the first ``pm_limits.burst`` (20) messages go at
  once; beyond the burst one goes per ``1/pm_limits.sustained`` (0.1 s) plus ``margin_seconds``,
  except that a backlog long enough to be sent sooner that way (18 with the defaults; the
  sendable chunks of the channel) waits for the cooldown (2 s) plus
  ``cooldown_margin_seconds`` and goes as a fresh burst of 20 (about 9.5 a second, and only the
  first of each 20 depends on timing). The burst counts as restored only after the cooldown
  plus ``cooldown_margin_seconds`` without a message. PMs are checked with ``pm_limits``; a chat
  line too, unless ``chat_antiflood`` is given (the channel's antiflood is on) and
  ``bot_rank(channel)`` is not known to be >= 2 (moderator): then with ``chat_antiflood``. The
  margins must exceed the transit jitter between the bot and CyTube (a message delayed by more
  than that relative to the previous one can still be dropped by CyTube). Nothing else delays a
  message: a lone reply leaves at once. Pacing follows real monotonic time; a chunk counts as
  sent when the transport call returned.
* **Priority.** Replies first. Notifications and chat lines keep the order they were queued in
  (an announcement queued before a burst of PMs about it goes first), except that a chat line
  held back by the chat budget lets notifications pass (one held only by the CyTube limiter does
  not). A message that has begun sending finishes first: the chunks of one message stay
  consecutive. While the head waits for the limiter a message of higher priority that arrives
  takes its turn.
* **Splitting.** Text is cut into chunks of at most ``max_chars`` characters at line breaks; a
  single over-long line is cut at spaces, then hard. Each chunk is one send.
* **Merging.** A notification to a user who already has an unsent notification queued less than
  ``merge_window_seconds`` earlier joins it (texts joined by newlines, split as usual). Replies
  never merge; nothing merges across users or channels.
* **Quiet.** A non-transactional notification to a user for whom ``is_quiet(channel, user)`` is
  true when it is queued is dropped; the others get ``quiet_hint`` as their last line (once per
  merged PM). Replies and transactional notifications are never dropped and get no hint.
* **Chat.** A line identical to one queued in the same channel in the last 30 s is dropped. The
  room-politeness budget: at most ``chat_per_minute`` chat sends per rolling minute per channel.
  The chat queue never holds more than that budget (the most the next minute can send, in
  chunks): a line that would exceed it is folded into the last queued line, which becomes a
  summary ``…and N more <noun>`` (the nouns are the ``summary`` each caller gave, default
  "announcements"; several nouns: ``…and N more (<noun>: n, <noun>: n)``). So no chat line
  waits much more than a minute, and nothing is queued beyond it.
* **Time.** The rules about what was *queued* when — the 30 s duplicate window and the merge
  window — follow the injected ``clock`` (the economy's clock: under a test's FakeClock, a
  45-minute jump is 45 minutes). Pacing of real sends — the limiter, the chat budget, retries,
  the shutdown grace — is about the chat server's limits and follows real monotonic time.
  Without a ``clock`` everything follows monotonic time.
* **Failures.** A send that raises is retried every ``retry_seconds`` with the message kept at the
  head of its channel's queue: nothing is lost. One warning per outage, one line on recovery.
* **Close.** :meth:`Outbox.close` sends what it can for at most ``shutdown_seconds``, then stops
  the workers (a send in flight is abandoned). Replies and transactional notifications still
  unsent are handed to the ``store`` (when given; their unsent chunks, one row per message) and
  queued again, first in their channel, by the next :meth:`Outbox.start` (before the transport
  connects they simply wait and retry); a restored message's row is deleted once it is sent.
  Everything else still queued is dropped with one log line counting it. ``close`` returns within
  ``shutdown_seconds`` plus :data:`STORE_SECONDS`, whatever the transport does.
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
from .ratelimit import CYTUBE_PM, Limits, SendPlanner

CHAT_DEDUPE_SECONDS = 30.0
"""A chat line identical to one queued this recently (same channel) is dropped."""

_ORDER = itertools.count()

CHAT_BUDGET_WINDOW_SECONDS = 60.0
"""The rolling window of the chat budget."""

MODERATOR_RANK = 2
"""From this channel rank on CyTube checks a user's chat with the PM limits, never antiflood."""

DEFAULT_SUMMARY = "announcements"
"""The noun of a chat line folded into a summary when its caller named none."""

STORE_SECONDS = 0.5
"""How long :meth:`Outbox.close` waits for the store after the shutdown grace."""


class Transport(Protocol):
    """Where the outbox hands messages: the bus in production, a recorder in tests.

    Either method may raise (the connection is down); the outbox then retries the same message.
    A transport that connects after the outbox starts may also offer ``async
    first_connection()``, returning once it has been connected: nothing is tried before that
    (so start-up logs no "sending failed" for a connection that never existed yet).
    """

    async def send_pm(self, channel: str, username: str, text: str) -> None: ...

    async def send_chat(self, channel: str, text: str) -> None: ...


@attrs.frozen
class PendingMessage:
    """A PM kept across a restart: what is still to send of a reply or a transactional notice."""

    channel: str
    username: str
    text: str
    reply: bool
    """True for a reply, False for a transactional notification."""
    id: int | None = None
    """The store's row id (None before it is stored)."""


class PendingStore(Protocol):
    """Where unsent money PMs wait across a restart (:mod:`economy_core.outbox_store`)."""

    async def load(self) -> list[PendingMessage]:
        """Every stored message, oldest first."""
        ...

    async def save(self, messages: Sequence[PendingMessage], forget: Sequence[int]) -> None:
        """In one transaction: delete rows ``forget``, store ``messages``."""
        ...

    async def forget(self, ids: Sequence[int]) -> None:
        """Delete these rows (their messages were sent)."""
        ...


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


def summary_text(folded: dict[str, int]) -> str:
    """The line that stands for folded chat lines: ``…and 12 more challenge results``."""
    total = sum(folded.values())
    if len(folded) == 1:
        return f"…and {total} more {next(iter(folded))}"
    parts = ", ".join(f"{noun}: {count}" for noun, count in folded.items())
    return f"…and {total} more ({parts})"


@attrs.define
class _Message:
    """One logical message: its texts (several when merged) and the chunks still to send."""

    kind: Kind
    to: str | None
    texts: list[str]
    queued_at: float
    """Rule time (:meth:`Outbox._rule_time`) when queued."""
    hint: bool = False
    transactional: bool = False
    """A notification (or a part merged into it) about money moved by someone else."""
    summary: str = DEFAULT_SUMMARY
    """A chat line's noun when it is folded into a summary."""
    folded: dict[str, int] | None = None
    """Set when this chat slot has become a summary: noun → lines it stands for."""
    stored_id: int | None = None
    """The store's row of a message restored at start (deleted once sent)."""
    chunks: deque[str] = attrs.field(factory=deque)
    started: bool = False
    seq: int = attrs.field(factory=lambda: next(_ORDER))
    """Queueing order across kinds (a merged notification keeps its first place)."""

    @property
    def kept_at_close(self) -> bool:
        """Stored for the next start when still unsent at close (a reply or a money notice)."""
        return self.kind is Kind.REPLY or (self.kind is Kind.NOTIFY and self.transactional)


@attrs.define
class _Channel:
    """The queues and pacing state of one channel."""

    name: str
    planner: SendPlanner
    queues: tuple[deque[_Message], deque[_Message], deque[_Message]] = attrs.field(
        factory=lambda: (deque(), deque(), deque()))
    current: _Message | None = None
    wake: asyncio.Event = attrs.field(factory=asyncio.Event)
    chat_sends: deque[float] = attrs.field(factory=deque)
    """Monotonic times of recent chat sends (the chat budget)."""
    recent_chat: dict[str, float] = attrs.field(factory=dict)
    """Chat text → rule time it was last queued (the duplicate window)."""
    task: asyncio.Task[None] | None = None
    in_flight: bool = False

    def pending_chunks(self) -> int:
        total = len(self.current.chunks) if self.current is not None else 0
        return total + sum(len(m.chunks) for q in self.queues for m in q)

    def pending_chat_chunks(self) -> int:
        current = self.current
        total = len(current.chunks) if current is not None and current.kind is Kind.CHAT else 0
        return total + sum(len(m.chunks) for m in self.queues[Kind.CHAT])

    def unsent(self) -> list[_Message]:
        head = [self.current] if self.current is not None else []
        return head + [m for q in self.queues for m in q]


class Outbox:
    """One paced outbound queue per channel (see the module docstring for the contract)."""

    def __init__(self, transport: Transport, *, pm_limits: Limits = CYTUBE_PM,
                 chat_antiflood: Limits | None = None, margin_seconds: float = 0.02,
                 cooldown_margin_seconds: float = 0.1,
                 bot_rank: Callable[[str], int | None] = lambda channel: None,
                 chat_per_minute: int = 10, max_chars: int = 240,
                 merge_window_seconds: float = 1.0, shutdown_seconds: float = 1.0,
                 store: PendingStore | None = None,
                 is_quiet: Callable[[str, str], bool] = lambda c, u: False,
                 quiet_hint: str = "(PM 'quiet' to mute these)", retry_seconds: float = 2.0,
                 on_depth: Callable[[int], None] | None = None,
                 log: logging.Logger | None = None, clock: Clock | None = None) -> None:
        if max_chars < 20:
            raise ValueError("max_chars must be >= 20")
        if chat_per_minute < 1:
            raise ValueError("chat_per_minute must be >= 1")
        SendPlanner(margin_seconds, cooldown_margin_seconds)  # validates the margins
        self._transport = transport
        self._pm_limits = pm_limits
        self._antiflood = chat_antiflood
        self._margins = (margin_seconds, cooldown_margin_seconds)
        self._bot_rank = bot_rank
        self._max_chars = max_chars
        self._merge_window = max(0.0, merge_window_seconds)
        self._chat_per_minute = chat_per_minute
        self._shutdown = max(0.0, shutdown_seconds)
        self._store = store
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
        self._restored = False
        self._sent_stored: set[int] = set()
        """Rows of restored messages that were sent but whose deletion has not succeeded yet."""
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
                    and not msg.started and msg.stored_id is None
                    and now - msg.queued_at < self._merge_window):
                msg.texts.append(text)
                msg.hint = msg.hint or not transactional
                msg.transactional = msg.transactional or transactional
                self._rechunk(msg)
                self._changed(ch)
                return
        msg = _Message(Kind.NOTIFY, username, [text], now, hint=not transactional,
                       transactional=transactional)
        self._rechunk(msg)
        self._push(channel, msg)

    def chat(self, channel: str, text: str, *, summary: str = DEFAULT_SUMMARY) -> None:
        """A public chat line: dropped if identical to one queued in the last 30 s; folded into
        a summary line (``…and N more <summary>``) when the chat queue already holds what the
        next minute's budget can send."""
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
        noun = summary.strip() or DEFAULT_SUMMARY
        chunks = split_text(text, self._max_chars)
        queue = ch.queues[Kind.CHAT]
        if (not self._closed and queue
                and ch.pending_chat_chunks() + len(chunks) > self._chat_per_minute):
            self._fold(ch, queue[-1], noun)
            ch.recent_chat[key] = now
            return
        msg = _Message(Kind.CHAT, None, [text], now, summary=noun, chunks=deque(chunks))
        if self._push(channel, msg):
            ch.recent_chat[key] = now

    def depth(self) -> int:
        """Sends still to do (chunks), over every channel."""
        return self._depth

    # -- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Queue the messages the store kept at the last close (first in their channels), then
        start one worker per channel (channels that appear later get theirs at once)."""
        if self._store is not None and not self._restored:
            self._restored = True
            try:
                kept = await self._store.load()
            except Exception:
                self._log.exception("could not load the PMs kept at the last stop")
                kept = []
            self._restore(kept)
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

    async def close(self, timeout: float | None = None) -> None:
        """Send for at most ``timeout`` (default ``shutdown_seconds``), stop the workers, store
        the unsent replies and money notices, drop the rest (one log line); later messages
        are dropped."""
        grace = self._shutdown if timeout is None else max(0.0, timeout)
        if self._started:
            await self.flush(grace)
        self._closed = True
        self._started = False
        tasks = [ch.task for ch in self._channels.values() if ch.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        kept: list[PendingMessage] = []
        forget = set(self._sent_stored)
        notices = chat = 0
        for ch in self._channels.values():
            ch.task = None
            ch.in_flight = False
            for msg in ch.unsent():
                if msg.stored_id is not None:
                    forget.add(msg.stored_id)
                if msg.kept_at_close and msg.to is not None and msg.chunks:
                    kept.append(PendingMessage(ch.name, msg.to, "\n".join(msg.chunks),
                                               msg.kind is Kind.REPLY))
                elif msg.kind is Kind.CHAT:
                    chat += 1
                else:
                    notices += 1
            ch.current = None
            for queue in ch.queues:
                queue.clear()
            self._changed(ch)
        stored = await self._store_at_close(kept, sorted(forget))
        lost = len(kept) - stored
        if stored or notices or chat or lost:
            self._log.warning(
                "outbox closed: %d PM(s) kept for the next start; dropped %d notification(s), "
                "%d chat line(s)%s", stored, notices, chat,
                f" and {lost} reply/money PM(s) that could not be stored" if lost else "")

    async def _store_at_close(self, kept: list[PendingMessage], forget: list[int]) -> int:
        """Hand ``kept`` to the store (bounded by :data:`STORE_SECONDS`); how many it took."""
        if self._store is None or not (kept or forget):
            return 0
        try:
            await asyncio.wait_for(self._store.save(kept, forget), STORE_SECONDS)
        except Exception:
            self._log.exception("could not store %d unsent PM(s) for the next start", len(kept))
            return 0
        self._sent_stored.difference_update(forget)
        return len(kept)

    # -- internals --------------------------------------------------------------------------------

    def _channel(self, name: str) -> _Channel:
        ch = self._channels.get(name)
        if ch is None:
            ch = self._channels[name] = _Channel(name, SendPlanner(*self._margins))
        return ch

    def _restore(self, kept: list[PendingMessage]) -> None:
        """Queue messages kept at the last close ahead of everything queued so far."""
        by_channel: dict[str, list[_Message]] = {}
        now = self._rule_time()
        for index, pending in enumerate(kept):
            chunks = split_text(pending.text, self._max_chars)
            kind = Kind.REPLY if pending.reply else Kind.NOTIFY
            msg = _Message(kind, pending.username, [pending.text], now,
                           transactional=not pending.reply, stored_id=pending.id,
                           chunks=deque(chunks), seq=index - len(kept))
            if not chunks:
                if pending.id is not None:
                    self._sent_stored.add(pending.id)
                continue
            by_channel.setdefault(pending.channel, []).append(msg)
        for name, messages in by_channel.items():
            ch = self._channel(name)
            for msg in reversed(messages):
                ch.queues[msg.kind].appendleft(msg)
            self._changed(ch)
        if kept:
            self._log.info("%d PM(s) kept at the last stop queued again", len(kept))

    def _rechunk(self, msg: _Message) -> None:
        lines = list(msg.texts)
        if msg.hint and self._hint:
            lines.append(self._hint)
        msg.chunks = deque(split_text("\n".join(lines), self._max_chars))

    def _fold(self, ch: _Channel, slot: _Message, noun: str) -> None:
        """Fold one more chat line into ``slot`` (the last queued): it becomes a summary."""
        if slot.folded is None:
            slot.folded = {slot.summary: 1}
        slot.folded[noun] = slot.folded.get(noun, 0) + 1
        slot.texts = [summary_text(slot.folded)]
        slot.chunks = deque(split_text(slot.texts[0], self._max_chars))
        self._log.debug("chat backlog in %s: %s", ch.name, slot.texts[0])
        self._changed(ch)

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

    def _limits(self, ch: _Channel, msg: _Message) -> Limits:
        """The limiter options CyTube checks this message with."""
        if msg.to is not None or self._antiflood is None:
            return self._pm_limits
        try:
            rank = self._bot_rank(ch.name)
        except Exception:
            self._log.exception("bot_rank(%r) failed; assuming below moderator", ch.name)
            rank = None
        return self._pm_limits if rank is not None and rank >= MODERATOR_RANK \
            else self._antiflood

    def _chat_ready_at(self, ch: _Channel, now: float) -> float:
        while ch.chat_sends and now - ch.chat_sends[0] >= CHAT_BUDGET_WINDOW_SECONDS:
            ch.chat_sends.popleft()
        if len(ch.chat_sends) < self._chat_per_minute:
            return now
        return ch.chat_sends[0] + CHAT_BUDGET_WINDOW_SECONDS

    def _next(self, ch: _Channel, now: float) -> tuple[_Message | None, float | None]:
        """The message whose chunk goes next and the time it may go; (None, when to look again:
        None = on the next wake) when only chat held by the budget is waiting."""
        msg: _Message | None = None
        notes, chat = ch.queues[Kind.NOTIFY], ch.queues[Kind.CHAT]
        chat_held = bool(chat) and self._chat_ready_at(ch, now) > now
        if ch.current is not None:
            msg = ch.current
        elif ch.queues[Kind.REPLY]:
            msg = ch.queues[Kind.REPLY][0]
        else:
            if chat and (not notes or chat[0].seq < notes[0].seq):
                if not chat_held:
                    msg = chat[0]
                elif not notes:
                    return None, self._chat_ready_at(ch, now)
            if msg is None and notes:
                msg = notes[0]
        if msg is None:
            return None, None
        backlog = ch.pending_chunks()  # what may go now (chat held by the budget may not)
        if chat_held:
            backlog -= sum(len(m.chunks) for m in chat)
        return msg, ch.planner.ready_at(self._limits(ch, msg), now, backlog)

    async def _run(self, ch: _Channel) -> None:
        while True:
            if ch.pending_chunks() == 0:
                ch.wake.clear()
                self._update_idle()
                await ch.wake.wait()
                continue
            now = time.monotonic()
            msg, at = self._next(ch, now)
            if msg is None or at is None or at > now:
                ch.wake.clear()
                timeout = None if at is None else max(0.0, at - now)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ch.wake.wait(), timeout)
                continue
            if msg is not ch.current:
                ch.queues[msg.kind].popleft()
                ch.current = msg
                msg.started = True
            await self._send_head(ch, msg)

    async def _send_head(self, ch: _Channel, msg: _Message) -> None:
        """Send the message's next chunk, retrying until it goes; then account for it."""
        chunk = msg.chunks[0]
        limits = self._limits(ch, msg)
        first_connection = getattr(self._transport, "first_connection", None)
        if first_connection is not None:
            await first_connection()
        ch.in_flight = True
        try:
            while True:
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
            sent_at = time.monotonic()
            ch.planner.record(limits, sent_at)
            if self._failing:
                self._failing = False
                self._log.info("sending works again; %d message(s) waiting", self._depth - 1)
            if msg.kind is Kind.CHAT:
                ch.chat_sends.append(sent_at)
            msg.chunks.popleft()
            if not msg.chunks:
                ch.current = None
                if msg.stored_id is not None:
                    self._sent_stored.add(msg.stored_id)
        finally:
            ch.in_flight = False
            self._changed(ch)
        if msg.stored_id is not None and not msg.chunks:
            await self._forget_sent()

    async def _forget_sent(self) -> None:
        """Delete the rows of restored messages that were sent (kept for close on failure)."""
        if self._store is None or not self._sent_stored:
            return
        ids = sorted(self._sent_stored)
        try:
            await self._store.forget(ids)
        except Exception:
            self._log.exception("could not delete %d sent PM(s) from the store", len(ids))
            return
        self._sent_stored.difference_update(ids)
