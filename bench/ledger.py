"""Ledger throughput: prints credits/s (sequential and concurrent) and one big credit_many.

    .venv/bin/python bench/ledger.py                 # SQLite temp file
    .venv/bin/python bench/ledger.py --url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Targets on SQLite: (a) >= 1,000 credits/s, (b) >= 5,000 credits/s, (c) < 0.25 s.
With --url the ledger's tables in that database are dropped first (use a scratch database).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time

from economy_core.clock import SystemClock
from economy_core.db import make_engine, schema_versions, sqlite_url
from economy_core.ledger import Award, Ledger, ledger_metadata


async def _fresh(url: str) -> Ledger:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(ledger_metadata.drop_all)
        await conn.run_sync(lambda c: schema_versions.create(c, checkfirst=True))
        await conn.execute(schema_versions.delete().where(
            schema_versions.c.component == "core_ledger"))
    ledger = Ledger(engine, SystemClock())
    await ledger.start()
    return ledger


async def sequential(ledger: Ledger, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        await ledger.credit("bench", f"seq{i % 500}", 1)
    return n / (time.perf_counter() - start)


async def concurrent(ledger: Ledger, n: int, callers: int) -> tuple[float, float]:
    per_caller = n // callers
    before = ledger.stats

    async def caller(c: int) -> None:
        for i in range(per_caller):
            await ledger.credit("bench", f"con{(c * per_caller + i) % 2000}", 1)

    start = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(callers)))
    elapsed = time.perf_counter() - start
    batches = ledger.stats[0] - before[0]
    return per_caller * callers / elapsed, per_caller * callers / max(1, batches)


async def bulk(ledger: Ledger, accounts: int) -> float:
    awards = [Award(f"bulk{i}", 5, trigger_id="bench.bulk") for i in range(accounts)]
    start = time.perf_counter()
    result = await ledger.credit_many("bench", awards)
    elapsed = time.perf_counter() - start
    assert result.ok and len(result.postings) == accounts
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="database URL (default: a SQLite temp file)")
    parser.add_argument("--sequential", type=int, default=2000)
    parser.add_argument("--concurrent", type=int, default=20000)
    parser.add_argument("--callers", type=int, default=100)
    parser.add_argument("--bulk", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or sqlite_url(os.path.join(tmp, "bench.db"))
        ledger = await _fresh(url)
        try:
            seq = await sequential(ledger, args.sequential)
            con, per_batch = await concurrent(ledger, args.concurrent, args.callers)
            first = await bulk(ledger, args.bulk)
            again = await bulk(ledger, args.bulk)
            mismatches = await ledger.verify("bench")
        finally:
            await ledger.close()
            await ledger.engine.dispose()
    backend = "PostgreSQL" if args.url and args.url.startswith("postgresql") else "SQLite"
    print(f"ledger bench on {backend}")
    print(f"(a) sequential credits:  {seq:10,.0f} /s   ({args.sequential:,} credits, one caller)")
    print(f"(b) concurrent credits:  {con:10,.0f} /s   ({args.concurrent:,} credits, "
          f"{args.callers} callers, {per_batch:.1f} jobs per commit)")
    print(f"(c) credit_many:         {first:10.3f} s    ({args.bulk:,} new accounts); "
          f"{again:.3f} s again (existing accounts)")
    print(f"verify: {'OK' if not mismatches else f'{len(mismatches)} MISMATCHES'}")


if __name__ == "__main__":
    asyncio.run(main())
