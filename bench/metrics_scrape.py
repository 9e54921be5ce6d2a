"""Scraping /metrics with 20 channels and 10,000 accounts, and what scrapes do to PM replies.

Starts the app (SQLite, every built-in plugin, the metrics endpoint on a loopback port), gives
10,000 accounts spread over 20 channels varied balances, seats some users in every room, plays
PMs in every channel so the command, event and posting families carry realistic label sets, and
runs the scheduled gauge refresh once. Then:

1. scrapes ``/metrics`` over HTTP back to back and prints the scrape time (p50/p95/max; target
   < 50 ms), the page's size and series count;
2. the refresh the core runs every ``metrics.refresh_seconds`` (the only part that queries the
   database): its time;
3. PM handling time (arrival → replies queued) for the same kind of PMs with nothing else
   running; while another thread (Prometheus's side) scrapes every 10 ms (1,500 times the usual
   15 s interval) and back to back with no pause; and while the refresh runs back to back: a
   scrape must not stall the replies. The bot's HTTP server renders on the bot's event loop, so
   every millisecond a scrape takes there shows in these figures.

Usage: python bench/metrics_scrape.py [--channels 20] [--accounts 10000] [--scrapes 200]
       [--pms 300]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable

import aiohttp

from economy_core.app import EconomyApp
from economy_core.clock import FakeClock
from economy_core.events import PrivateMessage, RoomSnapshot, RoomUser
from economy_core.ledger import Award, Kind
from economy_core.manager import installed_entry_points
from economy_core.testing import RecordingTransport, build_config, resolve_plugins

COMMANDS = ("balance", "help", "rank", "stats", "streak", "top", "achievements", "about", "shop")
PRESENT_PER_CHANNEL = 50


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def figures(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return (f"p50 {statistics.median(ms):6.2f} ms · p95 {p95:6.2f} ms · max {ms[-1]:6.2f} ms "
            f"(n={len(ms)})")


async def build(tmp: str, channels: int, accounts: int, port: int) -> EconomyApp:
    names = [f"chan{i:02d}" for i in range(channels)]
    plugins = sorted(n for n, ep in installed_entry_points().items()
                     if ep.value.startswith("economy_plugins."))
    infos = resolve_plugins(plugins)
    config = build_config(infos, {
        "channels": [{"domain": "cytu.be", "channel": n} for n in names],
        "metrics": {"port": port},
        "commands": {"rate_limit_per_minute": 1_000},
    }, database_url=f"sqlite+aiosqlite:///{tmp}/metrics.db", channel=names[0])
    app = EconomyApp(config, infos, clock=FakeClock(), transport=RecordingTransport())
    await app.start()
    rng = random.Random(17)
    per_channel = accounts // channels
    for channel in names:
        awards = [Award(f"user{i:05d}", rng.randint(1, 50_000), type="admin_grant",
                        kind=Kind.EARN, reason="bench") for i in range(per_channel)]
        result = await app.ledger.credit_many(channel, awards)
        assert result.ok, result
        room = tuple(RoomUser(f"user{i:05d}", 1) for i in range(PRESENT_PER_CHANNEL))
        await app.handle_event(RoomSnapshot(channel, room, app.clock.now()))
    assert await app.ledger.account_count() == per_channel * channels
    for n in range(600):  # label sets of a bot that has been running a while
        channel = names[n % channels]
        await app.handle_event(PrivateMessage(channel, f"user{n % per_channel:05d}",
                                              COMMANDS[n % len(COMMANDS)], app.clock.now()))
    await app.settle(60.0)
    await app.refresh_metrics()
    return app


async def pm_times(app: EconomyApp, pms: int, offset: int) -> list[float]:
    channels = app.rooms.channels
    times = []
    for n in range(pms):
        pm = PrivateMessage(channels[n % len(channels)], f"user{(offset + n) % 400:05d}",
                            COMMANDS[n % 3], app.clock.now())
        started = time.perf_counter()
        await app.handle_event(pm)
        times.append(time.perf_counter() - started)
        await asyncio.sleep(0)  # let the other task (scraper, refresher) run between PMs
    return times


async def while_running(app: EconomyApp, pms: int, offset: int,
                        busy: Callable[[], Awaitable[object]] | None) -> list[float]:
    """PM handling times while ``busy`` runs in a loop on the bot's event loop (None: nothing
    else runs)."""
    if busy is None:
        return await pm_times(app, pms, offset)
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            await busy()

    task = asyncio.create_task(loop())
    try:
        return await pm_times(app, pms, offset)
    finally:
        stop.set()
        await task


class Scraper(threading.Thread):
    """Prometheus's side: another thread GETs /metrics every ``interval`` seconds (0: back to
    back) and records each scrape's time."""

    def __init__(self, url: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.interval = interval
        self.times: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            started = time.perf_counter()
            with urllib.request.urlopen(self.url, timeout=10) as response:
                response.read()
            self.times.append(time.perf_counter() - started)
            if self.interval:
                self.done.wait(self.interval)


async def while_scraped(app: EconomyApp, pms: int, offset: int, url: str,
                        interval: float) -> tuple[list[float], list[float]]:
    """PM handling times while another thread scrapes; and the scrapes' times."""
    scraper = Scraper(url, interval)
    scraper.start()
    try:
        return await pm_times(app, pms, offset), scraper.times
    finally:
        scraper.done.set()
        await asyncio.to_thread(scraper.join)


async def main(channels: int, accounts: int, scrapes: int, pms: int) -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        setup = time.perf_counter()
        app = await build(tmp, channels, accounts, port)
        print(f"set-up: {channels} channels, {accounts:,} accounts, "
              f"{channels * PRESENT_PER_CHANNEL} present, built in "
              f"{time.perf_counter() - setup:.1f} s")
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            async with aiohttp.ClientSession() as session:
                async def scrape() -> str:
                    async with session.get(url) as response:
                        assert response.status == 200
                        return await response.text()

                page = await scrape()
                series = sum(1 for line in page.splitlines() if line and line[0] != "#")
                print(f"/metrics: {len(page) / 1024:.1f} KiB, {series} series")
                times = []
                for _ in range(scrapes):
                    started = time.perf_counter()
                    await scrape()
                    times.append(time.perf_counter() - started)
                print(f"scrape over HTTP                  {figures(times)}  (target < 50 ms)")
                renders = []
                for _ in range(scrapes):
                    started = time.perf_counter()
                    app.metrics.render()
                    renders.append(time.perf_counter() - started)
                print(f"render only                       {figures(renders)}")
                refreshes = []
                for _ in range(20):
                    started = time.perf_counter()
                    await app.refresh_metrics()
                    refreshes.append(time.perf_counter() - started)
                print(f"gauge refresh (scheduled)         {figures(refreshes)}")

                quiet = await while_running(app, pms, 0, None)
                print(f"PM handling, {'nothing else':<21}{figures(quiet)}")
                for label, interval in (("scrapes every 10 ms", 0.01),
                                        ("scrapes back to back", 0.0)):
                    handled, scraped = await while_scraped(app, pms, 100, url, interval)
                    print(f"PM handling, {label:<21}{figures(handled)}")
                    print(f"  {len(scraped):5d} scrapes meanwhile{'':<12}{figures(scraped)}")
                refreshed = await while_running(app, pms, 200, app.refresh_metrics)
                print(f"PM handling, {'refresh loop':<21}{figures(refreshed)}")
        finally:
            await app.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--pms", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.channels, args.accounts, args.scrapes, args.pms))
