"""Import from kryten-economy (issue 18): a real kryten-economy database, built by that
package's own code in a separate venv (``EconomyDatabase.initialize()`` and its own methods),
imported through the CLI: every balance and lifetime counter, quiet mode and bans come over,
and the plugins' ranks, items, achievements, streaks and open bounties (escrowed); postings
sum to each balance (an inconsistent balance gets one correcting posting, listed), ``ledger
verify`` is clean, a second run changes nothing, a dry run writes nothing.

The registry has kryten-economy up to 0.13.0 (0.16.1, named by the issue, is not published; the
0.15.3 source has the same tables for what is imported here), so the newest published one is
used. Without the registry the test is skipped."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import venv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from economy_core.clock import FakeClock
from economy_core.testing import MakeApp

KRYTEN_ECONOMY = "kryten-economy==0.13.0"
CHANNELS = ["testchan", "otherchan"]
PLUGINS = ["wallet", "tipping", "presence", "streaks", "ranks", "achievements", "vanity_shop",
           "bounties"]

FILL = r'''
import asyncio, logging, sqlite3, sys
from kryten_economy.database import EconomyDatabase

async def main(path):
    db = EconomyDatabase(path, logging.getLogger("ke"))
    await db.initialize()
    c = "testchan"
    await db.credit("Alice", c, 500, "earn", reason="presence")
    await db.debit("Alice", c, 120, "spend", reason="queue")
    await db.credit("Alice", c, 50, "rain", trigger_id="rain.ambient")
    await db.set_quiet_mode("Alice", c, True)
    await db.credit("bob", c, 1000, "admin_grant", reason="prize", related_user="boss")
    await db.debit("bob", c, 200, "wager")
    await db.credit("bob", c, 300, "gamble_win", metadata='{"game": "spin"}')
    await db.debit("bob", c, 100, "tip_send", related_user="Alice")
    await db.credit("Alice", c, 100, "tip_receive", related_user="bob")
    await db.ban_user("bob", c, "boss", "cheating")
    await db.credit("carol", c, 100, "earn")
    await db.get_or_create_account("dave", c)
    await db.credit("ALICE", "otherchan", 70, "earn")
    # the plugins' data
    await db.update_account_rank("bob", c, "Key Grip")  # above what bob earned (1,300): held
    await db.update_account_rank("Alice", c, "Stunt Double")  # not a rank here: listed
    await db.set_vanity_item("Alice", c, "custom_title", "Night Owl")
    await db.set_vanity_item("Alice", c, "chat_color", "#ffcc00")
    await db.award_achievement("Alice", c, "messages_100")
    await db.award_achievement("Alice", c, "retired_badge")  # not configured here: listed
    await db.get_or_create_streak("bob", c)
    await db.update_streak("bob", c, 4, 9, "2026-03-02")
    await db.claim_welcome_wallet("Alice", c, 100)
    await db.debit("Alice", c, 200, "bounty_create")  # as its bounty command does
    await db.create_bounty("Alice", c, "find the lost reel", 200, "2026-12-31 00:00:00")
    await db.credit("ghostchan_user", "unconfigured", 5, "earn")
    conn = sqlite3.connect(path)  # an inconsistency the import must report, not copy
    conn.execute("UPDATE accounts SET balance = 90 WHERE username = 'carol'")
    conn.commit()
    conn.close()

asyncio.run(main(sys.argv[1]))
'''


@pytest.fixture(scope="module")
def kryten_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with kryten-economy installed from the registry (skips without one)."""
    home = tmp_path_factory.mktemp("kryten-economy-venv")
    venv.create(home, with_pip=True)
    python = home / "bin" / "python"
    result = subprocess.run([str(python), "-m", "pip", "install", "-q", KRYTEN_ECONOMY],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.skip(f"cannot install {KRYTEN_ECONOMY}: {result.stderr[-300:]}")
    return python


@pytest.fixture
def kryten_source(kryten_python: Path, tmp_path: Path) -> Path:
    """A kryten-economy database filled through its own methods (``FILL``)."""
    source = tmp_path / "kryten.db"
    subprocess.run([str(kryten_python), "-c", FILL, str(source)], check=True, timeout=120)
    return source


async def cli(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "economy_core.cli", *argv, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_import_a_real_kryten_economy_database(kryten_source: Path,
                                                    tmp_path: Path) -> None:
    source = kryten_source
    legacy = {(r[0], r[1]): r[2:] for r in rows(source, (
        "SELECT username, channel, balance, lifetime_earned, lifetime_spent, "
        "lifetime_gambled_in, lifetime_gambled_out FROM accounts"))}
    target = tmp_path / "economy.db"
    cfg = tmp_path / "economy.toml"
    cfg.write_text("".join(f'[[channels]]\nchannel = "{c}"\n' for c in CHANNELS)
                   + f'[database]\nurl = "sqlite+aiosqlite:///{target}"\n[plugins]\n'
                   f'enabled = {json.dumps(PLUGINS)}\n', encoding="utf-8")
    base = ("--config", str(cfg), "import", "kryten-economy", "--from", str(source))

    code, out, err = await cli(*base, "--channel", "unconfigured")
    assert code == 1 and "channel 'unconfigured' is not configured here" in err
    code, out, err = await cli(*base, "--channel", "testchan", "--dry-run")
    assert code == 0, err
    assert "testchan: 4 account(s), 1520 Z" in out and "dry run: nothing changed" in out
    assert "ranks: 1 rank(s)" in out and "skipped ranks not configured here: Stunt Double" in out
    assert "vanity_shop: 2 item(s)" in out and "achievements: 1 achievement(s)" in out
    assert "not configured here: retired_badge" in out and "streaks: 1 streak(s)" in out
    assert "bounties: 1 open bounty(ies), escrowed" in out
    assert "presence: 4 user(s) first/last seen, 1 welcome wallet(s) already paid" in out
    assert rows(target, "SELECT COUNT(*) FROM core_accounts") == [(0,)]
    assert rows(target, "SELECT COUNT(*) FROM vanity_shop_items") == [(0,)]

    for channel in CHANNELS:
        code, out, err = await cli(*base, "--channel", channel)
        assert code == 0, err
    assert "otherchan: 1 account(s), 70 Z" in out
    imported = {(r[0], r[1]): r[2:] for r in rows(target, (
        "SELECT username, channel, balance, lifetime_earned, lifetime_spent, gambled_in, "
        "gambled_out FROM core_accounts"))}
    assert imported == {k: v for k, v in legacy.items() if k[1] in CHANNELS}
    assert imported[("carol", "testchan")][0] == 90
    [(correction, kind)] = rows(target, "SELECT amount, kind FROM core_transactions WHERE "
                                        "type = 'import_correction'")
    assert (correction, kind) == (-10, "correction")
    kinds = dict(rows(target, "SELECT type, kind FROM core_transactions WHERE channel = "
                              "'testchan'"))
    assert kinds["tip_send"] == "transfer"  # declared by the enabled tipping plugin
    assert kinds["wager"] == "correction"  # gambling is not enabled here: no declared kind
    assert rows(target, "SELECT user_key FROM core_quiet") == [("alice",)]
    assert rows(target, "SELECT user_key, banned_by, reason FROM core_bans") == [
        ("bob", "boss", "cheating")]
    assert rows(target, "SELECT username FROM core_accounts WHERE user_key = 'alice' AND "
                        "channel = 'otherchan'") == [("ALICE",)]

    assert rows(target, "SELECT user_key, tier, held, set_by FROM ranks_users") == [
        ("bob", 2, 1, "kryten-economy")]
    assert sorted(rows(target, "SELECT user_key, item, value, price FROM vanity_shop_items")) == [
        ("alice", "color", "#ffcc00", 0), ("alice", "title", "Night Owl", 0)]
    assert rows(target, "SELECT user_key, achievement, reward FROM achievements_earned") == [
        ("alice", "messages_100", 0)]
    assert rows(target, "SELECT user_key, current, longest, last_date, iso_week FROM "
                        "streaks_users") == [("bob", 4, 9, "2026-03-02", "2026-W10")]
    [(escrow_id, amount, status)] = rows(target, "SELECT escrow_id, amount, status FROM "
                                                 "bounties_bounties")
    assert (amount, status) == (200, "open")
    assert rows(target, f"SELECT user_key, amount, status, purpose FROM core_escrows WHERE id = "
                        f"{escrow_id}") == [("alice", 200, "open", "bounties.bounty")]
    assert imported[("Alice", "testchan")][0] == 430  # the hold moved nothing in the end

    code, out, err = await cli("--config", str(cfg), "ledger", "verify")
    assert code == 0 and "OK, 5 account(s)" in out, out
    postings = rows(target, "SELECT COUNT(*) FROM core_transactions")
    code, out, err = await cli(*base)
    assert code == 0, err
    assert "testchan: already imported at" in out and "otherchan: already imported" in out
    assert "unconfigured: not configured here; skipped" in out
    assert rows(target, "SELECT COUNT(*) FROM core_transactions") == postings
    code, out, err = await cli(*base, "--channel", "nowhere")
    assert code == 1 and "has no channel 'nowhere'" in err
    code, out, err = await cli("--config", str(cfg), "import", "kryten-economy", "--from",
                               str(tmp_path / "missing.db"))
    assert code == 1 and "no such file" in err


async def test_an_imported_users_welcome_wallet_is_not_paid_again(
        kryten_source: Path, tmp_path: Path, make_app: MakeApp) -> None:
    target = tmp_path / "economy.db"
    cfg = tmp_path / "economy.toml"
    cfg.write_text(f'[[channels]]\nchannel = "testchan"\n[database]\n'
                   f'url = "sqlite+aiosqlite:///{target}"\n[plugins]\n'
                   f'enabled = {json.dumps(["presence", "wallet"])}\n', encoding="utf-8")
    code, _, err = await cli("--config", str(cfg), "import", "kryten-economy", "--from",
                             str(kryten_source), "--channel", "testchan")
    assert code == 0, err
    later = datetime.now(UTC) + timedelta(days=30)  # the old bot last saw them "now"
    app = await make_app(plugins=["presence", "wallet"], channel="testchan", db="economy.db",
                         clock=FakeClock(later))
    before = await app.balance("alice")
    await app.join("alice")  # kryten-economy paid her wallet
    await app.join("carol")  # it never paid hers
    await app.advance(minutes=2)
    types = {u: [p.type for p in await app.ledger.history("testchan", u, 50)
                 if p.source != "import"] for u in ("alice", "carol")}
    assert "welcome_wallet" not in types["alice"]
    assert types["carol"].count("welcome_wallet") == 1
    assert await app.balance("alice") >= before
    assert await app.ledger.verify() == []
