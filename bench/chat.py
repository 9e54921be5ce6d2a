"""Chat lines per second through the whole path: robot stand-in → nats-server → kryten-py → the
bot's bus → every chat trigger → ledger commit, with the bot as a separate process.

500 users are present (plus visitors who come and go, so greetings happen), every trigger is on
(the bot_interaction bot too), media changes now and then, and the lines are a mix of long and
short lines, laughs, mentions, kudos, gif links and unicode junk. The script publishes
``--rate`` chat lines/s in total for ``--duration`` seconds: every 50th line is the chat bot's
(``bot_interaction``), the others are the users'. While it runs it reads the bot's database: human
lines committed per second (their ``messages_sent`` counters), how far commits lag behind, and
the bot's memory (RSS) over time. At the end it waits for the backlog, stops the bot cleanly and
checks that no line was lost (Σ messages_sent = human lines sent) and that every balance equals
the sum of its postings.

Figures: "human lines/s" is measured (messages_sent); "total lines/s" adds the chat bot's lines,
which go through the same pipeline in order: once the h-th human line is committed, the bot lines
published before it have been handled too, so the total is h plus the bot lines among them.

Target: >= 2,000 lines/s in total sustained, no line lost, memory flat over 10 minutes. The
default ``--rate`` of 2,100 lines/s (2,058 human + 42 bot) keeps both the total and the human
lines above 2,000/s.

With ``--with PLUGIN ...`` the bot also runs those plugins (e.g. ``--with achievements``: every
line is then also checked for achievements); ``--compare PLUGIN ...`` runs the same traffic twice,
without and then with them, and prints what they cost in throughput. Publish above what the bot
can take (``--rate 4000``) to compare the maximum throughputs.

Usage: python bench/chat.py [--rate 2100] [--duration 30] [--users 500]
       [--with PLUGIN ...] [--compare PLUGIN ... [--rounds N]]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from economy_core.natsd import NatsServer, free_port
from economy_core.robot import RobotStandIn

CHANNEL = "bench"
CHAT_BOT = "ChatBot"
PLUGINS = ("presence", "wallet", "chat_triggers")
BOT_EVERY = 50
"""Every 50th line published is the chat bot's."""
DEFAULT_RATE = 2100


def total_lines(human: int) -> int:
    """Lines handled once ``human`` human lines are: those plus the bot lines published before
    the last of them (a bot line sits at every sequence index ``i`` with
    ``i % BOT_EVERY == BOT_EVERY - 1``)."""
    return human + max(0, human - 1) // (BOT_EVERY - 1)


# -- the bot process -------------------------------------------------------------------------

def serve(config_path: Path) -> int:
    """Run the bot on ``config_path`` until SIGTERM with the plugins it enables (chat_triggers by
    class if it is not an installed entry point yet)."""
    from economy_core.app import EconomyApp
    from economy_core.clock import SystemClock
    from economy_core.config import parse_config, read_toml
    from economy_core.manager import installed_entry_points
    from economy_core.testing import resolve_plugins

    installed = installed_entry_points()
    wanted: list[str | type] = []
    for name in read_toml(config_path)["plugins"]["enabled"]:
        if name in installed:
            wanted.append(name)
        else:
            from economy_plugins.chat_triggers import ChatTriggers

            wanted.append(ChatTriggers)
    infos = resolve_plugins(wanted)
    schemas: dict[str, type | None] = {name: None for name in installed}
    schemas.update({i.name: i.config_class for i in infos})
    config = parse_config(read_toml(config_path), schemas=schemas, source=str(config_path))

    async def run() -> None:
        app = EconomyApp(config, infos, clock=SystemClock())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await app.start()
            await stop.wait()
        finally:
            await app.stop()

    asyncio.run(run())
    return 0


def write_config(tmp: Path, nats_url: str, metrics_port: int,
                 plugins: tuple[str, ...] = PLUGINS) -> Path:
    path = tmp / "economy.toml"
    path.write_text(f"""
nats = {{ servers = ["{nats_url}"] }}
channels = [ {{ domain = "cytu.be", channel = "{CHANNEL}" }} ]
database = {{ url = "sqlite+aiosqlite:///{tmp / 'bench.db'}" }}
metrics = {{ port = {metrics_port} }}
bot = {{ username = "ZCoinBot" }}
outbox = {{ merge_window_seconds = 0.0 }}
commands = {{ rate_limit_per_minute = 100000 }}

[plugins]
enabled = {list(plugins)!r}

[plugins.chat_triggers.bot_interaction]
bot_username = "{CHAT_BOT}"
""", encoding="utf-8")
    return path


# -- reading the bot's state -----------------------------------------------------------------

def committed_lines(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT COALESCE(SUM(value), 0) FROM core_daily "
                               "WHERE counter = 'messages_sent'").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0])


def ledger_mismatches(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM core_accounts a LEFT JOIN (SELECT channel, user_key, "
            "SUM(amount) AS total FROM core_transactions GROUP BY channel, user_key) t "
            "ON a.channel = t.channel AND a.user_key = t.user_key "
            "WHERE a.balance != COALESCE(t.total, 0) OR a.balance < 0").fetchone()
    return int(row[0])


def paid_total(db: Path) -> tuple[int, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM core_transactions "
                           "WHERE source = 'chat_triggers'").fetchone()
    return int(row[0]), int(row[1])


def other_postings(db: Path) -> list[tuple[str, int, int]]:
    """(source, postings, Σ Z) of every other plugin that wrote to the ledger."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT source, COUNT(*), COALESCE(SUM(amount), 0) FROM "
                            "core_transactions WHERE source != 'chat_triggers' GROUP BY source "
                            "ORDER BY source").fetchall()
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# -- the traffic -----------------------------------------------------------------------------

class Traffic:
    """A reproducible mix of chat lines; every text is unique (CyTube replays are de-duplicated
    by user, time and text)."""

    def __init__(self, names: list[str], seed: int = 7) -> None:
        self.names = names
        self.rnd = random.Random(seed)
        self.n = 0

    def line(self) -> tuple[str, str]:
        self.n += 1
        rnd, n = self.rnd, self.n
        user = rnd.choice(self.names)
        other = rnd.choice(self.names)
        kind = rnd.random()
        if kind < 0.35:
            text = f"line {n}: that was a really good scene, {other}, did you catch it?"
        elif kind < 0.60:
            text = f"ok {n}"
        elif kind < 0.75:
            text = rnd.choice(["lol", "lmao", "😂", "hahaha", "💀 dead"]) + f" {n}"
        elif kind < 0.85:
            text = f"@{other} what do you think {n}"
        elif kind < 0.90:
            text = f"{other}++ for that {n}"
        elif kind < 0.95:
            text = f"https://media.giphy.com/media/{n}/giphy.gif"
        else:
            text = f"ünïcødé ✨🎬 {n} c++ x++ nobody++"
        return user, text


async def main(rate: int, duration: float, users: int,
               extra: tuple[str, ...] = ()) -> float:
    """One run; returns the total lines/s committed over the whole run (until caught up)."""
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        db = tmp / "bench.db"
        nats = NatsServer(store_dir=str(tmp / "nats"))
        await nats.start()
        robot = RobotStandIn(nats.url, channel=CHANNEL)
        await robot.start()
        names = [f"user{i:04d}" for i in range(users)]
        visitors = [f"visitor{i:03d}" for i in range(50)]
        await robot.set_userlist([{"name": n, "rank": 1, "meta": {"afk": False}}
                                  for n in [*names, CHAT_BOT]])
        metrics_port = free_port()
        config = write_config(tmp, nats.url, metrics_port, (*PLUGINS, *extra))
        bot = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", str(config),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + 30
            while True:  # wait until the bot answers
                before = len(robot.sent_pms)
                await robot.pm("probe", "balance")
                try:
                    await robot.wait_for_pms(before + 1, timeout=1.0)
                    break
                except TimeoutError:
                    if time.monotonic() > deadline:
                        raise
            await robot.change_media("yt", "m0", "Opening Feature", 1800)
            traffic = Traffic(names)
            sent = 0
            bot_lines = 0
            samples: list[tuple[float, int, int, float]] = []  # (t, sent, committed, rss)
            started = time.monotonic()
            next_sample = started
            tick = 0.01
            next_tick = started
            visitor_in: list[str] = []
            while time.monotonic() - started < duration:
                now = time.monotonic()
                due = int((now - started) * rate) - sent - bot_lines
                for _ in range(max(0, due)):
                    count = sent + bot_lines
                    if count % BOT_EVERY == BOT_EVERY - 1:
                        await robot.chat(CHAT_BOT, f"beep {count}, nice to meet you")
                        bot_lines += 1
                        continue
                    if count % 4000 == 3999:
                        await robot.change_media("yt", f"m{count}", f"Feature {count}", 1800)
                    if count % 200 == 199:
                        if len(visitor_in) >= 20:
                            await robot.remove_user(visitor_in.pop(0))
                        guest = visitors[(count // 200) % len(visitors)]
                        if guest not in visitor_in:
                            await robot.add_user(guest)
                            visitor_in.append(guest)
                        await robot.chat(names[count % users], f"welcome {guest}! {count}")
                        sent += 1
                        continue
                    user, text = traffic.line()
                    await robot.chat(user, text)
                    sent += 1
                if now >= next_sample:
                    committed = await asyncio.to_thread(committed_lines, db)
                    samples.append((now - started, sent, committed, rss_mb(bot.pid)))
                    next_sample += 1.0
                next_tick += tick
                await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
            end_sent = time.monotonic()
            drain_deadline = end_sent + 120
            committed = 0
            while time.monotonic() < drain_deadline:
                committed = await asyncio.to_thread(committed_lines, db)
                if committed >= sent:
                    break
                await asyncio.sleep(0.2)
            caught_up = time.monotonic() - end_sent
            rss = [s[3] for s in samples]
            lags = [s[1] - s[2] for s in samples]
            steady = [s for s in samples if s[0] >= min(5.0, duration / 3)]
            if len(steady) >= 2:
                (t0, _, c0, _), (t1, _, c1, _) = steady[0], steady[-1]
                span = t1 - t0
            else:
                t0, c0, c1, span = 0.0, 0, committed, end_sent - started
            human_rate = (c1 - c0) / span if span > 0 else 0.0
            total_rate = (total_lines(c1) - total_lines(c0)) / span if span > 0 else 0.0
        finally:
            bot.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.wait(), 60)
            await robot.stop()
            await nats.stop()
        final = committed_lines(db)
        postings, z = paid_total(db)
        others = other_postings(db)
        bad = ledger_mismatches(db)
        print(f"{users} users present, all triggers on{' + ' + ', '.join(extra) if extra else ''}"
              f", {rate:,} lines/s published for {duration:.0f} s: {sent + bot_lines:,} lines "
              f"({sent:,} human + {bot_lines:,} chat bot)")
        overall = total_lines(final) / (duration + caught_up)
        print(f"  committed (steady state, from {t0:.0f} s on): {total_rate:,.0f} lines/s in "
              f"total = {human_rate:,.0f} human lines/s + the chat bot's lines")
        print(f"  committed (whole run, until caught up): {overall:,.0f} lines/s in total; lag "
              f"max {max(lags, default=0):,} lines, caught up {caught_up:.1f} s after the last "
              "line")
        print(f"  lost lines: {sent - final} (messages_sent {final:,} of {sent:,}); "
              f"chat postings {postings:,} ({z:,} Z); balance mismatches {bad}")
        if others:
            print("  other postings: " + ", ".join(f"{source} {n:,} ({total:,} Z)"
                                                   for source, n, total in others))
        if rss:
            third = max(1, len(rss) // 3)
            print(f"  bot memory (RSS): start {rss[0]:.0f} MB, first third max "
                  f"{max(rss[:third]):.0f} MB, last third max {max(rss[-third:]):.0f} MB, "
                  f"end {rss[-1]:.0f} MB")
        return overall


async def compare(rate: int, duration: float, users: int, extra: tuple[str, ...],
                  rounds: int) -> None:
    """The same traffic without and with ``extra`` plugins, alternated ``rounds`` times (a busy
    machine slows both alike); the best whole-run throughput of each, and what they cost."""
    without = with_extra = 0.0
    for _ in range(rounds):
        without = max(without, await main(rate, duration, users))
        with_extra = max(with_extra, await main(rate, duration, users, extra))
    lost = (without - with_extra) / without * 100 if without else 0.0
    print(f"throughput (whole run, best of {rounds}) without {', '.join(extra)}: "
          f"{without:,.0f} lines/s; with: {with_extra:,.0f} lines/s ({lost:+.1f} % lost)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=DEFAULT_RATE,
                        help="chat lines per second to publish, human and chat bot together "
                             f"(every {BOT_EVERY}th is the bot's)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of traffic")
    parser.add_argument("--users", type=int, default=500, help="users present")
    parser.add_argument("--with", dest="extra", nargs="+", default=[], metavar="PLUGIN",
                        help="also enable these plugins (e.g. achievements)")
    parser.add_argument("--compare", nargs="+", default=[], metavar="PLUGIN",
                        help="run twice, without and with these plugins, and compare")
    parser.add_argument("--rounds", type=int, default=1,
                        help="with --compare: runs of each set-up, alternated (the best counts)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.serve is not None:
        sys.exit(serve(a.serve))
    if a.compare:
        asyncio.run(compare(a.rate, a.duration, a.users, tuple(a.compare), a.rounds))
    else:
        asyncio.run(main(a.rate, a.duration, a.users, tuple(a.extra)))
