"""One presence tick for 1,000 / 10,000 / 50,000 present users on SQLite.

Prints the seconds the tick takes (one ledger transaction: every user's pay, minutes counter and
last_seen) and the memory the sessions add. Targets: 10,000 users < 0.5 s; < 50 MB for 50,000.

Usage: python bench/presence_tick.py [--users 1000 10000 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import tempfile
import time

from economy_core.app import EconomyApp
from economy_core.clock import FakeClock
from economy_core.events import RoomSnapshot, RoomUser
from economy_core.testing import RecordingTransport, build_config, resolve_plugins


def rss_mb() -> float:
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def one(users: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        infos = resolve_plugins(["presence"])
        config = build_config(infos, {}, database_url=f"sqlite+aiosqlite:///{tmp}/tick.db",
                              channel="bench")
        clock = FakeClock()
        app = EconomyApp(config, infos, clock=clock, transport=RecordingTransport())
        await app.start()
        try:
            gc.collect()
            before = rss_mb()
            room = tuple(RoomUser(f"user{i:05d}", 1) for i in range(users))
            seed_started = time.perf_counter()
            await app.handle_event(RoomSnapshot("bench", room, clock.now()))
            seed_s = time.perf_counter() - seed_started
            gc.collect()
            grown = rss_mb() - before
            times = []
            for _ in range(3):
                started = time.perf_counter()
                await clock.advance(60)
                times.append(time.perf_counter() - started)
            circulation = await app.ledger.circulation("bench")
            assert circulation == 3 * users, circulation
            print(f"{users:>6,} users: tick {min(times):.3f} s (best of 3; first "
                  f"{times[0]:.3f} s), seeding {seed_s:.2f} s, memory +{grown:.1f} MB "
                  f"(room + sessions)")
        finally:
            await app.stop()


async def main(sizes: list[int]) -> None:
    for size in sizes:
        await one(size)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1_000, 10_000, 50_000])
    asyncio.run(main(parser.parse_args().users))
