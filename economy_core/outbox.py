"""One paced outbound queue per channel: every PM and chat line the bot sends goes through here.

Rules (RELIABILITY 4, 5, 8): at most one send per ``min_gap_seconds`` per channel (the first goes at
once); replies before notifications before chat; text split into chunks of at most ``max_chars`` at
line breaks (then spaces, then anywhere), a reply's chunks kept together; notifications to one user
still waiting within ``merge_window_seconds`` merged into one PM; non-transactional notifications
dropped for quiet users and ending with the quiet hint; identical chat lines within 30 s dropped and
at most ``chat_per_minute`` chat lines per rolling minute. A send that fails (NATS down) is retried
every ``retry_seconds`` and never lost. Enqueueing is synchronous and never blocks.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

import attrs

REPLY, NOTIFY, CHAT = 0, 1, 2
CHAT_DEDUPE_SECONDS = 30.0


class Transport(Protocol):
    """Where the outbox hands messages (the NATS bus, or a recorder in tests)."""

    async def send_pm(self, channel: str, username: str, text: str) -> None: ...

    async def send_chat(self, channel: str, text: str) -> None: ...


def split_text(text: str, max_chars: int) -> list[str]:
    """Chunks of at most ``max_chars``: whole lines where possible, long lines at spaces."""
    chunks: list[str] = []
    current = ""
    for line in text.strip().splitlines():
        pieces = [line]
        if len(line) > max_chars:
            pieces = []
            rest = line
            while len(rest) > max_chars:
                cut = rest.rfind(" ", 0, max_chars + 1)
                if cut <= 0:
                    cut = max_chars
                pieces.append(rest[:cut].rstrip())
                rest = rest[cut:].lstrip()
            if rest:
                pieces.append(rest)
        for piece in pieces:
            candidate = f"{current}\n{piece}" if current else piece
            if len(candidate) <= max_chars:
                current = candidate
            else:
                if current:
                    chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    return [c for c in chunks if c.strip()]


@attrs.define
class _Message:
    priority: int
    to: str | None  # None = public chat
    text: str
    enqueued: float
    transactional: bool = False
    chunks: deque[str] = attrs.field(factory=deque)


class _ChannelQueue:
    def __init__(self) -> None:
        self.queues: tuple[deque[_Message], ...] = (deque(), deque(), deque())
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.last_send = -1e18
        self.chat_times: deque[float] = deque()
        self.recent_chat: dict[str, float] = {}
        self.busy = False

    def depth(self) -> int:
        return sum(len(q) for q in self.queues) + (1 if self.busy else 0)


class Outbox:
    """See the module docstring."""

    def __init__(self, transport: Transport, *, min_gap_seconds: float = 2.0,
                 max_chars: int = 240, merge_window_seconds: float = 1.0,
                 chat_per_minute: int = 10,
                 is_quiet: Callable[[str, str], bool] = lambda c, u: False,
                 quiet_hint: str = "(PM 'quiet' to mute these)", retry_seconds: float = 2.0,
                 on_depth: Callable[[int], None] | None = None,
                 log: logging.Logger | None = None) -> None:
        self._transport = transport
        self.min_gap = min_gap_seconds
        self.max_chars = max_chars
        self.merge_window = merge_window_seconds
        self.chat_per_minute = chat_per_minute
        self._is_quiet = is_quiet
        self.quiet_hint = quiet_hint
        self.retry_seconds = retry_seconds
        self._on_depth = on_depth
        self._log = log or logging.getLogger("economy_core.outbox")
        self._channels: dict[str, _ChannelQueue] = {}
        self._started = False
        self._idle = asyncio.Event()
        self._idle.set()

    # -- enqueueing -------------------------------------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _queue(self, channel: str) -> _ChannelQueue:
        q = self._channels.get(channel)
        if q is None:
            q = self._channels[channel] = _ChannelQueue()
            if self._started:
                q.task = asyncio.create_task(self._worker(channel, q),
                                             name=f"outbox-{channel}")
        return q

    def _push(self, channel: str, message: _Message) -> None:
        q = self._queue(channel)
        q.queues[message.priority].append(message)
        self._idle.clear()
        q.wake.set()
        self._report_depth()

    def reply(self, channel: str, username: str, text: str | Sequence[str]) -> None:
        """A reply to a command: sent before anything else waiting, never muted."""
        parts = [text] if isinstance(text, str) else list(text)
        for part in parts:
            if part and part.strip():
                self._push(channel, _Message(REPLY, username, part.strip(), self._now()))

    def notify(self, channel: str, username: str, text: str, *,
               transactional: bool = False) -> None:
        """An automated PM; quiet users miss it unless it is ``transactional``."""
        if not text or not text.strip():
            return
        if not transactional and self._is_quiet(channel, username):
            return
        now = self._now()
        q = self._queue(channel)
        for waiting in q.queues[NOTIFY]:
            if (waiting.to == username and not waiting.chunks
                    and waiting.transactional == transactional
                    and now - waiting.enqueued <= self.merge_window):
                waiting.text = f"{waiting.text}\n{text.strip()}"
                q.wake.set()
                return
        self._push(channel, _Message(NOTIFY, username, text.strip(), now, transactional))

    def chat(self, channel: str, text: str) -> None:
        """A public chat line (identical lines within 30 s are dropped)."""
        if not text or not text.strip():
            return
        q = self._queue(channel)
        now = self._now()
        last = q.recent_chat.get(text.strip())
        if last is not None and now - last < CHAT_DEDUPE_SECONDS:
            return
        q.recent_chat = {t: at for t, at in q.recent_chat.items()
                         if now - at < CHAT_DEDUPE_SECONDS}
        q.recent_chat[text.strip()] = now
        self._push(channel, _Message(CHAT, None, text.strip(), now))

    def depth(self) -> int:
        """Messages waiting (or being sent) across every channel."""
        return sum(q.depth() for q in self._channels.values())

    def _report_depth(self) -> None:
        if self._on_depth is not None:
            self._on_depth(self.depth())

    # -- sending --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._started = True
        for channel, q in self._channels.items():
            if q.task is None:
                q.task = asyncio.create_task(self._worker(channel, q), name=f"outbox-{channel}")

    def _next(self, q: _ChannelQueue) -> _Message | None:
        for queue in q.queues:
            if queue:
                return queue[0]
        return None

    def _prepare(self, channel: str, message: _Message) -> None:
        if message.chunks:
            return
        text = message.text
        if message.priority == NOTIFY and not message.transactional and self.quiet_hint:
            text = f"{text}\n{self.quiet_hint}"
        message.chunks.extend(split_text(text, self.max_chars))

    async def _wait_chat_budget(self, q: _ChannelQueue) -> None:
        while True:
            now = self._now()
            while q.chat_times and now - q.chat_times[0] >= 60.0:
                q.chat_times.popleft()
            if len(q.chat_times) < self.chat_per_minute:
                return
            await asyncio.sleep(60.0 - (now - q.chat_times[0]))

    async def _worker(self, channel: str, q: _ChannelQueue) -> None:
        outage = False
        while True:
            message = self._next(q)
            if message is None:
                q.wake.clear()
                self._check_idle()
                await q.wake.wait()
                continue
            q.busy = True
            self._prepare(channel, message)
            if message.priority == CHAT:
                await self._wait_chat_budget(q)
            wait = q.last_send + self.min_gap - self._now()
            if wait > 0:
                await asyncio.sleep(wait)
            chunk = message.chunks[0]
            try:
                if message.to is None:
                    await self._transport.send_chat(channel, chunk)
                else:
                    await self._transport.send_pm(channel, message.to, chunk)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not outage:
                    self._log.warning("sending to %s failed (%s); retrying every %.0f s, "
                                      "nothing is dropped", channel, exc, self.retry_seconds)
                    outage = True
                await asyncio.sleep(self.retry_seconds)
                continue
            if outage:
                self._log.info("sending to %s works again", channel)
                outage = False
            q.last_send = self._now()
            if message.priority == CHAT:
                q.chat_times.append(q.last_send)
            message.chunks.popleft()
            if not message.chunks:
                q.queues[message.priority].popleft()
            q.busy = False
            self._report_depth()

    def _check_idle(self) -> None:
        if self.depth() == 0:
            self._idle.set()

    async def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued was sent (True) or ``timeout`` passed (False)."""
        if self.depth() == 0:
            return True
        if not self._started:
            await self.start()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return self.depth() == 0

    async def close(self, timeout: float = 10.0) -> None:
        """Flush, then stop the workers."""
        await self.flush(timeout)
        for q in self._channels.values():
            if q.task is not None:
                q.task.cancel()
                try:
                    await q.task
                except asyncio.CancelledError:
                    pass
                q.task = None
        self._started = False
