"""PM `balance` round trips through a real nats-server, with the bot as a separate process
(`cytube-economy run`) on the shipped economy.toml, while 500 users are present and 200 chat
lines/s flow. PMs go one at a time, each after the previous answer and at most ``--pm-rate`` a
second (5: a busy room). The outbox paces replies as CyTube's limiter allows: a reply alone goes
at once; at 10 PMs a second the bot would be at CyTube's own ceiling (10 a second after a burst
of 20, less the outbox's safety margin), so replies queue and each round trip grows to one gap.

Prints p50/p99 round-trip times and checks that no event was dropped (every chat line reached
the bot: its events counter) and that the robot stand-in's copy of CyTube's limiter dropped none
of the bot's messages. Target: p50 < 15 ms, p99 < 50 ms, nothing dropped.

Usage: python bench/e2e.py [--users 500] [--chat-rate 200] [--pms 200] [--pm-rate 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from economy_core.natsd import NatsServer, free_port
from economy_core.robot import RobotStandIn

ROOT = Path(__file__).resolve().parents[1]


def write_config(tmp: Path, nats_url: str, metrics_port: int) -> Path:
    text = (ROOT / "economy.toml").read_text(encoding="utf-8")
    text = text.replace("servers = []", f'servers = ["{nats_url}"]')
    text = text.replace('channel = "mychannel"', 'channel = "bench"')
    text = text.replace('url = "sqlite+aiosqlite:///economy.db"',
                        f'url = "sqlite+aiosqlite:///{tmp / "bench.db"}"')
    text = text.replace("port = 28290", f"port = {metrics_port}")
    path = tmp / "economy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def chat_events_seen(metrics_port: int) -> int:
    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                  timeout=5).read().decode()
    for line in body.splitlines():
        if line.startswith("economy_events_in_total") and 'type="ChatMessage"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


async def main(users: int, chat_rate: int, pms: int, pm_rate: float) -> int:
    """Run the benchmark; exit status 1 when a chat line was dropped."""
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        nats = NatsServer(store_dir=str(tmp / "nats"))
        await nats.start()
        robot = RobotStandIn(nats.url, channel="bench")
        await robot.start()
        names = [f"user{i:04d}" for i in range(users)]
        await robot.set_userlist([{"name": n, "rank": 1, "meta": {"afk": False}} for n in names])
        metrics_port = free_port()
        config = write_config(tmp, nats.url, metrics_port)
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "economy_core.cli", "--config", str(config), "run",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            # wait until the bot answers
            deadline = time.monotonic() + 30
            while True:
                before = len(robot.sent_pms)
                await robot.pm("probe", "balance")
                try:
                    await robot.wait_for_pms(before + 1, timeout=1.0)
                    break
                except TimeoutError:
                    if time.monotonic() > deadline:
                        raise
            stop = asyncio.Event()
            sent_chat = 0

            async def chatter() -> None:
                nonlocal sent_chat
                interval = 1.0 / chat_rate
                next_at = time.monotonic()
                while not stop.is_set():
                    await robot.chat(names[sent_chat % users], f"line {sent_chat} hello there")
                    sent_chat += 1
                    next_at += interval
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))

            chat_task = asyncio.create_task(chatter()) if chat_rate > 0 else None
            rtts = []
            next_pm = time.monotonic()
            for i in range(pms):
                await asyncio.sleep(max(0.0, next_pm - time.monotonic()))
                next_pm = time.monotonic() + 1.0 / pm_rate
                name = names[i % users]
                before = len(robot.sent_pms)
                started = time.perf_counter()
                await robot.pm(name, "balance")
                await robot.wait_for_pms(before + 1, timeout=10)
                rtts.append((time.perf_counter() - started) * 1000)
            stop.set()
            if chat_task is not None:
                await chat_task
            # no event dropped: every chat line reached the bot
            deadline = time.monotonic() + 20
            seen = 0
            while time.monotonic() < deadline:
                seen = await asyncio.to_thread(chat_events_seen, metrics_port)
                if seen >= sent_chat:
                    break
                await asyncio.sleep(0.2)
            rtts.sort()
            p50 = statistics.median(rtts)
            p99 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))]
            print(f"{users} users present, {chat_rate} chat lines/s: PM balance round trip "
                  f"p50 {p50:.1f} ms, p99 {p99:.1f} ms over {pms} PMs; chat lines sent "
                  f"{sent_chat}, received by the bot {seen}"
                  f"{' (none dropped)' if seen == sent_chat else ' (DROPPED SOME)'}; "
                  f"bot messages dropped by CyTube's limiter: {robot.dropped}")
            return 0 if seen == sent_chat and robot.dropped == 0 else 1
        finally:
            bot.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.wait(), 30)
            await robot.stop()
            await nats.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--chat-rate", type=int, default=200)
    parser.add_argument("--pms", type=int, default=200)
    parser.add_argument("--pm-rate", type=float, default=5.0,
                        help="at most this many PMs a second (each waits for its answer)")
    a = parser.parse_args()
    raise SystemExit(asyncio.run(main(a.users, a.chat_rate, a.pms, a.pm_rate)))
