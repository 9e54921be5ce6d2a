"""20 users PM `help` at the same moment, through a real nats-server and kryten-py on both sides;
prints the time until the last reply arrives at the robot, with the outbox pacing gap at 0.1 s.

Usage: python bench/outbox.py [--users 20] [--gap 0.1]
Target: < 2.5 s for 20 users at a 0.1 s gap.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from economy_core.app import EconomyApp
from economy_core.clock import SystemClock
from economy_core.natsd import NatsServer
from economy_core.robot import RobotStandIn
from economy_core.testing import build_config, resolve_plugins, wait_until


async def main(users: int, gap: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        nats = NatsServer(store_dir=str(Path(tmp) / "nats"))
        await nats.start()
        robot = RobotStandIn(nats.url, channel="bench")
        await robot.start()
        await robot.set_userlist([])
        infos = resolve_plugins(["presence", "wallet"])
        config = build_config(infos, {"nats": {"servers": [nats.url]},
                                      "outbox": {"min_gap_seconds": gap},
                                      "commands": {"rate_limit_per_minute": 1000}},
                              database_url=f"sqlite+aiosqlite:///{tmp}/bench.db",
                              channel="bench")
        app = EconomyApp(config, infos, clock=SystemClock())
        await app.start()
        try:
            await app._bus.wait_connected(10)
            await wait_until(lambda: app.rooms["bench"].seeded, 10)
            names = [f"user{i:02d}" for i in range(users)]
            started = time.perf_counter()
            await asyncio.gather(*(robot.pm(name, "help") for name in names))
            await wait_until(lambda: {to for to, _ in robot.sent_pms} >= set(names), 60,
                             interval=0.001)
            elapsed = time.perf_counter() - started
            chunks = len(robot.sent_pms)
            print(f"{users} users PM 'help' at once, outbox gap {gap:.2f} s: last reply after "
                  f"{elapsed:.2f} s ({chunks} PM(s) sent, help reply "
                  f"{len(robot.sent_pms[0][1])} chars)")
        finally:
            await app.stop()
            await robot.stop()
            await nats.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--gap", type=float, default=0.1)
    args = parser.parse_args()
    asyncio.run(main(args.users, args.gap))
