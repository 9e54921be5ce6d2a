"""The bus adapter: kryten-py's ``KrytenClient`` in, typed core events out; PMs and chat out.

It only translates and sends (no business logic). The one door for inbound events:

- drops the bot's own events, ignored users, shadow-muted chat, CyTube's ``[server]`` lines,
  channels not configured, and the
  chat lines CyTube replays after a robot restart (older than our start or the robot's restart,
  or already seen: same user, time and text);
- unescapes CyTube's HTML and reduces ``<a href>`` links to their URL;
- tells the bot's own chat lines apart: the echo of a line the economy sent (matched against
  what it sent in the last two minutes) is dropped; any other line from the bot's account is
  another service speaking through the same robot and becomes a :class:`RelayedChat`;
- queues events and hands them to ``sink`` one at a time, in arrival order (kryten-py runs
  handlers as concurrent tasks; each handler only appends to the queue, synchronously);
- reads the robot's KV playlist on request (:meth:`KrytenBus.playlist`);
- seeds the room from the robot's KV userlist after connecting and whenever the robot announces
  a restart (``kryten.lifecycle.robot.startup``), and re-announces our own service then;
- answers request-reply subjects registered with :meth:`KrytenBus.serve` (the economy's API): each
  request is handled in its own task, never through the event queue, so replies go out while
  events are being handled; a message without a reply subject is ignored.

NATS absent at start: one clear log line, then retries every ``retry_seconds``. NATS restarting
mid-run: kryten-py (nats-py) reconnects; sends in the gap raise, and the outbox retries them.
kryten-py's own chat throttle is set to 0 deliberately: the outbox owns pacing (WIRE.md).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from .clock import Clock
from .events import (
    AfkChanged,
    BotRankChanged,
    ChatMessage,
    Event,
    MediaChanged,
    PrivateMessage,
    RankChanged,
    RelayedChat,
    RoomSnapshot,
    RoomUser,
    UserJoined,
    UserLeft,
    user_key,
)

Sink = Callable[[Event], Awaitable[Any]]
Responder = Callable[[bytes], Awaitable[dict[str, Any]]]
"""Answers one request's raw bytes with the reply to send back (JSON-encoded by the bus)."""

ROBOT_STARTUP = "kryten.lifecycle.robot.startup"
ROBOT_COMMANDS = "kryten.robot.command"
ROBOT_WAIT_SECONDS = 10
MAX_REQUESTS_IN_FLIGHT = 64
"""Requests on served subjects handled at once; more wait for a free slot."""
REPLAY_SLACK = timedelta(seconds=2)
_LINK = re.compile(r"<a\s[^>]*?href=\"([^\"]*)\"[^>]*>.*?</a>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


_CONNECTION_WORDS = ("eof", "connection", "closed", "refused", "reset", "timed out", "timeout",
                     "broken pipe", "stale")


def _is_connection_error(reason: str) -> bool:
    lowered = reason.lower()
    return any(word in lowered for word in _CONNECTION_WORDS)


def _int(value: Any) -> int | None:
    """A rank from the wire (an int, or digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def clean_text(text: str) -> str:
    """CyTube's HTML message → what the person typed (links reduced to their URL)."""
    text = _LINK.sub(lambda m: html.unescape(m.group(1)), text)
    text = _TAG.sub("", text)
    return html.unescape(text).strip()


OWN_LINES_KEPT = 200
OWN_LINE_ECHO_SECONDS = 120.0
"""How long after sending a chat line its echo (CyTube returns the bot's own lines) is expected."""


def _comparable(text: str) -> str:
    """A chat line as sent and as echoed compare equal: whitespace collapsed, CyTube's 320-char
    cut applied."""
    return " ".join(text.split())[:320]


class KrytenBus:
    """See the module docstring. Implements :class:`economy_core.outbox.Transport`."""

    def __init__(self, *, servers: Sequence[str], channels: Sequence[tuple[str, str]],
                 bot_username: str, ignored_users: Iterable[str], sink: Sink, clock: Clock,
                 user: str | None = None, password: str | None = None,
                 retry_seconds: float = 2.0, log: logging.Logger | None = None) -> None:
        self.servers = list(servers)
        self.channels = {channel: domain for domain, channel in channels}
        self._by_lower = {c.lower(): c for c in self.channels}
        self.bot_key = user_key(bot_username)
        self.ignored = {user_key(u) for u in ignored_users}
        self._sink = sink
        self._clock = clock
        self._user = user
        self._password = password
        self.retry_seconds = retry_seconds
        self._log = log or logging.getLogger("economy_core.bus")
        self._client: Any = None
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._connected = asyncio.Event()
        self._ever_connected = asyncio.Event()
        self._paused = False
        self._replay_cutoff = datetime.now(UTC)
        self._seen_chat: deque[tuple[str, str, str]] = deque(maxlen=200)
        self._own_lines: deque[tuple[str, str, float]] = deque(maxlen=OWN_LINES_KEPT)
        """(channel, comparable text, monotonic time) of chat lines we sent recently."""
        self._last_nats_error = ""
        """What nats-py last reported about the connection (for the one outage warning)."""
        self._served: list[tuple[str, Responder]] = []
        self._served_subs: list[Any] = []
        self._requests: set[asyncio.Task[None]] = set()
        self._request_slots = asyncio.Semaphore(MAX_REQUESTS_IN_FLIGHT)

    # -- connection -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set() and self._client is not None

    def _client_config(self) -> dict[str, Any]:
        from importlib.metadata import PackageNotFoundError, version

        try:
            ours = version("cytube-economy")
        except PackageNotFoundError:
            ours = "0"
        nats: dict[str, Any] = {"servers": self.servers, "max_reconnect_attempts": -1,
                                "reconnect_time_wait": 1.0, "connect_timeout": 2}
        if self._user:
            nats["user"] = self._user
            nats["password"] = self._password
        return {
            "nats": nats,
            "channels": [{"domain": d, "channel": c} for c, d in self.channels.items()],
            "service": {"name": "economy", "version": ours, "enable_heartbeat": False},
            "log_level": "ERROR",  # kryten-py warns per reconnect attempt; we log outages once
            # The outbox paces every send; kryten-py's client-wide throttle would add 1-1.5 s
            # per message on top of it (WIRE.md, pacing), so it is switched off here.
            "chat_min_delay": 0.0,
            "chat_jitter": 0.0,
        }

    async def start(self) -> None:
        """Start consuming and connect in the background (returns at once)."""
        self._tasks.append(asyncio.create_task(self._consume(), name="bus-consumer"))
        self._tasks.append(asyncio.create_task(self._connect_loop(), name="bus-connect"))

    async def first_connection(self) -> None:
        """Return once the bus has been connected (at once ever after): the outbox sends
        nothing before there is a connection to send on."""
        await self._ever_connected.wait()

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _connect_loop(self) -> None:
        from kryten import KrytenClient

        warned = False
        while True:
            if not await self._reachable():
                if not warned:
                    self._log.warning("NATS not reachable at %s; retrying every %g s",
                                      ", ".join(self.servers), self.retry_seconds)
                    warned = True
                await asyncio.sleep(self.retry_seconds)
                continue
            client = KrytenClient(self._client_config(),
                                  logger=logging.getLogger("economy_core.bus.kryten"))
            self._register(client)
            # Hooks into kryten-py's nats callbacks: hold sends while disconnected (nats-py would
            # buffer them and may lose them), re-read the room after a gap.
            client._on_disconnected = self._on_disconnected
            client._on_reconnected = self._on_reconnected
            client._on_error = self._on_nats_error
            try:
                await client.connect()
            except Exception as exc:
                if not warned:
                    self._log.warning("NATS not reachable at %s (%s); retrying every %g s",
                                      ", ".join(self.servers), exc, self.retry_seconds)
                    warned = True
                await asyncio.sleep(self.retry_seconds)
                continue
            self._client = client
            await client.subscribe(ROBOT_STARTUP, self._on_robot_startup)
            for subject, responder in self._served:  # nats-py re-subscribes after a reconnect
                self._served_subs.append(
                    await client.subscribe(subject, self._request_handler(subject, responder)))
            self._connected.set()
            self._ever_connected.set()
            self._log.info("connected to NATS at %s", ", ".join(self.servers))
            await self.seed_rooms()
            return

    async def _reachable(self) -> bool:
        """Does any configured server accept a TCP connection? (nats-py would otherwise retry
        the first connect forever inside ``connect()``, with a warning per attempt.)"""
        from urllib.parse import urlsplit

        for server in self.servers:
            parts = urlsplit(server if "://" in server else f"nats://{server}")
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 4222),
                    2.0)
            except (OSError, TimeoutError):
                continue
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
            return True
        return False

    async def _on_nats_error(self, exc: Exception) -> None:
        """nats-py reports each failure of the connection here (an EOF, a refused reconnect
        attempt …). While the connection is down they belong to one outage: remembered for the
        single warning, not logged each; an error on a live connection is a warning of its
        own (a permission refused, a slow consumer), never a traceback."""
        reason = str(exc) or type(exc).__name__
        if self._connected.is_set() and not _is_connection_error(reason):
            self._log.warning("NATS reported an error: %s", reason)
            return
        self._last_nats_error = reason
        self._log.debug("NATS connection error: %s", reason)

    async def _on_disconnected(self) -> None:
        if self._connected.is_set() and not self._paused:
            reason = self._last_nats_error or "the server closed the connection"
            self._log.warning("NATS connection lost (%s); holding outgoing messages until it "
                              "is back", reason)
        self._last_nats_error = ""
        self._connected.clear()

    async def _on_reconnected(self) -> None:
        self._tasks.append(asyncio.create_task(self._resume(), name="bus-resume"))

    async def _resume(self) -> None:
        """After a NATS gap: wait until the robot answers again (its subscriptions are back, so a
        PM is not published into the void), then resume sending and re-read the room."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ROBOT_WAIT_SECONDS
        while loop.time() < deadline:
            try:
                await self._client.nats_request(ROBOT_COMMANDS, {"command": "system.ping",
                                                                 "args": {}, "meta": {}},
                                                timeout=0.5)
                break
            except Exception:
                await asyncio.sleep(0.1)
        else:
            self._log.warning("kryten-robot did not answer within %d s of reconnecting; "
                              "sending anyway", ROBOT_WAIT_SECONDS)
        self._connected.set()
        self._log.info("NATS connection restored; re-reading the room")
        self._last_nats_error = ""
        await self.seed_rooms()

    async def _on_robot_startup(self, _msg: Any) -> None:
        self._log.info("kryten-robot restarted; re-reading the room")
        self._replay_cutoff = datetime.now(UTC)
        await self.publish_startup()
        await self.seed_rooms()

    async def publish_startup(self) -> None:
        """Announce our service again (after the robot restarted)."""
        lifecycle = getattr(self._client, "_lifecycle", None)
        if lifecycle is not None:
            try:
                await lifecycle.publish_startup()
            except Exception as exc:
                self._log.warning("could not publish our startup: %s", exc)

    async def seed_rooms(self) -> None:
        """Read each channel's userlist (and emote list) from the robot's KV and queue a
        RoomSnapshot."""
        for channel in self.channels:
            try:
                users = await self._client.kv_get(f"kryten_{channel}_userlist", "users",
                                                  default=None, parse_json=True)
            except Exception as exc:
                self._log.warning("room %s: robot state unavailable (%s); waiting for the "
                                  "robot", channel, exc)
                continue
            if not isinstance(users, list):
                self._log.warning("room %s: robot userlist missing; waiting for the robot",
                                  channel)
                continue
            room = []
            bot_rank: int | None = None
            for entry in users:
                if not isinstance(entry, dict) or not entry.get("name"):
                    continue
                name = str(entry["name"])
                if user_key(name) == self.bot_key:
                    bot_rank = _int(entry.get("rank"))
                    continue
                if self._dropped_user(name):
                    continue
                meta = entry.get("meta")
                meta = meta if isinstance(meta, dict) else {}
                room.append(RoomUser(name, int(entry.get("rank", 0) or 0),
                                     bool(meta.get("afk", False))))
            self._put(RoomSnapshot(channel, tuple(room), self._clock.now(),
                                   await self._emotes(channel), bot_rank))

    async def _emotes(self, channel: str) -> tuple[str, ...] | None:
        """The channel's emote names from the robot's KV (None when unavailable)."""
        try:
            emotes = await self._client.kv_get(f"kryten_{channel}_emotes", "list",
                                               default=None, parse_json=True)
        except Exception as exc:
            self._log.info("room %s: emote list unavailable (%s)", channel, exc)
            return None
        if not isinstance(emotes, list):
            return None
        names = (e.get("name") if isinstance(e, dict) else e for e in emotes)
        return tuple(str(n) for n in names if isinstance(n, str) and n.strip())

    # -- request-reply --------------------------------------------------------------------------

    def serve(self, subject: str, responder: Responder) -> None:
        """Answer requests on ``subject`` with ``responder`` (register before :meth:`start`; the
        subscription is made as soon as the connection is)."""
        self._served.append((subject, responder))

    def _request_handler(self, subject: str,
                         responder: Responder) -> Callable[[Any], Awaitable[None]]:
        async def on_request(msg: Any) -> None:
            reply_to = getattr(msg, "reply", "") or ""
            if not reply_to or self._paused:
                return
            task = asyncio.create_task(self._answer(subject, responder, bytes(msg.data),
                                                    reply_to), name=f"bus-request {subject}")
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)

        return on_request

    async def _answer(self, subject: str, responder: Responder, data: bytes,
                      reply_to: str) -> None:
        async with self._request_slots:
            try:
                answer = await responder(data)
                client = self._client
                if client is None:
                    return
                await client.publish(reply_to, json.dumps(answer).encode("utf-8"))
            except Exception:
                self._log.exception("answering a request on %s failed", subject)

    # -- inbound --------------------------------------------------------------------------------

    def _dropped_user(self, name: str) -> bool:
        key = user_key(name)
        return not key or key == self.bot_key or key in self.ignored

    def _channel(self, event: Any) -> str | None:
        return self._by_lower.get(str(getattr(event, "channel", "")).lower())

    def _put(self, event: Event) -> None:
        if not self._paused:
            self._queue.put_nowait(event)

    def _register(self, client: Any) -> None:
        async def chat(ev: Any) -> None:
            channel = self._channel(ev)
            name = str(getattr(ev, "username", ""))
            if channel is None or getattr(ev, "shadow", False) or (
                    self._dropped_user(name) and user_key(name) != self.bot_key):
                return
            raw = str(getattr(ev, "message", ""))
            stamp = getattr(ev, "timestamp", None)
            if isinstance(stamp, datetime):
                stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
                if stamp < self._replay_cutoff - REPLAY_SLACK:
                    return
            marker = (user_key(name), str(stamp), raw)
            if marker in self._seen_chat:
                return
            self._seen_chat.append(marker)
            text = clean_text(raw)
            if not text or name.startswith("[") or text.startswith("[server]"):
                return
            if user_key(name) == self.bot_key:
                if not self._is_own_line(channel, text):
                    self._put(RelayedChat(channel, name, text, self._clock.now()))
                return
            self._put(ChatMessage(channel, name, text, self._clock.now(), raw))

        async def pm(ev: Any) -> None:
            channel = self._channel(ev)
            name = str(getattr(ev, "username", ""))
            if channel is None or self._dropped_user(name) or getattr(ev, "shadow", False):
                return
            text = clean_text(str(getattr(ev, "message", "")))
            self._put(PrivateMessage(channel, name, text, self._clock.now(), 0))

        async def join(ev: Any) -> None:
            channel = self._channel(ev)
            name = str(getattr(ev, "username", ""))
            if channel is None or self._dropped_user(name):
                return
            self._put(UserJoined(channel, name, self._clock.now(),
                                 int(getattr(ev, "rank", 0) or 0)))

        async def leave(ev: Any) -> None:
            channel = self._channel(ev)
            name = str(getattr(ev, "username", ""))
            if channel is None or self._dropped_user(name):
                return
            self._put(UserLeft(channel, name, self._clock.now()))

        async def media(ev: Any) -> None:
            channel = self._channel(ev)
            if channel is None:
                return
            self._put(MediaChanged(channel, str(getattr(ev, "media_type", "")),
                                   str(getattr(ev, "media_id", "")),
                                   clean_text(str(getattr(ev, "title", ""))),
                                   int(getattr(ev, "duration", 0) or 0), self._clock.now()))

        async def rank(ev: Any) -> None:
            channel = self._channel(ev)
            payload = getattr(ev, "payload", {}) or {}
            name = str(payload.get("name", ""))
            if channel is not None and name and user_key(name) == self.bot_key:
                rank_now = _int(payload.get("rank"))
                if rank_now is not None:
                    self._put(BotRankChanged(channel, rank_now, self._clock.now()))
                return
            if channel is None or self._dropped_user(name):
                return
            self._put(RankChanged(channel, name, _int(payload.get("rank")) or 0,
                                  self._clock.now()))

        async def afk(ev: Any) -> None:
            channel = self._channel(ev)
            payload = getattr(ev, "payload", {}) or {}
            name = str(payload.get("name", ""))
            if channel is None or self._dropped_user(name):
                return
            self._put(AfkChanged(channel, name, bool(payload.get("afk", False)),
                                 self._clock.now()))

        handlers = (("chatmsg", chat), ("pm", pm), ("adduser", join), ("userleave", leave),
                    ("changemedia", media), ("setuserrank", rank), ("setafk", afk))
        for event_name, handler in handlers:
            client.on(event_name)(handler)

    async def _consume(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._sink(event)
            except Exception:
                self._log.exception("handling %s failed", type(event).__name__)
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until every queued event was handled."""
        await self._queue.join()

    # -- outbound -------------------------------------------------------------------------------

    def _require(self) -> Any:
        if not self.connected:
            raise ConnectionError("not connected to NATS")
        return self._client

    async def send_pm(self, channel: str, username: str, text: str) -> None:
        client = self._require()
        await client.send_pm(channel, username, text, domain=self.channels.get(channel))

    async def send_chat(self, channel: str, text: str) -> None:
        client = self._require()
        self._own_lines.append((channel, _comparable(text), time.monotonic()))
        await client.send_chat(channel, text, domain=self.channels.get(channel))

    def _is_own_line(self, channel: str, text: str) -> bool:
        """True (and forgotten) when ``text`` is the echo of a line we sent recently."""
        wanted, now = _comparable(text), time.monotonic()
        for index, (ch, sent, at) in enumerate(self._own_lines):
            if ch == channel and sent == wanted and now - at <= OWN_LINE_ECHO_SECONDS:
                del self._own_lines[index]
                return True
        return False

    async def add_media(self, channel: str, media_type: str, media_id: str, *, position: str,
                        temp: bool, timeout: float) -> Mapping[str, Any]:
        """Ask the robot to queue an item; returns its answer (see
        :func:`economy_core.robot_api.media_result`). TimeoutError when it stays silent."""
        from nats.errors import NoRespondersError

        client = self._require()
        try:
            answer: Mapping[str, Any] = await client.add_media(
                channel, media_type, media_id, position=position, temp=temp,
                domain=self.channels.get(channel), timeout=timeout)
        except NoRespondersError:
            raise ConnectionError("no robot is listening for commands") from None
        return answer

    async def playlist(self, channel: str, timeout: float) -> Any:
        """The robot's playlist state of ``channel``: its KV ``kryten_<channel>_playlist`` key
        ``items`` (None when the key is missing); raises when not connected, when the bucket
        is missing, or after ``timeout``."""
        client = self._require()
        return await asyncio.wait_for(
            client.kv_get(f"kryten_{channel}_playlist", "items", default=None,
                          parse_json=True), timeout)

    async def set_channel_rank(self, channel: str, username: str, rank: int) -> None:
        """Ask the robot to set a user's channel rank (CyTube confirms nothing)."""
        client = self._require()
        await client.set_channel_rank(channel, username, rank, domain=self.channels.get(channel))

    async def request(self, subject: str, payload: dict[str, Any],
                      timeout: float) -> dict[str, Any]:
        client = self._require()
        answer: dict[str, Any] = await client.nats_request(subject, payload, timeout=timeout)
        return answer

    # -- shutdown -------------------------------------------------------------------------------

    async def pause(self) -> None:
        """Stop taking events and requests (sends still work, for the final outbox flush)."""
        self._paused = True
        for sub in self._served_subs:  # callers get "no responders" at once, not a timeout
            try:
                await sub.unsubscribe()
            except Exception as exc:
                self._log.debug("unsubscribe: %s", exc)
        self._served_subs.clear()
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()

    async def stop(self) -> None:
        self._paused = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        requests = list(self._requests)
        for request in requests:
            request.cancel()
        await asyncio.gather(*requests, return_exceptions=True)
        if self._client is not None:
            try:
                await self._client.disconnect()
            except Exception as exc:
                self._log.debug("disconnect: %s", exc)
            self._client = None
        self._connected.clear()
