"""A fake CyTube server, for end-to-end tests that run the real kryten-robot against it.

It plays the server side of what kryten-robot 1.12.6 speaks (facts from CyTube's own source,
``calzoneman/sync``), on loopback only:

- **HTTPS** ``GET /socketconfig/<channel>.json`` → ``{"servers": [{"url": "http://127.0.0.1:<p>",
  "secure": false}]}``, with a certificate for IP 127.0.0.1 from a throw-away CA (``trustme``);
  start the robot with ``SSL_CERT_FILE=<ca_pem>``. Set the robot's ``cytube.domain`` to
  :attr:`FakeCyTube.domain` (``127.0.0.1:<https port>``).
- **Engine.IO 3 / socket.io 2** on plain HTTP at ``/socket.io/``: the polling handshake
  (``?EIO=3&transport=polling`` → ``<len>:0{"sid": …, "upgrades": ["websocket"], "pingInterval":
  25000, "pingTimeout": 120000}``), the websocket upgrade (``2probe`` → ``3probe``, then ``5``),
  socket.io's connect packet ``40`` right after the upgrade, ``2``/``3`` ping/pong, and
  ``42["event", data]`` frames both ways. A websocket opened without the polling handshake gets
  the open packet on the websocket instead.

**One channel, as CyTube runs it.** On ``joinChannel`` the socket gets what CyTube's channel
modules send, in their order: ``setPermissions``, ``setPlaylistLocked``, ``emoteList``, the last
15 chat lines (``chatMsg`` with their old ``time``), ``drinkCount``, ``channelCSSJS``,
``setMotd``, ``channelOpts``, ``setPlaylistMeta``, ``playlist`` (+ ``setCurrent``), ``setCurrent``
+ ``changeMedia`` when something plays, ``userlist`` (users already logged in: not the joining
socket itself) and ``usercount``. On ``login`` with a password (any password is accepted):
``rank`` 1 (the global rank of a registered account), ``login {success, name}``, then ``addUser``
for the new user to every socket in the channel (rank 1 at that moment), and afterwards its
channel rank (:attr:`FakeCyTube.bot_rank`, default 3): ``rank`` to that socket, ``setUserRank``
to everyone, a second ``userlist`` when the rank crossed moderator (2), and the playlist again.
Without a password the login is a guest login (rank 0, ``guest: true``). ``playerReady`` is
answered with ``setCurrent`` + ``changeMedia`` when something plays; ``mediaUpdate`` is
broadcast every :data:`MEDIA_UPDATE_SECONDS` while something plays (it never advances to the
next item).

**What a connected client (the robot) may do, and what the fake answers:**

- ``chatMsg {msg}``: cut at 320 characters, control characters → space, blank lines ignored;
  recorded in :attr:`FakeCyTube.chat_lines` and broadcast back to every socket in the channel,
  the sender included (the echo CyTube sends), as ``chatMsg {username, msg, meta, time}``.
- ``pm {to, msg}``: recorded in :attr:`FakeCyTube.pms` and echoed to the sender as CyTube does
  (``pm {username: <sender>, msg, meta, time, to: <recipient>}``); a recipient who is not in the
  channel gets nothing and the sender an ``errorMsg`` ("PM failed: … isn't connected to this
  channel."); so does the sender of a PM to itself or to an invalid name.
- Chat lines and PMs share ONE limiter per socket, CyTube's ``newRateLimiter`` with
  ``{burst: 20, sustained: 10}`` (see :class:`ChatRateLimiter`): a message over the limit is
  dropped, recorded in :attr:`FakeCyTube.dropped`, and the sender gets ``cooldown 100``. With
  ``chat_antiflood=True`` a public line from a sender below moderator uses ``{4, 1, cooldown 4}``
  instead (the channel option's defaults).
- ``queue {type, id, pos, temp}``: ``pos`` other than ``"next"``/``"end"`` is ignored silently
  (as CyTube does). Otherwise the next planned :class:`QueueAnswer` (default: accept) decides:
  accept → ``queue {item: {media, uid, temp, queueby}, after}`` to everyone plus
  ``setPlaylistMeta`` (and ``setCurrent``/``changeMedia`` when the playlist was empty), unless
  the same id is already queued: then ``queueFail`` "This item is already on the playlist";
  refuse → ``queueFail {msg, link, id}``; silent → nothing at all. Recorded in
  :attr:`FakeCyTube.queue_requests`.
- ``setChannelRank {name, rank}``: CyTube's rules (``src/channel/ranks.js``): a sender below
  rank 3 is ignored silently; a rank < 1 or ≥ the sender's own (except 4 → 4), a target with an
  equal or higher rank, or the sender itself → ``channelRankFail {msg}``; else the target's
  rank changes, ``setUserRank {name, rank}`` goes to everyone (and ``rank`` to the target's own
  socket). A target not in the channel is changed "in the database": ``setUserRank {name,
  rank, userrank}`` and a ``[server]`` line to rank ≥ 3. Recorded in
  :attr:`FakeCyTube.rank_requests`.

Chat commands (``/kick``, ``/me`` …) are not interpreted: such lines are broadcast like any
other. Every frame a client sends is also kept in :attr:`FakeCyTube.received`.

**Room life from the test** (async methods, each returns once the frames were written to every
connected socket): :meth:`~FakeCyTube.add_user`, :meth:`~FakeCyTube.remove_user`,
:meth:`~FakeCyTube.chat`, :meth:`~FakeCyTube.pm_to_bot`, :meth:`~FakeCyTube.change_media`,
:meth:`~FakeCyTube.set_bot_rank`, :meth:`~FakeCyTube.broadcast` (any other frame) and
:meth:`~FakeCyTube.drop_connections` (the robot then exits, unless configured to reconnect).
Users are simulated: they have no socket, and only users in the channel may chat or PM.
Text is HTML-escaped as CyTube escapes it (``& < > " ' ( )``)
and URLs become ``<a href>`` links. Waiting: :meth:`~FakeCyTube.wait_for_pm`,
:meth:`~FakeCyTube.wait_for_chat`, :meth:`~FakeCyTube.wait_for_queue`,
:meth:`~FakeCyTube.wait_for_rank_request`, :meth:`~FakeCyTube.wait_logged_in` and the general
:meth:`~FakeCyTube.wait_until`: each wakes on every change and fails after its timeout with a
:class:`TimeoutError` that says what did not happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import secrets
import socket
import ssl
import tempfile
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiohttp import WSMsgType, web

MAX_CHAT_LENGTH = 320
"""CyTube's ``max-chat-message-length``: longer chat lines and PMs are cut."""
CHAT_BUFFER_SIZE = 15
"""Chat lines CyTube keeps and replays to a socket that joins the channel."""
MIN_ANTIFLOOD = (20, 10)
"""(burst, sustained) of CyTube's limiter for PMs, and for chat unless antiflood applies."""
ANTIFLOOD_PARAMS = (4, 1, 4.0)
"""(burst, sustained, cooldown) of the channel option ``chat_antiflood_params`` (defaults)."""
PING_INTERVAL_MS = 25_000
PING_TIMEOUT_MS = 120_000
"""What the Engine.IO open packet announces (CyTube sets ``pingTimeout`` to 2 minutes)."""
MEDIA_UPDATE_SECONDS = 5.0
"""How often ``mediaUpdate`` is broadcast while something plays."""
GLOBAL_RANK_REGISTERED = 1

_VALID_NAME = re.compile(r"^[\w-]{1,20}$", re.ASCII)
_VALID_CHANNEL = re.compile(r"^[\w-]{1,30}$", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f]+")
_LINK = re.compile(r"(\w+://(?:[^:/\[\]\s]+|\[[0-9a-f:]+\])(?::\d+)?(?:/[^/\s]*)*)",
                   re.IGNORECASE)

Clock = Callable[[], float]
"""Seconds from a monotonic source (the limiter's time; tests may pass their own)."""


def sanitize_text(text: str) -> str:
    """CyTube's ``XSS.sanitizeText``: ``& < > " ' ( )`` become entities."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;").replace("(", "&#40;")
            .replace(")", "&#41;"))


def format_message(text: str) -> str:
    """The ``msg`` CyTube sends for a chat line or PM: escaped, then every URL (found in the
    escaped text, as CyTube's filter does) wrapped in an ``<a href>`` link."""
    return _LINK.sub(lambda m: f'<a href="{m.group(1)}" target="_blank" '
                               f'rel="noopener noreferrer">{m.group(1)}</a>',
                     sanitize_text(text))


def format_time(seconds: int) -> str:
    """CyTube's ``util.formatTime``: ``MM:SS``, or ``HH:MM:SS`` from one hour on."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


def format_link(media_id: str, media_type: str) -> str:
    """CyTube's ``util.formatLink`` for the common media types (others: the id itself)."""
    prefixes = {"yt": "https://youtu.be/", "vi": "https://vimeo.com/",
                "dm": "https://dailymotion.com/video/", "tw": "https://twitch.tv/",
                "gd": "https://docs.google.com/file/d/", "sb": "https://streamable.com/"}
    return prefixes.get(media_type, "") + media_id


class ChatRateLimiter:
    """CyTube's per-user limiter (``util.newRateLimiter`` in ``src/utilities.js``).

    ``throttle(burst, sustained, cooldown)`` returns True when a message must be dropped:

    - nothing for ``cooldown`` seconds (default ``burst / sustained``) → the count restarts at
      1 and the message passes;
    - fewer than ``burst`` messages since then → it passes;
    - otherwise it passes only if at least ``1 / sustained`` s have gone by since the last
      message that passed (a dropped message does not move that time).
    """

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self.count = 0
        self.last_ms = -math.inf

    def cooled(self, cooldown: float) -> bool:
        """True when the next message would find the limiter cooled down (a fresh burst)."""
        return self.last_ms < self._clock() * 1000.0 - cooldown * 1000.0

    def throttle(self, burst: int = 10, sustained: float = 2,
                 cooldown: float | None = None) -> bool:
        if cooldown is None:
            cooldown = burst / sustained
        now = self._clock() * 1000.0
        if self.last_ms < now - cooldown * 1000.0:
            self.count = 1
            self.last_ms = now
            return False
        if self.count < burst:
            self.count += 1
            self.last_ms = now
            return False
        if now - self.last_ms < 1000.0 / sustained:
            return True
        self.last_ms = now
        return False


@dataclass(frozen=True)
class QueueAnswer:
    """How the fake answers one ``queue`` request: build with :meth:`accept`,
    :meth:`refuse` or :meth:`silent`."""

    mode: Literal["accept", "refuse", "silent"]
    title: str | None = None
    seconds: int = 300
    msg: str = ""

    @classmethod
    def accept(cls, title: str | None = None, seconds: int = 300) -> QueueAnswer:
        """Add the item (title defaults to ``"<type>:<id>"``)."""
        return cls("accept", title=title, seconds=seconds)

    @classmethod
    def refuse(cls, msg: str = "Video exceeds the maximum length set by the channel admin: "
                              "600 seconds") -> QueueAnswer:
        """Answer ``queueFail`` with this message."""
        return cls("refuse", msg=msg)

    @classmethod
    def silent(cls) -> QueueAnswer:
        """Answer nothing (a lost frame, a hung media lookup)."""
        return cls("silent")


@dataclass(frozen=True)
class SentPm:
    """A PM a client sent that CyTube delivered."""

    sender: str
    to: str
    """The recipient's name as the channel spells it."""
    text: str
    """What the client sent (cut at 320 characters)."""
    wire: str
    """The ``msg`` CyTube sent on (escaped, links wrapped)."""
    at: float
    """When, on the fake's clock (``time.monotonic`` unless one was passed); so are the
    ``at`` of every other record."""


@dataclass(frozen=True)
class SentChat:
    """A public chat line a client sent that CyTube broadcast."""

    sender: str
    text: str
    wire: str
    at: float


@dataclass(frozen=True)
class Dropped:
    """A PM or chat line CyTube's limiter dropped."""

    kind: Literal["pm", "chat"]
    sender: str
    to: str | None
    text: str
    at: float


@dataclass(frozen=True)
class QueueRequest:
    """A ``queue`` frame and what became of it."""

    sender: str
    media_type: str
    media_id: str
    pos: str
    temp: bool
    outcome: Literal["accepted", "refused", "silent", "ignored"]
    uid: int | None
    error: str | None
    at: float


@dataclass(frozen=True)
class RankRequest:
    """A ``setChannelRank`` frame and what became of it."""

    sender: str
    name: str
    rank: Any
    outcome: Literal["applied", "refused", "ignored"]
    error: str | None
    at: float


@dataclass
class _Client:
    """One socket.io connection."""

    sid: str
    ws: web.WebSocketResponse
    outgoing: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    limiter: ChatRateLimiter = field(default_factory=ChatRateLimiter)
    name: str | None = None
    global_rank: int = -1
    in_channel: bool = False

    def send_raw(self, frame: str) -> None:
        self.outgoing.put_nowait(frame)

    def emit(self, event: str, data: Any) -> None:
        self.send_raw("42" + json.dumps([event, data], ensure_ascii=False))


@dataclass
class _Member:
    """A logged-in user in the channel (a simulated one when ``client`` is None)."""

    name: str
    global_rank: int
    channel_rank: int
    afk: bool = False
    client: _Client | None = None

    @property
    def rank(self) -> int:
        """The effective rank CyTube shows: max(global, channel)."""
        return max(self.global_rank, self.channel_rank)

    def packed(self, for_moderator: bool) -> dict[str, Any]:
        """CyTube's ``packUserData``: the base form, or the moderator form."""
        meta: dict[str, Any] = {"afk": self.afk, "muted": False}
        if for_moderator:
            meta.update({"smuted": False, "aliases": [self.name], "ip": "127.0.x.x"})
        return {"name": self.name, "rank": self.rank, "profile": {"image": "", "text": ""},
                "meta": meta}


@dataclass
class _Item:
    uid: int
    media_type: str
    media_id: str
    title: str
    seconds: int
    temp: bool
    queueby: str

    def media(self) -> dict[str, Any]:
        return {"id": self.media_id, "title": self.title, "seconds": self.seconds,
                "duration": format_time(self.seconds), "type": self.media_type, "meta": {}}

    def packed(self) -> dict[str, Any]:
        return {"media": self.media(), "uid": self.uid, "temp": self.temp,
                "queueby": self.queueby}


class FakeCyTube:
    """A fake CyTube with one channel; see the module docstring for the wire it speaks."""

    def __init__(self, *, channel: str = "testroom", bot_rank: int = 3, motd: str = "",
                 emotes: Sequence[str] = (), chat_antiflood: bool = False,
                 clock: Clock = time.monotonic) -> None:
        if not _VALID_CHANNEL.match(channel):
            raise ValueError(f"invalid CyTube channel name {channel!r}")
        self.channel = channel
        self.bot_rank = bot_rank
        """Channel rank every socket that logs in with a password gets."""
        self.motd = motd
        self.emotes = [{"name": name, "image": f"https://emotes.test/{i}.png",
                        "source": re.escape(name)} for i, name in enumerate(emotes)]
        self.chat_antiflood = chat_antiflood
        self._clock = clock
        self.pms: list[SentPm] = []
        self.chat_lines: list[SentChat] = []
        self.dropped: list[Dropped] = []
        self.queue_requests: list[QueueRequest] = []
        self.rank_requests: list[RankRequest] = []
        self.received: list[tuple[str, Any]] = []
        """Every ``42`` frame any client sent, as (event, data)."""
        self.errors: list[tuple[str, str]] = []
        """(recipient, msg) of every ``errorMsg``/``channelRankFail`` the fake sent."""
        self.queue_answers: deque[QueueAnswer] = deque()
        """Answers for the next ``queue`` requests, in order; when empty: accept."""
        self._members: dict[str, _Member] = {}
        self._clients: list[_Client] = []
        self._buffer: deque[dict[str, Any]] = deque(maxlen=CHAT_BUFFER_SIZE)
        self._playlist: list[_Item] = []
        self._current: _Item | None = None
        self._current_since = 0.0
        self._next_uid = 0
        self._pending_sids: set[str] = set()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.https_port = 0
        self.http_port = 0
        self.ca_pem = Path()
        """PEM file of the CA that signed the HTTPS certificate (``SSL_CERT_FILE`` for the
        robot); set by :meth:`start`."""

    # -- life cycle -----------------------------------------------------------------------------

    @property
    def domain(self) -> str:
        """What the robot's ``cytube.domain`` (and the bot's ``channels[].domain``) must be."""
        return f"127.0.0.1:{self.https_port}"

    async def start(self) -> None:
        """Listen on two free loopback ports (HTTPS for socketconfig, HTTP for socket.io)."""
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-cytube-")
        self.ca_pem = Path(self._tmp.name) / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_pem))

        app = web.Application()
        app.router.add_get("/socketconfig/{name}.json", self._socketconfig)
        app.router.add_route("*", "/socket.io/", self._socket_io)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None,
                                     shutdown_timeout=5.0)
        await self._runner.setup()
        https_sock, http_sock = _listen(), _listen()
        self.https_port = https_sock.getsockname()[1]
        self.http_port = http_sock.getsockname()[1]
        await web.SockSite(self._runner, https_sock, ssl_context=context).start()
        await web.SockSite(self._runner, http_sock).start()
        self._ticker = asyncio.create_task(self._media_ticker(), name="fake-cytube-media")

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.drop_connections()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> FakeCyTube:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def drop_connections(self) -> None:
        """Close every client's websocket (as a CyTube restart would)."""
        for client in list(self._clients):
            with contextlib.suppress(Exception):
                await client.ws.close()

    # -- HTTP -----------------------------------------------------------------------------------

    async def _socketconfig(self, request: web.Request) -> web.Response:
        if request.match_info["name"].lower() != self.channel.lower():
            return web.json_response({"error": "unknown channel"}, status=404)
        return web.json_response({"servers": [{"url": f"http://127.0.0.1:{self.http_port}",
                                               "secure": False}]})

    def _open_packet(self, sid: str) -> str:
        return "0" + json.dumps({"sid": sid, "upgrades": ["websocket"],
                                 "pingInterval": PING_INTERVAL_MS,
                                 "pingTimeout": PING_TIMEOUT_MS})

    async def _socket_io(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("EIO") != "3":
            return web.json_response({"code": 5, "message": "Unsupported protocol version"},
                                     status=400)
        transport = request.query.get("transport")
        sid = request.query.get("sid")
        if transport == "polling":
            if request.method != "GET":
                return web.json_response({"code": 3, "message": "Bad request"}, status=400)
            if sid is not None:
                # Only the handshake is served over polling; later polls get a noop packet.
                return web.Response(text="1:6", content_type="text/plain")
            sid = secrets.token_urlsafe(15)
            self._pending_sids.add(sid)
            packet = self._open_packet(sid)
            return web.Response(text=f"{len(packet)}:{packet}", content_type="text/plain")
        if transport != "websocket":
            return web.json_response({"code": 0, "message": "Transport unknown"}, status=400)
        if sid is not None and sid not in self._pending_sids:
            return web.json_response({"code": 1, "message": "Session ID unknown"}, status=400)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await self._serve(ws, sid)
        return ws

    async def _serve(self, ws: web.WebSocketResponse, sid: str | None) -> None:
        """One connection: the upgrade (or a direct websocket open), then frames until it
        closes."""
        upgraded = sid is None
        client = _Client(sid or secrets.token_urlsafe(15), ws,
                         limiter=ChatRateLimiter(self._clock))
        if sid is not None:
            self._pending_sids.discard(sid)
        writer = asyncio.create_task(self._write(client), name=f"fake-cytube-writer-{sid}")
        self._clients.append(client)
        if upgraded:
            client.send_raw(self._open_packet(client.sid))
            self._connected(client)
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                data = str(message.data)
                if not upgraded:
                    if data == "2probe":
                        client.send_raw("3probe")
                    elif data == "5":
                        upgraded = True
                        self._connected(client)
                    continue
                if data.startswith("2"):
                    client.send_raw("3" + data[1:])
                elif data.startswith("41") or data == "1":
                    break
                elif data.startswith("42"):
                    self._on_frame(client, data[2:])
        finally:
            self._clients.remove(client)
            self._disconnected(client)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            self._notify()

    async def _write(self, client: _Client) -> None:
        """Writes the client's frames in order; a frame for a closing socket is dropped."""
        while True:
            frame = await client.outgoing.get()
            try:
                if not client.ws.closed:
                    await client.ws.send_str(frame)
            except Exception:  # the socket went away under us: nobody to tell
                pass
            finally:
                client.outgoing.task_done()

    async def _flush(self, timeout: float = 5.0) -> None:
        """Until every frame queued so far was written to its socket."""
        waits = [c.outgoing.join() for c in self._clients if not c.ws.closed]
        if waits:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)

    def _connected(self, client: _Client) -> None:
        client.send_raw("40")  # socket.io's connect packet (protocol 2 servers send it)
        client.emit("rank", -1)  # a socket that has not logged in yet

    def _disconnected(self, client: _Client) -> None:
        if client.name is None or not client.in_channel:
            return
        member = self._members.get(client.name.lower())
        if member is not None and member.client is client:
            del self._members[client.name.lower()]
            self._broadcast("userLeave", {"name": client.name})
        self._broadcast("usercount", self._usercount())

    # -- inbound frames -------------------------------------------------------------------------

    def _on_frame(self, client: _Client, body: str) -> None:
        body = body.lstrip("0123456789")  # an ack id, never used by the robot
        try:
            packet = json.loads(body)
        except json.JSONDecodeError:
            return
        if not isinstance(packet, list) or not packet or not isinstance(packet[0], str):
            return
        event = packet[0]
        data = packet[1] if len(packet) > 1 else None
        self.received.append((event, data))
        handler = {
            "joinChannel": self._on_join_channel,
            "login": self._on_login,
            "chatMsg": self._on_chat_msg,
            "pm": self._on_pm,
            "queue": self._on_queue,
            "setChannelRank": self._on_set_channel_rank,
            "playerReady": self._on_player_ready,
            "requestPlaylist": self._on_request_playlist,
        }.get(event)
        if handler is not None:
            handler(client, data)
        self._notify()

    def _on_join_channel(self, client: _Client, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return
        if client.in_channel:
            return
        if data["name"].lower() != self.channel.lower():
            self._error(client, "errorMsg", f"Channel '{data['name'].lower()}' is hosted on "
                                            "another server.")
            return
        client.in_channel = True
        client.emit("setPermissions", {"seeplaylist": -1, "playlistadd": 1.5,
                                       "playlistnext": 1.5, "chat": 0, "chatclear": 2})
        client.emit("setPlaylistLocked", True)
        client.emit("emoteList", self.emotes)
        for line in self._buffer:
            client.emit("chatMsg", line)
        client.emit("drinkCount", 0)
        client.emit("channelCSSJS", {"css": "", "cssHash": "", "js": "", "jsHash": ""})
        client.emit("setMotd", self.motd)
        client.emit("channelOpts", {"allow_voteskip": True, "voteskip_ratio": 0.5,
                                    "afk_timeout": 600, "pagetitle": self.channel,
                                    "maxlength": 0, "chat_antiflood": self.chat_antiflood,
                                    "chat_antiflood_params": {"burst": 4, "sustained": 1,
                                                              "cooldown": 4},
                                    "enable_link_regex": True, "allow_dupes": False})
        self._send_playlist(client)
        self._send_change_media(client)
        client.emit("userlist", self._userlist(for_moderator=False))
        self._broadcast("usercount", self._usercount())
        if client.name is not None:
            self._enter(client)

    def _on_login(self, client: _Client, data: Any) -> None:
        if not isinstance(data, dict):
            self._error(client, "errorMsg", "Invalid login frame")
            return
        name = data.get("name")
        password = data.get("pw") or ""
        if not isinstance(name, str) or client.name is not None:
            return
        if not _VALID_NAME.match(name):
            client.emit("login", {"success": False,
                                  "error": "Invalid username.  Usernames must be 1-20 characters "
                                           "long and consist only of characters a-z, A-Z, 0-9, "
                                           "-, or _."})
            return
        if password:
            client.global_rank = GLOBAL_RANK_REGISTERED
            client.name = name
            client.emit("rank", client.global_rank)
            client.emit("login", {"success": True, "name": name})
        else:
            if client.in_channel and name.lower() in self._members:
                client.emit("login", {"success": False,
                                      "error": "That name is already in use on this channel."})
                return
            client.global_rank = 0
            client.name = name
            client.emit("rank", 0)
            client.emit("login", {"success": True, "name": name, "guest": True})
        if client.in_channel:
            self._enter(client)

    def _enter(self, client: _Client) -> None:
        """A logged-in socket in the channel becomes a user of it (CyTube's ``sendUserJoin``
        and then, for a registered account, its channel rank)."""
        assert client.name is not None
        old = self._members.get(client.name.lower())
        if old is not None and old.client is not None and old.client is not client:
            old.client.emit("kick", {"reason": "Duplicate login"})
        member = _Member(client.name, client.global_rank, 0, client=client)
        self._members[client.name.lower()] = member
        self._announce_join(member)
        if client.global_rank >= GLOBAL_RANK_REGISTERED:
            self._set_rank(member, self.bot_rank)
            self._send_playlist(client)

    def _on_chat_msg(self, client: _Client, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("msg"), str):
            return
        if not client.in_channel or client.name is None:
            return
        member = self._members.get(client.name.lower())
        rank = member.rank if member is not None else client.global_rank
        text = _CONTROL.sub(" ", data["msg"][:MAX_CHAT_LENGTH])
        if not text.strip():
            return
        if self.chat_antiflood and rank < 2:
            burst, sustained, cooldown = ANTIFLOOD_PARAMS
            throttled = client.limiter.throttle(burst, sustained, cooldown)
        else:
            burst, sustained = MIN_ANTIFLOOD
            throttled = client.limiter.throttle(burst, sustained)
        if throttled:
            client.emit("cooldown", 1000 / sustained)
            self.dropped.append(Dropped("chat", client.name, None, text, self._clock()))
            return
        meta: dict[str, Any] = {}
        sent_meta = data.get("meta")
        if rank >= 2 and isinstance(sent_meta, dict) and sent_meta.get("modflair") == rank:
            meta["modflair"] = rank
        if text.startswith(">"):
            meta["addClass"] = "greentext"
        wire = format_message(text)
        self.chat_lines.append(SentChat(client.name, text, wire, self._clock()))
        self._send_chat_line(client.name, wire, meta)

    def _on_pm(self, client: _Client, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("msg"), str) \
                or not isinstance(data.get("to"), str):
            return
        if not client.in_channel:
            return
        if client.name is None:
            self._error(client, "errorMsg", "You must be signed in to send PMs")
            return
        to = data["to"].lower()
        if to == client.name.lower():
            self._error(client, "errorMsg", "You can't PM yourself!")
            return
        if not _VALID_NAME.match(to):
            self._error(client, "errorMsg", f"PM failed: {to} isn't a valid username.")
            return
        text = data["msg"]
        burst, sustained = MIN_ANTIFLOOD
        if client.limiter.throttle(burst, sustained):
            client.emit("cooldown", 1000 / sustained)
            self.dropped.append(Dropped("pm", client.name, data["to"], text, self._clock()))
            return
        text = text[:MAX_CHAT_LENGTH]
        target = self._members.get(to)
        if target is None:
            self._error(client, "errorMsg", f"PM failed: {to} isn't connected to this channel.")
            return
        meta: dict[str, Any] = {"addClass": "greentext"} if text.startswith(">") else {}
        wire = format_message(text)
        self.pms.append(SentPm(client.name, target.name, text, wire, self._clock()))
        packet = {"username": client.name, "msg": wire, "meta": meta, "time": _now_ms(),
                  "to": target.name}
        if target.client is not None:
            target.client.emit("pm", packet)
        client.emit("pm", packet)

    def _on_queue(self, client: _Client, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("type"), str) \
                or not isinstance(data.get("pos"), str) \
                or not isinstance(data.get("id"), str | bool):
            return
        if not client.in_channel or client.name is None:
            return
        media_type, media_id, pos = data["type"], str(data["id"]), data["pos"]
        temp = bool(data.get("temp", False))
        at = self._clock()
        if pos not in ("next", "end"):
            self.queue_requests.append(QueueRequest(client.name, media_type, media_id, pos,
                                                    temp, "ignored", None, None, at))
            return
        answer = self.queue_answers.popleft() if self.queue_answers else QueueAnswer.accept()
        link = format_link(media_id, media_type)
        if answer.mode == "silent":
            self.queue_requests.append(QueueRequest(client.name, media_type, media_id, pos,
                                                    temp, "silent", None, None, at))
            return
        error = answer.msg if answer.mode == "refuse" else None
        if error is None and pos == "end" and any(
                i.media_id == media_id for i in self._playlist):
            error = "This item is already on the playlist"
        if error is not None:
            client.emit("queueFail", {"msg": error, "link": link, "id": media_id})
            self.queue_requests.append(QueueRequest(client.name, media_type, media_id, pos,
                                                    temp, "refused", None, error, at))
            return
        item = self._add_item(media_type, media_id, answer.title or f"{media_type}:{media_id}",
                              answer.seconds, temp, client.name, next_up=pos == "next")
        self.queue_requests.append(QueueRequest(client.name, media_type, media_id, pos, temp,
                                                "accepted", item.uid, None, at))

    def _on_set_channel_rank(self, client: _Client, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str) \
                or not isinstance(data.get("rank"), int | float):
            return
        if client.name is None:
            return
        sender = self._members.get(client.name.lower())
        own = sender.rank if sender is not None else client.global_rank
        rank = data["rank"]
        at = self._clock()

        def refuse(msg: str) -> None:
            self._error(client, "channelRankFail", msg)
            self.rank_requests.append(RankRequest(client.name or "", data["name"], rank,
                                                  "refused", msg, at))

        if own < 3:
            self.rank_requests.append(RankRequest(client.name, data["name"], rank, "ignored",
                                                  None, at))
            return
        name = data["name"][:20].lower()
        if not _VALID_NAME.match(name):
            refuse(f"Invalid target name {data['name']}")
            return
        if rank < 1 or (rank >= own and not (own == 4 and rank == 4)):
            refuse("Updating user rank failed: You can't promote someone to a rank equal or "
                   "higher than yourself, or demote them to below rank 1.")
            return
        if name == client.name.lower():
            refuse("Updating user rank failed: You can't promote or demote yourself.")
            return
        target = self._members.get(name)
        if target is None:
            self._broadcast("setUserRank", {"name": data["name"], "rank": rank,
                                            "userrank": own})
            self._send_server_line(f"{client.name} set {data['name']}'s rank to {rank}", 3)
        else:
            current = max(target.global_rank, target.channel_rank)
            if current >= own and not (own == 4 and current == 4):
                refuse("Updating user rank failed: You can't promote or demote someone who "
                       "has equal or higher rank than yourself")
                return
            target.channel_rank = int(rank)
            if target.client is not None:
                target.client.emit("rank", target.rank)
            self._broadcast("setUserRank", {"name": data["name"], "rank": rank})
        self.rank_requests.append(RankRequest(client.name, data["name"], rank, "applied",
                                              None, at))

    def _on_player_ready(self, client: _Client, _data: Any) -> None:
        self._send_change_media(client)

    def _on_request_playlist(self, client: _Client, _data: Any) -> None:
        member = self._members.get((client.name or "").lower())
        if member is not None and member.rank >= 2:
            self._send_playlist(client)

    # -- outbound helpers -----------------------------------------------------------------------

    def _error(self, client: _Client, event: str, msg: str) -> None:
        client.emit(event, {"msg": msg})
        self.errors.append((client.name or "", msg))

    def _broadcast(self, event: str, data: Any) -> None:
        for client in self._clients:
            if client.in_channel:
                client.emit(event, data)

    def _usercount(self) -> int:
        anonymous = sum(1 for c in self._clients if c.in_channel and c.name is None)
        return len(self._members) + anonymous

    def _userlist(self, for_moderator: bool) -> list[dict[str, Any]]:
        return [m.packed(for_moderator) for m in self._members.values()]

    def _rank_of(self, client: _Client) -> int:
        member = self._members.get((client.name or "").lower())
        return member.rank if member is not None else client.global_rank

    def _announce_join(self, member: _Member) -> None:
        for client in self._clients:
            if client.in_channel:
                client.emit("addUser", member.packed(self._rank_of(client) >= 2))
        self._send_server_line(f"{member.name} joined (aliases: {member.name})", 2)

    def _set_rank(self, member: _Member, channel_rank: int) -> None:
        before = member.rank
        member.channel_rank = channel_rank
        if member.client is not None:
            member.client.emit("rank", member.rank)
        self._broadcast("setUserRank", {"name": member.name, "rank": member.rank})
        if member.client is not None and (before >= 2) != (member.rank >= 2):
            member.client.emit("userlist", self._userlist(for_moderator=member.rank >= 2))

    def _send_server_line(self, text: str, min_rank: int) -> None:
        packet = {"username": "[server]", "msg": text,
                  "meta": {"addClass": "server-whisper", "addClassToNameAndTimestamp": True},
                  "time": _now_ms()}
        for client in self._clients:
            if client.in_channel and self._rank_of(client) >= min_rank:
                client.emit("chatMsg", packet)

    def _send_chat_line(self, username: str, wire: str, meta: Mapping[str, Any]) -> None:
        packet = {"username": username, "msg": wire, "meta": dict(meta), "time": _now_ms()}
        self._broadcast("chatMsg", packet)
        self._buffer.append(packet)

    def _playlist_meta(self) -> dict[str, Any]:
        raw = sum(i.seconds for i in self._playlist)
        return {"count": len(self._playlist), "rawTime": raw, "time": format_time(raw)}

    def _send_playlist(self, client: _Client) -> None:
        client.emit("setPlaylistMeta", self._playlist_meta())
        client.emit("playlist", [i.packed() for i in self._playlist])
        if self._current is not None:
            client.emit("setCurrent", self._current.uid)

    def _change_media_packet(self) -> dict[str, Any]:
        assert self._current is not None
        return {**self._current.media(),
                "currentTime": max(0.0, self._clock() - self._current_since), "paused": False}

    def _send_change_media(self, client: _Client) -> None:
        if self._current is not None:
            client.emit("setCurrent", self._current.uid)
            client.emit("changeMedia", self._change_media_packet())

    def _add_item(self, media_type: str, media_id: str, title: str, seconds: int, temp: bool,
                  queueby: str, *, next_up: bool) -> _Item:
        item = _Item(self._next_uid, media_type, media_id, title, seconds, temp, queueby)
        self._next_uid += 1
        if next_up and self._current is not None:
            index = self._playlist.index(self._current) + 1
        else:
            index = len(self._playlist)
        self._playlist.insert(index, item)
        after: int | str = self._playlist[index - 1].uid if index > 0 else "prepend"
        self._broadcast("queue", {"item": item.packed(), "after": after})
        self._broadcast("setPlaylistMeta", self._playlist_meta())
        if len(self._playlist) == 1:
            self._play(item)
        return item

    def _play(self, item: _Item) -> None:
        self._current = item
        self._current_since = self._clock()
        self._broadcast("setCurrent", item.uid)
        self._broadcast("changeMedia", self._change_media_packet())

    async def _media_ticker(self) -> None:
        while True:
            await asyncio.sleep(MEDIA_UPDATE_SECONDS)
            if self._current is not None:
                self._broadcast("mediaUpdate", {
                    "currentTime": self._clock() - self._current_since, "paused": False})

    def _notify(self) -> None:
        self._changed.set()

    # -- room life, driven by the test ----------------------------------------------------------

    @property
    def bot_name(self) -> str | None:
        """Name of the first socket that logged in and is in the channel (the robot)."""
        for client in self._clients:
            if client.name is not None and client.in_channel:
                return client.name
        return None

    def present(self) -> list[str]:
        """Names of the users in the channel (simulated and connected), in join order."""
        return [m.name for m in self._members.values()]

    def rank_of(self, name: str) -> int | None:
        """The effective rank of a user in the channel (None: not there)."""
        member = self._members.get(name.lower())
        return member.rank if member is not None else None

    async def add_user(self, name: str, rank: int = 1, *, afk: bool = False) -> None:
        """A user joins: ``addUser`` with the global rank (1 registered, 0 guest for rank 0),
        the ``[server]`` join line to moderators, ``usercount``, then for a registered user
        ``setUserRank`` with the channel rank ``rank``."""
        if not _VALID_NAME.match(name):
            raise ValueError(f"invalid CyTube user name {name!r}")
        if name.lower() in self._members:
            raise ValueError(f"{name} is already in the channel")
        global_rank = GLOBAL_RANK_REGISTERED if rank >= 1 else 0
        member = _Member(name, global_rank, 0, afk=afk)
        self._members[name.lower()] = member
        self._announce_join(member)
        self._broadcast("usercount", self._usercount())
        if global_rank >= GLOBAL_RANK_REGISTERED:
            self._set_rank(member, rank)
        self._notify()
        await self._flush()

    async def remove_user(self, name: str) -> None:
        """A simulated user leaves: ``userLeave {name}`` and ``usercount``."""
        member = self._members.get(name.lower())
        if member is None:
            raise ValueError(f"{name} is not in the channel")
        if member.client is not None:
            raise ValueError(f"{name} is a connected client: close its socket instead")
        del self._members[name.lower()]
        self._broadcast("userLeave", {"name": member.name})
        self._broadcast("usercount", self._usercount())
        self._notify()
        await self._flush()

    async def chat(self, name: str, text: str) -> None:
        """``name`` (in the channel) says ``text`` in public: ``chatMsg`` to everyone."""
        member = self._require_member(name)
        text = _CONTROL.sub(" ", text[:MAX_CHAT_LENGTH])
        meta = {"addClass": "greentext"} if text.startswith(">") else {}
        self._send_chat_line(member.name, format_message(text), meta)
        await self._flush()

    async def pm_to_bot(self, name: str, text: str) -> None:
        """``name`` (in the channel) PMs the logged-in client: ``pm {…, to: <bot>}``."""
        member = self._require_member(name)
        bot = self.bot_name
        if bot is None:
            raise RuntimeError("no client is logged in to the channel")
        target = self._members[bot.lower()]
        assert target.client is not None
        text = text[:MAX_CHAT_LENGTH]
        meta = {"addClass": "greentext"} if text.startswith(">") else {}
        target.client.emit("pm", {"username": member.name, "msg": format_message(text),
                                  "meta": meta, "time": _now_ms(), "to": target.name})
        await self._flush()

    async def change_media(self, media_type: str, media_id: str, title: str,
                           seconds: int) -> int:
        """Play this item now (queued first, with a ``queue`` frame, when it is not on the
        playlist yet): ``setCurrent`` + ``changeMedia``. Returns its uid."""
        item = next((i for i in self._playlist
                     if (i.media_type, i.media_id) == (media_type, media_id)), None)
        if item is None:
            item = self._add_item(media_type, media_id, title, seconds, False, "",
                                  next_up=True)
        if self._current is not item:
            self._play(item)
        await self._flush()
        return item.uid

    async def set_bot_rank(self, rank: int) -> None:
        """Change the channel rank of every logged-in client: ``rank`` to it, ``setUserRank``
        to everyone (and a fresh ``userlist`` when it crosses moderator)."""
        self.bot_rank = rank
        for client in self._clients:
            member = self._members.get((client.name or "").lower())
            if member is not None and member.client is client \
                    and member.global_rank >= GLOBAL_RANK_REGISTERED:
                self._set_rank(member, rank)
        await self._flush()

    async def broadcast(self, event: str, data: Any) -> None:
        """Send any frame to every socket in the channel (for events this fake does not
        model, e.g. ``setAFK``, ``usercount``, ``kick``)."""
        self._broadcast(event, data)
        await self._flush()

    def answer_next_queue(self, *answers: QueueAnswer) -> None:
        """Plan the answers to the next ``queue`` requests (in order)."""
        self.queue_answers.extend(answers)

    def _require_member(self, name: str) -> _Member:
        member = self._members.get(name.lower())
        if member is None:
            raise ValueError(f"{name} is not in the channel")
        return member

    # -- waiting --------------------------------------------------------------------------------

    async def wait_until(self, predicate: Callable[[], bool], what: str,
                         timeout: float = 10.0) -> None:
        """Until ``predicate()`` holds, re-checked on every change the fake sees; after
        ``timeout`` s a :class:`TimeoutError` naming ``what`` did not happen."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"fake CyTube: {what} did not happen within {timeout:g} s")
            self._changed.clear()
            if predicate():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))

    def limiter_cooled(self) -> bool:
        """True when the logged-in client has sent nothing for longer than CyTube's PM cooldown
        (burst / sustained = 2 s): its next message starts a fresh burst. A bot restarted on the
        same robot connection within that time inherits the used-up burst (CyTube keeps the
        limiter per connection); tests that start several bots on one robot wait for this."""
        client = next((c for c in self._clients if c.name is not None and c.in_channel), None)
        if client is None:
            return True
        burst, sustained = MIN_ANTIFLOOD
        return client.limiter.cooled(burst / sustained)

    async def wait_limiter_cooled(self, timeout: float = 10.0) -> None:
        """Until :meth:`limiter_cooled` holds."""
        await self.wait_until(self.limiter_cooled, "the client's limiter cooling down", timeout)

    async def wait_logged_in(self, timeout: float = 10.0) -> str:
        """Until a client is logged in and in the channel; returns its name."""
        await self.wait_until(lambda: self.bot_name is not None,
                              "a client logging in and joining the channel", timeout)
        name = self.bot_name
        assert name is not None
        return name

    async def wait_for_pm(self, to: str, predicate: Callable[[str], bool] | None = None, *,
                          since: int = 0, timeout: float = 10.0) -> SentPm:
        """The first PM to ``to`` in ``pms[since:]`` whose text satisfies ``predicate``."""
        key = to.lower()

        def find() -> SentPm | None:
            return next((p for p in self.pms[since:] if p.to.lower() == key
                         and (predicate is None or predicate(p.text))), None)

        try:
            await self.wait_until(lambda: find() is not None, f"a PM to {to}", timeout)
        except TimeoutError as exc:
            seen = [p.text for p in self.pms[since:] if p.to.lower() == key]
            raise TimeoutError(f"{exc}; PMs to {to} seen: {seen!r}") from None
        found = find()
        assert found is not None
        return found

    async def wait_for_chat(self, predicate: Callable[[str], bool] | None = None, *,
                            since: int = 0, timeout: float = 10.0) -> SentChat:
        """The first public line a client sent in ``chat_lines[since:]`` matching
        ``predicate``."""

        def find() -> SentChat | None:
            return next((c for c in self.chat_lines[since:]
                         if predicate is None or predicate(c.text)), None)

        try:
            await self.wait_until(lambda: find() is not None, "a public chat line", timeout)
        except TimeoutError as exc:
            seen = [c.text for c in self.chat_lines[since:]]
            raise TimeoutError(f"{exc}; lines seen: {seen!r}") from None
        found = find()
        assert found is not None
        return found

    async def wait_for_queue(self, predicate: Callable[[QueueRequest], bool] | None = None, *,
                             since: int = 0, timeout: float = 10.0) -> QueueRequest:
        """The first ``queue`` request in ``queue_requests[since:]`` matching ``predicate``."""

        def find() -> QueueRequest | None:
            return next((q for q in self.queue_requests[since:]
                         if predicate is None or predicate(q)), None)

        await self.wait_until(lambda: find() is not None, "a queue request", timeout)
        found = find()
        assert found is not None
        return found

    async def wait_for_rank_request(self, predicate: Callable[[RankRequest], bool] | None = None,
                                    *, since: int = 0, timeout: float = 10.0) -> RankRequest:
        """The first ``setChannelRank`` request in ``rank_requests[since:]`` matching
        ``predicate``."""

        def find() -> RankRequest | None:
            return next((r for r in self.rank_requests[since:]
                         if predicate is None or predicate(r)), None)

        await self.wait_until(lambda: find() is not None, "a setChannelRank request", timeout)
        found = find()
        assert found is not None
        return found


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _now_ms() -> int:
    return int(time.time() * 1000)
