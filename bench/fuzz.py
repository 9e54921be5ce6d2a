"""The fuzz run as a benchmark: 40,000 fuzzed PMs (huge, negative and fractional numbers, unicode
junk, HTML, null bytes, SQL-ish text, odd whitespace, overlong words) at every command of the
shipped plugins, through a real nats-server to the bot running as its own process
(`cytube-economy run`), from ``--senders`` users at once, each sending its next PM when the answer
to the previous one arrived.

Prints PMs/s and the reply time p50/p99, and checks what the fuzz property test checks: no
apology reply, no reply repeating more than 30 characters of what was typed, `ledger verify`
clean afterwards. Exit status 1 when a check fails.

The bot runs the shipped config except: the command rate limit is raised (so fuzzed commands
run instead of "slow down"), and the outbox's CyTube pacing is opened up (the stand-in's limiter
is off too). This measures the bot's own handling; at CyTube's real limit replies leave at 10 a
second whatever the bot can do (bench/outbox.py measures that).

Usage: python bench/fuzz.py [--pms 40000] [--senders 50] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import string
import sys
import tempfile
import time
from difflib import SequenceMatcher
from pathlib import Path

from economy_core.natsd import NatsServer, free_port
from economy_core.robot import RobotStandIn

ROOT = Path(__file__).resolve().parents[1]
ECHO_LIMIT = 30
WORDS = ["balance", "bal", "history", "top", "lb", "profile", "rewards", "streak", "spin",
         "flip", "challenge", "duel", "accept", "decline", "heist", "gambling", "stats", "like",
         "help", "about", "quiet", "unquiet", "econ:triggers", "maintenance", "nosuch", "YES", "1"]
JUNK = ["<script>alert(1)</script>", "&lt;b&gt;", "'; DROP TABLE core_accounts; --", "\x00",
        "🎰🎰🎰", "‮reversed", "@", "@@alice", "javascript:alert(1)", '"quoted words"', "٣",
        "５０", "1e9", "2.5", "-5", "0", "99999999999999999999", "NaN", "0x10", "\u200b"]


def fuzzed(rng: random.Random, users: list[str]) -> str:
    """One random PM."""
    word = rng.choice(WORDS)
    if rng.random() < 0.2:
        word = word.upper()
    args = []
    for _ in range(rng.randint(0, 3)):
        roll = rng.random()
        if roll < 0.3:
            args.append(str(rng.randint(-10**15, 10**15)))
        elif roll < 0.6:
            args.append(rng.choice(JUNK))
        elif roll < 0.75:
            args.append("@" + rng.choice(users))
        elif roll < 0.9:
            args.append("".join(rng.choice(string.printable) for _ in range(rng.randint(1, 40))))
        else:
            args.append("".join(chr(rng.randint(0x20, 0x2FFF)) for _ in range(rng.randint(100,
                                                                                        500))))
    sep = rng.choice([" ", "  ", "\t", "\n"])
    return word + "".join(sep + a for a in args)


def echo(reply: str, typed: str) -> int:
    match = SequenceMatcher(None, reply, typed, autojunk=False).find_longest_match(
        0, len(reply), 0, len(typed))
    return int(match.size)


def write_config(tmp: Path, nats_url: str) -> Path:
    text = (ROOT / "economy.toml").read_text(encoding="utf-8")
    replacements = {
        "servers = []": f'servers = ["{nats_url}"]',
        'channel = "mychannel"': 'channel = "bench"',
        'url = "sqlite+aiosqlite:///economy.db"': f'url = "sqlite+aiosqlite:///{tmp / "f.db"}"',
        "port = 28290": f"port = {free_port()}",
        "rate_limit_per_minute = 10": "rate_limit_per_minute = 100000",
        "pm_burst = 20": "pm_burst = 1000000",
        "pm_per_second = 10.0": "pm_per_second = 1000.0",
        "chat_per_minute = 10": "chat_per_minute = 100000",
        "min_account_age_minutes = 60": "min_account_age_minutes = 0",
    }
    for old, new in replacements.items():
        if old not in text:
            raise SystemExit(f"economy.toml changed: {old!r} not found")
        text = text.replace(old, new)
    path = tmp / "economy.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def main(pms: int, senders: int, seed: int) -> int:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        nats = NatsServer(store_dir=str(tmp / "nats"))
        await nats.start()
        robot = RobotStandIn(nats.url, channel="bench", cytube_limiter=False)
        await robot.start()
        users = [f"fuzzer{i:03d}" for i in range(senders)]
        await robot.set_userlist([{"name": n, "rank": 4 if i % 10 == 0 else 1,
                                   "meta": {"afk": False}} for i, n in enumerate(users)])
        config = write_config(tmp, nats.url)
        log = (tmp / "bot.log").open("w")
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "economy_core.cli", "--config", str(config), "run",
            stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        replies_to: dict[str, list[str]] = {u: [] for u in users}
        arrived = {u: asyncio.Event() for u in users}
        seen = 0

        def collect() -> None:
            nonlocal seen
            for to, text in robot.sent_pms[seen:]:
                if to in replies_to:
                    replies_to[to].append(text)
                    arrived[to].set()
            seen = len(robot.sent_pms)

        async def pump() -> None:
            while True:
                await robot._arrived.wait()
                robot._arrived.clear()
                collect()

        pumping = asyncio.create_task(pump())
        problems: list[str] = []
        times: list[float] = []
        unanswered = 0
        try:
            deadline = time.monotonic() + 30
            while not replies_to[users[0]]:  # the bot is up once it answers
                await robot.pm(users[0], "balance")
                try:
                    await asyncio.wait_for(arrived[users[0]].wait(), 1.0)
                except TimeoutError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the bot never answered") from None
            plan = [fuzzed(rng, users) for _ in range(pms)]
            per_sender = [plan[i::senders] for i in range(senders)]

            async def sender(user: str, texts: list[str]) -> None:
                nonlocal unanswered
                for text in texts:
                    before = len(replies_to[user])
                    arrived[user].clear()
                    started = time.perf_counter()
                    await robot.pm(user, text)
                    try:
                        while len(replies_to[user]) == before:
                            await asyncio.wait_for(arrived[user].wait(), 5.0)
                            arrived[user].clear()
                    except TimeoutError:
                        unanswered += 1  # e.g. whitespace only: no reply is due
                        continue
                    times.append(time.perf_counter() - started)
                    parts = text.split(None, 1)
                    typed = parts[1] if len(parts) > 1 else ""
                    for reply in replies_to[user][before:]:
                        if "Something went wrong" in reply:
                            problems.append(f"apology for {text!r}")
                        if len(typed) > ECHO_LIMIT and echo(reply, typed) > ECHO_LIMIT:
                            problems.append(f"echo of {text[:40]!r}… in {reply[:60]!r}")

            started = time.perf_counter()
            await asyncio.gather(*(sender(u, t) for u, t in zip(users, per_sender, strict=True)))
            elapsed = time.perf_counter() - started
        finally:
            pumping.cancel()
            if bot.returncode is None:
                bot.send_signal(signal.SIGTERM)
            status = await asyncio.wait_for(bot.wait(), 60)
            log.close()
            if status != 0:
                print((tmp / "bot.log").read_text(encoding="utf-8")[-3000:], file=sys.stderr)
            await robot.stop()
            await nats.stop()
        verify = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "economy_core.cli", "--config", str(config), "ledger",
            "verify", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await verify.communicate()
        times.sort()
        p50 = statistics.median(times) * 1000
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))] * 1000
        print(f"{pms} fuzzed PMs from {senders} senders in {elapsed:.1f} s: "
              f"{pms / elapsed:.0f} PMs/s; reply p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
              f"{unanswered} without a reply; {len(problems)} problem(s); ledger verify: "
              f"{out.decode().strip().splitlines()[-1] if out else '?'}")
        for line in problems[:10]:
            print("  " + line)
        return 1 if problems or verify.returncode != 0 else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pms", type=int, default=40_000)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.pms, args.senders, args.seed)))
