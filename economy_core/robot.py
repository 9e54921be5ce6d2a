"""A stand-in for kryten-robot on the wire (end-to-end tests and the demo).

It uses kryten-py's ``KrytenClient`` too (publish, KV, request/reply), and publishes events exactly
as the robot does: subject ``kryten.events.cytube.<channel>.<eventname>``, envelope
``{event_name, payload, channel, domain, timestamp, correlation_id}``, chat text HTML-escaped,
``time`` in milliseconds. It keeps the KV userlist (``kryten_<channel>_userlist``/``users``) the
bot seeds from and the KV playlist (``kryten_<channel>_playlist``/``items``: CyTube's playlist
items, an accepted ``addvideo`` joins it before the answer goes out), answers
``state.userlist``/``state.user``/``state.playlist`` requests, and records
the ``pm`` and ``say`` commands the bot sends (``kryten.robot.command``). Those pass CyTube's
limiter first, exactly as CyTube applies it to the bot's account (:mod:`economy_core.ratelimit`:
one limiter for PMs and chat; chat checked with ``chat_limits``): a message over it is dropped,
not recorded, and counted in ``dropped``.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from .ratelimit import CYTUBE_PM, CyTubeLimiter

COMMAND_SUBJECT = "kryten.robot.command"
"""Where kryten-py sends commands to the robot (``pm``, ``say``) and asks it for state."""


def escape_like_cytube(text: str) -> str:
    """CyTube escapes & < > " ' ( ) in chat and PM text."""
    out = html.escape(text, quote=True).replace("&#x27;", "&#39;")
    return out.replace("(", "&#40;").replace(")", "&#41;")


class RobotStandIn:
    """Plays kryten-robot for one channel; see the module docstring."""

    def __init__(self, url: str, *, domain: str = "cytu.be", channel: str = "testroom",
                 bot_username: str = "ZCoinBot", cytube_limiter: bool = True) -> None:
        """``cytube_limiter=False`` lets every message through (benchmarks of the bot's own
        handling with pacing switched off); by default CyTube's limiter drops what exceeds it."""
        self.url = url
        self.domain = domain
        self.channel = channel
        self.bot_username = bot_username
        self.users: dict[str, dict[str, Any]] = {}
        self.sent_pms: list[tuple[str, str]] = []
        self.sent_chat: list[str] = []
        self.commands: list[dict[str, Any]] = []
        self.limiter = CyTubeLimiter(now_ms=lambda: int(time.monotonic() * 1000))
        """CyTube's limiter for the bot's account, shared by its PMs and chat (exact)."""
        self.chat_limits = CYTUBE_PM
        """What CyTube checks the bot's public chat with (a channel's antiflood params when
        antiflood is on and the bot is below moderator)."""
        self.limited = cytube_limiter
        self.media_answer = "queued"
        """How ``addvideo`` is answered: "queued" (a fresh playlist uid), "refused"
        (``media_error``), "unconfirmed" (the robot's answer after CyTube's silence) or "silent"
        (no answer at all)."""
        self.media_error = "This item is already on the playlist"
        self.accepted_late = False
        """With an "unconfirmed" or "silent" answer, CyTube took the item anyway: it is on the
        playlist (written to KV right after the answer, or where there is none, at once)."""
        self.queued_media: list[dict[str, Any]] = []
        """The ``addvideo`` requests received (args), in order."""
        self.playlist: list[dict[str, Any]] = []
        """The room's playlist as the robot keeps it in KV (CyTube's items)."""
        self.rank_requests: list[dict[str, Any]] = []
        """The ``setChannelRank`` requests received (args), in order."""
        self._next_uid = 1000
        self.dropped_messages: list[tuple[str, dict[str, Any]]] = []
        """(command, args) of each message CyTube's limiter dropped (lost, as on CyTube)."""
        self._client: Any = None
        self._arrived = asyncio.Event()
        """Set whenever a command from the bot arrives (waiters wake at once, no polling)."""

    async def start(self) -> None:
        from kryten import KrytenClient

        self._client = KrytenClient(
            {"nats": {"servers": [self.url]},
             "channels": [{"domain": self.domain, "channel": self.channel}],
             "log_level": "ERROR"},
            logger=logging.getLogger("economy_core.robot.kryten"))

        async def quiet(exc: Exception) -> None:  # a NATS restart in a test is not an error
            logging.getLogger("economy_core.robot").debug("stand-in NATS: %s", exc)

        self._client._on_error = quiet  # read by connect(): set before it
        await self._client.connect()
        await self._client.get_or_create_kv_bucket(self.bucket)
        await self._client.get_or_create_kv_bucket(self.playlist_bucket)
        await self._write_playlist()
        await self._client.subscribe(COMMAND_SUBJECT, self._on_command)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.disconnect()
            self._client = None

    @property
    def bucket(self) -> str:
        return f"kryten_{self.channel}_userlist"

    @property
    def playlist_bucket(self) -> str:
        return f"kryten_{self.channel}_playlist"

    # -- the robot's side of commands ---------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Messages of the bot (PMs and chat) that CyTube's limiter would have dropped."""
        return self.limiter.dropped

    async def _on_command(self, msg: Any) -> None:
        arrived_ms = int(time.monotonic() * 1000)  # as CyTube's Date.now() on arrival
        data = json.loads(msg.data.decode("utf-8"))
        self.commands.append(data)
        self._arrived.set()
        args = data.get("args", {})
        command = data.get("command")
        if command in ("pm", "say") and self.limited:
            limits = CYTUBE_PM if command == "pm" else self.chat_limits
            if self.limiter.throttle(limits, arrived_ms):  # CyTube drops it, silently
                self.dropped_messages.append((str(command), args))
                self._arrived.set()
                return
        if command == "pm":
            self.sent_pms.append((str(args.get("to", "")), str(args.get("msg", ""))))
        elif command == "say":
            self.sent_chat.append(str(args.get("message", "")))
        elif command == "setChannelRank":
            self.rank_requests.append(dict(args))
        elif command == "addvideo":
            self.queued_media.append(dict(args))
            answer = await self._media_answer(args)
            if answer is not None and msg.reply:
                await self._client.publish(msg.reply, {"service": "robot", "command": command,
                                                       "success": True, "data": answer})
            if self.accepted_late and self.media_answer in ("unconfirmed", "silent"):
                await self.add_to_playlist(str(args.get("type", "")), str(args.get("id", "")))
        elif msg.reply:
            answer = await self._on_state({**args, **data})
            await self._client.publish(msg.reply, answer)

    async def _media_answer(self, args: dict[str, Any]) -> dict[str, Any] | None:
        """What kryten-robot answers to ``addvideo`` (its ``data``), None for silence; an item
        already on the playlist is refused as CyTube does."""
        if self.media_answer == "silent":
            return None
        if self.media_answer == "refused":
            return {"success": False, "error": self.media_error}
        if self.media_answer == "unconfirmed":
            return {"success": True, "uid": None}
        media_type, media_id = str(args.get("type", "")), str(args.get("id", ""))
        if any(i["media"]["type"] == media_type and i["media"]["id"] == media_id
               for i in self.playlist):
            return {"success": False, "error": "This item is already on the playlist"}
        return {"success": True, "uid": await self.add_to_playlist(media_type, media_id)}

    async def add_to_playlist(self, media_type: str, media_id: str, *, title: str = "",
                              seconds: int = 300) -> int:
        """An item joins the playlist (CyTube's ``queue``): the KV state is rewritten; returns
        its uid."""
        self._next_uid += 1
        minutes, secs = divmod(seconds, 60)
        self.playlist.append({"media": {"type": media_type, "id": media_id,
                                        "title": title or f"{media_type}:{media_id}",
                                        "seconds": seconds,
                                        "duration": f"{minutes:02d}:{secs:02d}", "meta": {}},
                              "uid": self._next_uid, "temp": True, "queueby": self.bot_username})
        await self._write_playlist()
        return self._next_uid

    async def remove_from_playlist(self, media_id: str) -> None:
        """Items with this media id leave the playlist (CyTube's ``delete``)."""
        self.playlist = [i for i in self.playlist if i["media"]["id"] != media_id]
        await self._write_playlist()

    async def _write_playlist(self) -> None:
        await self._client.kv_put(self.playlist_bucket, "items", self.playlist, as_json=True)

    async def _on_state(self, request: dict[str, Any]) -> dict[str, Any]:
        command = request.get("command")
        if command == "state.userlist":
            return {"success": True, "data": list(self.users.values())}
        if command == "state.playlist":
            return {"service": "robot", "command": command, "success": True,
                    "data": {"playlist": list(self.playlist)}}
        if command == "state.user":
            name = str(request.get("username", "")).casefold()
            for user in self.users.values():
                if user["name"].casefold() == name:
                    return {"success": True, "data": user}
            return {"success": False, "error": "user not found"}
        return {"success": False, "error": f"unknown command {command}"}

    # -- room state -----------------------------------------------------------------------------

    async def set_userlist(self, users: list[dict[str, Any]]) -> None:
        """Replace the room's userlist in KV (users present before the bot starts)."""
        self.users = {u["name"].casefold(): u for u in users}
        await self._write_userlist()

    async def set_emotes(self, names: list[str]) -> None:
        """Write the channel's emote list to KV (as the robot keeps it: {name, image})."""
        bucket = f"kryten_{self.channel}_emotes"
        await self._client.get_or_create_kv_bucket(bucket)
        await self._client.kv_put(bucket, "list",
                                  [{"name": n, "image": f"https://x.test/{i}.png"}
                                   for i, n in enumerate(names)], as_json=True)

    async def _write_userlist(self) -> None:
        await self._client.kv_put(self.bucket, "users", list(self.users.values()), as_json=True)

    async def publish(self, event_name: str, payload: Any) -> None:
        """One event, enveloped and addressed as kryten-robot does."""
        envelope = {"event_name": event_name, "payload": payload, "channel": self.channel,
                    "domain": self.domain, "timestamp": datetime.now(UTC).isoformat(),
                    "correlation_id": str(uuid.uuid4())}
        subject = f"kryten.events.cytube.{self.channel.lower().replace('.', '')}." \
                  f"{event_name.lower()}"
        await self._client.publish(subject, envelope)

    async def add_user(self, name: str, rank: int = 1, afk: bool = False) -> None:
        user = {"name": name, "rank": rank, "profile": {"image": "", "text": ""},
                "meta": {"afk": afk, "muted": False, "smuted": False}}
        self.users[name.casefold()] = user
        await self._write_userlist()
        await self.publish("addUser", {**user, "rank": min(rank, 1)})
        await self.publish("setUserRank", {"name": name, "rank": rank})

    async def remove_user(self, name: str) -> None:
        self.users.pop(name.casefold(), None)
        await self._write_userlist()
        await self.publish("userLeave", {"name": name})

    async def chat(self, name: str, msg: str, *, time_ms: int | None = None,
                   shadow: bool = False) -> None:
        meta: dict[str, Any] = {"shadow": True} if shadow else {}
        await self.publish("chatMsg", {"username": name, "msg": escape_like_cytube(msg),
                                       "meta": meta,
                                       "time": time_ms if time_ms is not None
                                       else int(time.time() * 1000)})

    async def pm(self, name: str, msg: str) -> None:
        await self.publish("pm", {"username": name, "msg": escape_like_cytube(msg), "meta": {},
                                  "time": int(time.time() * 1000), "to": self.bot_username})

    async def change_media(self, type: str, id: str, title: str, seconds: int) -> None:
        minutes, secs = divmod(seconds, 60)
        await self.publish("changeMedia", {"id": id, "title": title, "seconds": seconds,
                                           "duration": f"{minutes:02d}:{secs:02d}",
                                           "type": type, "meta": {}, "currentTime": 0,
                                           "paused": False})

    async def set_afk(self, name: str, afk: bool) -> None:
        user = self.users.get(name.casefold())
        if user is not None:
            user.setdefault("meta", {})["afk"] = afk
            await self._write_userlist()
        await self.publish("setAFK", {"name": name, "afk": afk})

    async def restart(self) -> None:
        """What a robot restart looks like on the wire: its lifecycle startup event."""
        await self._client.publish("kryten.lifecycle.robot.startup",
                                   {"service": "robot", "version": "stand-in",
                                    "timestamp": datetime.now(UTC).isoformat()})

    # -- waiting --------------------------------------------------------------------------------

    async def wait_for_pms(self, n: int, timeout: float = 5.0) -> list[tuple[str, str]]:
        await self._wait(lambda: len(self.sent_pms) >= n, timeout)
        return list(self.sent_pms)

    async def wait_for_chat(self, n: int, timeout: float = 5.0) -> list[str]:
        await self._wait(lambda: len(self.sent_chat) >= n, timeout)
        return list(self.sent_chat)

    async def _wait(self, predicate: Any, timeout: float) -> None:
        """Until ``predicate()`` holds, woken by each arriving command (so a round trip is
        measured to the moment its answer lands, not to the next poll)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"robot stand-in: condition not met within {timeout} s")
            self._arrived.clear()
            if predicate():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
