"""Import of a kryten-economy database with 100,000 accounts on SQLite (issue 18's figure).

Writes a source file with kryten-economy's ``accounts`` and ``transactions`` columns (the
accounts, ``--postings`` transactions each, balances equal to their history except one in a
thousand, which the import corrects), then runs ``import_database`` on an offline app (the same
path as ``cytube-economy import kryten-economy``) and ``ledger verify``. Prints the import's wall
time, the rows written and the verify time. Target: < 30 s for 100,000 accounts.

Usage: python bench/import.py [--accounts 100000] [--postings 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

from economy_core.app import EconomyApp
from economy_core.clock import FakeClock
from economy_core.legacy import import_database
from economy_core.testing import RecordingTransport, build_config, resolve_plugins

CHANNEL = "bench"


def make_source(path: Path, accounts: int, postings: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE accounts (username TEXT NOT NULL, channel TEXT NOT NULL, "
                 "balance INTEGER DEFAULT 0, lifetime_earned INTEGER DEFAULT 0, "
                 "lifetime_spent INTEGER DEFAULT 0, lifetime_gambled_in INTEGER DEFAULT 0, "
                 "lifetime_gambled_out INTEGER DEFAULT 0, economy_banned BOOLEAN DEFAULT 0, "
                 "quiet_mode BOOLEAN DEFAULT 0, first_seen TIMESTAMP, last_seen TIMESTAMP)")
    conn.execute("CREATE TABLE transactions (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                 "username TEXT NOT NULL, channel TEXT NOT NULL, amount INTEGER NOT NULL, "
                 "type TEXT NOT NULL, reason TEXT, trigger_id TEXT, related_user TEXT, "
                 "metadata TEXT, created_at TIMESTAMP)")
    account_rows, tx_rows = [], []
    for i in range(accounts):
        name = f"user{i:06d}"
        amounts = [100 + (i * 7 + k * 13) % 500 for k in range(postings)]
        balance = sum(amounts) - (1 if i % 1000 == 0 else 0)
        account_rows.append((name, CHANNEL, balance, sum(amounts), 0, 0, 0, 0, i % 50 == 0,
                             "2025-01-01 10:00:00", "2025-06-01 10:00:00"))
        tx_rows.extend((name, CHANNEL, a, "earn", "presence", "presence.base", None,
                        None, "2025-02-01 10:00:00") for a in amounts)
    conn.executemany("INSERT INTO accounts VALUES (?,?,?,?,?,?,?,?,?,?,?)", account_rows)
    conn.executemany("INSERT INTO transactions (username, channel, amount, type, reason, "
                     "trigger_id, related_user, metadata, created_at) "
                     "VALUES (?,?,?,?,?,?,?,?,?)", tx_rows)
    conn.commit()
    conn.close()


async def one(accounts: int, postings: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "kryten.db"
        make_source(source, accounts, postings)
        infos = resolve_plugins(["wallet"])
        config = build_config(infos, {}, database_url=f"sqlite+aiosqlite:///{tmp}/economy.db",
                              channel=CHANNEL)
        app = EconomyApp(config, infos, clock=FakeClock(), transport=RecordingTransport())
        await app.open_offline()
        try:
            started = time.perf_counter()
            [summary] = await import_database(app, source)
            took = time.perf_counter() - started
            started = time.perf_counter()
            mismatches = await app.ledger.verify()
            verify = time.perf_counter() - started
        finally:
            await app.close_offline()
    print(f"import of {summary.accounts:,} accounts, {summary.postings:,} postings "
          f"({len(summary.corrected)} corrected): {took:.2f} s "
          f"(target < 30 s); ledger verify {verify:.2f} s, "
          f"{'clean' if not mismatches else f'{len(mismatches)} MISMATCHES'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--postings", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(one(args.accounts, args.postings))


if __name__ == "__main__":
    main()
