"""Nightly interest over 100,000 accounts on SQLite, through the maintenance plugin's own job.

Creates the accounts in one ledger transaction (balances spread over 0 … 20,000, so some are
below ``min_balance_to_earn``), then moves the FakeClock to 03:00 so the scheduler runs the
nightly job: one ledger transaction that reads the holders, writes every interest posting and
the run's claim row. Prints the job's wall time (and the CPU time of all its threads, the steadier
figure on a busy machine), the accounts paid and, for orientation, the time the
holders read alone takes. Target: < 3 s for 100,000 accounts.

Usage: python bench/maintenance.py [--accounts 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from datetime import UTC, datetime

from economy_plugins.maintenance import Maintenance

from economy_core.app import EconomyApp
from economy_core.clock import FakeClock
from economy_core.ledger import Award, Kind
from economy_core.testing import RecordingTransport, build_config, resolve_plugins

CHANNEL = "bench"
BEFORE = datetime(2026, 3, 4, 2, 59, tzinfo=UTC)
NIGHT = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)


async def one(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        infos = resolve_plugins([Maintenance])
        config = build_config(infos, {}, database_url=f"sqlite+aiosqlite:///{tmp}/maint.db",
                              channel=CHANNEL)
        clock = FakeClock(BEFORE)  # before 03:00: no start-up catch-up
        app = EconomyApp(config, infos, clock=clock, transport=RecordingTransport())
        await app.start()
        try:
            rng = random.Random(1)
            awards = [Award(username=f"user{i:06d}", amount=rng.randint(1, 20_000),
                            type="admin_grant", kind=Kind.CORRECTION) for i in range(count)]
            started = time.perf_counter()
            await app.ledger.credit_many(CHANNEL, awards)
            seed_s = time.perf_counter() - started
            before = await app.ledger.circulation(CHANNEL)
            started = time.perf_counter()
            holders = await app.ledger.holders(CHANNEL, 100)
            read_s = time.perf_counter() - started

            started, cpu = time.perf_counter(), time.process_time()
            await clock.set(NIGHT)  # the scheduler runs the nightly job inline
            job_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu

            plugin = app.plugins["maintenance"].instance
            run = await plugin.last_run(CHANNEL)
            assert run is not None and run.day == NIGHT.date()
            paid = await app.ledger.circulation(CHANNEL) - before
            assert paid == run.total
            print(f"{count:>7,} accounts: nightly interest {job_s:.2f} s (CPU {cpu_s:.2f} s) "
                  f"({run.accounts:,} paid, {run.total:,} Z; holders read alone "
                  f"{read_s:.2f} s for {len(holders):,}); seeding {seed_s:.2f} s")
        finally:
            await app.stop()


async def main(sizes: list[int]) -> None:
    for size in sizes:
        await one(size)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[100_000])
    asyncio.run(main(parser.parse_args().accounts))
