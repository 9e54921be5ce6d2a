"""One presence tick for 1,000 / 10,000 / 50,000 present users on SQLite, without and with the
rank check.

Prints the seconds the tick takes (one ledger transaction: every user's pay, minutes counter and
last_seen) until its commit observers are done (``settle``: the ranks plugin checks the tick's
postings there), and the memory the sessions add; then the same with the ranks plugin enabled
and what its check adds. Targets: 10,000 users < 0.5 s; < 50 MB for 50,000; the rank check
adds < 20 % to the tick.

Usage: python bench/presence_tick.py [--users 1000 10000 50000] [--ranks off|on|both]
       [--rounds 2]
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

TICKS = 8


def rss_mb() -> float:
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def one(users: int, plugins: list[str]) -> float:
    """The best of :data:`TICKS` ticks (seconds) with ``plugins`` enabled."""
    with tempfile.TemporaryDirectory() as tmp:
        infos = resolve_plugins(plugins)
        # no welcome wallets (paid at first sight, the snapshot): the ticks alone are measured
        config = build_config(infos, {"plugins": {"presence": {"welcome_wallet": {
            "enabled": False}}}}, database_url=f"sqlite+aiosqlite:///{tmp}/tick.db",
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
            for _ in range(TICKS):
                gc.collect()  # each tick starts from the same heap (less noise between runs)
                started = time.perf_counter()
                await clock.advance(60)
                await app.settle(60.0)  # the commit observers (the rank check) are done
                times.append(time.perf_counter() - started)
            circulation = await app.ledger.circulation("bench")
            assert circulation == TICKS * users, circulation
            label = " + ".join(plugins)
            print(f"{users:>6,} users, {label}: tick {min(times):.3f} s (best of {TICKS}; first "
                  f"{times[0]:.3f} s), seeding {seed_s:.2f} s, memory +{grown:.1f} MB "
                  f"(room + sessions)")
            return min(times)
        finally:
            await app.stop()


async def main(sizes: list[int], ranks: str, rounds: int) -> None:
    for size in sizes:
        # alternate the two set-ups so that a busy machine slows both alike; keep each best
        without = with_ranks = None
        for _ in range(rounds):
            if ranks in ("off", "both"):
                t = await one(size, ["presence"])
                without = t if without is None else min(without, t)
            if ranks in ("on", "both"):
                t = await one(size, ["presence", "ranks"])
                with_ranks = t if with_ranks is None else min(with_ranks, t)
        if without is not None and with_ranks is not None:
            print(f"{size:>6,} users: the rank check adds {with_ranks - without:+.3f} s "
                  f"({(with_ranks - without) / without * 100:+.1f} %) to the tick")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1_000, 10_000, 50_000])
    parser.add_argument("--ranks", choices=("off", "on", "both"), default="both",
                        help="tick without the ranks plugin, with it, or both (default)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="runs of each set-up, alternated (the best tick counts)")
    args = parser.parse_args()
    asyncio.run(main(args.users, args.ranks, args.rounds))
