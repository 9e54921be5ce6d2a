"""The outbox on the shipped defaults (economy.toml as committed), through a real nats-server and
kryten-py on both sides, with 500 users present. The robot stand-in judges every PM and chat line
of the bot with CyTube's own limiter (drops and counts what exceeds it, as CyTube does).

Prints:
1. sequential `balance` round trips (one PM at a time, each after the previous answer, at most
   ``--seq-rate`` a second; at 10 a second a bot is at CyTube's own ceiling, so replies would
   queue): p50/p95 from the PM's publish to the reply reaching the robot;
2. 20 users PM `balance` at once: time until the last reply;
3. 200 users at once: total time, the rate after the first burst, PMs dropped by the limiter;
4. 200 users at once plus a burst of chat announcements: messages dropped, chat lines sent.
A pause longer than CyTube's cooldown separates the parts (the limiter starts fresh).

Usage: python bench/outbox.py [--users 500] [--sequential 200] [--seq-rate 5]
Targets: 1. p50 < 15 ms; 2. < 0.3 s; 3. all answered, ~10 a second after the burst, 0 dropped;
4. 0 dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from economy_core.app import EconomyApp
from economy_core.clock import SystemClock
from economy_core.config import AppConfig, parse_config
from economy_core.events import user_key
from economy_core.manager import installed_entry_points
from economy_core.natsd import NatsServer
from economy_core.robot import RobotStandIn
from economy_core.testing import resolve_plugins, wait_until

ROOT = Path(__file__).resolve().parents[1]
CHANNEL = "bench"
PLUGINS = ["presence", "wallet"]
PAUSE = 2.5
"""Seconds between the parts: longer than CyTube's cooldown (2 s) plus the planner's margin."""


def shipped_config(nats_url: str, db_url: str) -> AppConfig:
    """The committed economy.toml, pointed at the bench's nats-server, database and channel."""
    data: dict[str, Any] = tomllib.loads((ROOT / "economy.toml").read_text(encoding="utf-8"))
    data["nats"]["servers"] = [nats_url]
    data["channels"] = [{"domain": "cytu.be", "channel": CHANNEL}]
    data["database"]["url"] = db_url
    data["metrics"]["port"] = 0
    sections = data["plugins"]
    data["plugins"] = {"enabled": PLUGINS, **{p: sections[p] for p in PLUGINS if p in sections}}
    infos = resolve_plugins(PLUGINS)
    schemas: dict[str, type | None] = {name: None for name in installed_entry_points()}
    schemas.update({i.name: i.config_class for i in infos})
    return parse_config(data, schemas=schemas, env={}, source="economy.toml")


async def arrivals(robot: RobotStandIn, start: int, count: int, timeout: float) -> list[float]:
    """perf_counter() when each of the next ``count`` PMs (from index ``start``) reached the
    robot (woken by each arrival, not polled)."""
    times = []
    for n in range(start + 1, start + count + 1):
        await robot.wait_for_pms(n, timeout)
        times.append(time.perf_counter())
    return times


async def at_once(robot: RobotStandIn, names: list[str]) -> tuple[float, list[float]]:
    """All ``names`` PM `balance` at the same moment; (start, arrival times of the replies)."""
    before = len(robot.sent_pms)
    started = time.perf_counter()
    await asyncio.gather(*(robot.pm(name, "balance") for name in names))
    times = await arrivals(robot, before, len(names), 120)
    answered = {user_key(to) for to, _ in robot.sent_pms[before:]}
    assert answered == {user_key(n) for n in names}, "a reply is missing or went to someone else"
    return started, times


async def main(users: int, sequential: int, seq_rate: float) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        nats = NatsServer(store_dir=str(Path(tmp) / "nats"))
        await nats.start()
        robot = RobotStandIn(nats.url, channel=CHANNEL)
        await robot.start()
        names = [f"user{i:04d}" for i in range(users)]
        await robot.set_userlist([{"name": n, "rank": 1, "meta": {"afk": False}} for n in names])
        config = shipped_config(nats.url, f"sqlite+aiosqlite:///{tmp}/bench.db")
        app = EconomyApp(config, resolve_plugins(PLUGINS), clock=SystemClock())
        await app.start()
        failed = False
        try:
            assert app._bus is not None
            await app._bus.wait_connected(10)
            await wait_until(lambda: app.rooms[CHANNEL].seeded, 10)
            await asyncio.wait_for(app._bus.drain(), 10)
            box = config.core.outbox
            print(f"shipped outbox: burst {box.pm_burst}, {box.pm_per_second:g}/s, margin "
                  f"{box.margin_seconds * 1000:g} ms, cooldown margin "
                  f"{box.cooldown_margin_seconds * 1000:g} ms, chat {box.chat_per_minute}/min; "
                  f"{users} users present")

            # 1. sequential round trips
            rtts = []
            next_pm = time.monotonic()
            for i in range(sequential):
                await asyncio.sleep(max(0.0, next_pm - time.monotonic()))
                next_pm = time.monotonic() + 1.0 / seq_rate
                before = len(robot.sent_pms)
                started = time.perf_counter()
                await robot.pm(names[i % users], "balance")
                await robot.wait_for_pms(before + 1, 10)
                rtts.append((time.perf_counter() - started) * 1000)
            rtts.sort()
            p95 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.95))]
            print(f"1. sequential balance round trip ({sequential} PMs, ≤ {seq_rate:g}/s): "
                  f"p50 {statistics.median(rtts):.1f} ms, p95 {p95:.1f} ms")

            # 2. twenty at once
            await asyncio.sleep(PAUSE)
            started, times = await at_once(robot, names[:20])
            print(f"2. 20 users at once: last reply after {times[-1] - started:.3f} s")

            # 3. two hundred at once
            await asyncio.sleep(PAUSE)
            dropped = robot.dropped
            started, times = await at_once(robot, names[:200])
            burst = config.core.outbox.pm_burst
            rate = (len(times) - burst) / (times[-1] - times[burst - 1])
            print(f"3. 200 users at once: all answered after {times[-1] - started:.2f} s, "
                  f"{rate:.1f}/s after the first burst of {burst}; dropped by CyTube's limiter: "
                  f"{robot.dropped - dropped}")
            failed |= robot.dropped != dropped

            # 4. two hundred at once plus a burst of chat announcements
            await asyncio.sleep(PAUSE)
            dropped, chat_before = robot.dropped, len(robot.sent_chat)
            for i in range(15):
                app.outbox.chat(CHANNEL, f"📣 announcement {i}", summary="bench announcements")
            pms = asyncio.gather(*(robot.pm(name, "balance") for name in names[200:400]))
            for i in range(15, 30):
                app.outbox.chat(CHANNEL, f"📣 announcement {i}", summary="bench announcements")
            await pms
            await wait_until(lambda: {user_key(to) for to, _ in robot.sent_pms}
                             >= {user_key(n) for n in names[200:400]}, 120, interval=0.01)
            chat = robot.sent_chat[chat_before:]
            print(f"4. 200 users at once + 30 chat announcements: dropped by CyTube's limiter: "
                  f"{robot.dropped - dropped}; chat lines sent {len(chat)}, "
                  f"{app.outbox.depth()} waiting for the politeness budget "
                  f"({config.core.outbox.chat_per_minute}/min, the rest folded), "
                  f"last sent: {chat[-1]!r}")
            failed |= robot.dropped != dropped
        finally:
            await app.stop()
            await robot.stop()
            await nats.stop()
        return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--sequential", type=int, default=200)
    parser.add_argument("--seq-rate", type=float, default=5.0,
                        help="at most this many sequential PMs a second")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.users, args.sequential, args.seq_rate)))
