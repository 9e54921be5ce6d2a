"""Prune (SPEC §6, issue 18): targets are unbanned, never-spent accounts unseen for the period
with a balance in range, no money held and no plugin objecting (the vanity shop: items owned;
presence: seen since the cutoff); the dry run and the execution agree; each removal is the
forget transaction, so ``ledger verify`` stays clean; the CLI asks unless ``--yes`` and writes
the audit CSV. Real ledger on a SQLite file; time from the FakeClock (Tue 2026-03-03 20:00)."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from economy_plugins.presence import tables as presence_tables
from economy_plugins.vanity_shop import tables as shop_tables

from economy_core import PluginContext, hookimpl
from economy_core.ledger import Kind
from economy_core.prune import Criteria, find_targets, prune
from economy_core.testing import AppHarness, MakeApp

CHANNEL = "testchan"


class Watcher:
    """A third-party plugin that objects to pruning ``vip``."""

    name = "watcher"

    def __init__(self, ctx: PluginContext[None]) -> None:
        self.ctx = ctx

    @hookimpl
    async def economy_prune_veto(self, channel: str, user_key: str, username: str,
                                 inactive_since: datetime) -> str | None:
        return "a VIP" if user_key == "vip" else None


async def crowd(app: AppHarness) -> None:
    """Accounts made now (t0): only ``idle`` and ``idle2`` are targets 40 days later."""
    ledger, now = app.ledger, app.clock.now()
    for name, amount in {"idle": 100, "idle2": 7, "rich": 5000, "spender": 100, "owner": 50,
                         "banned": 100, "held": 100, "vip": 100, "seen": 100}.items():
        await ledger.credit(CHANNEL, name, amount, type="admin_grant", kind=Kind.EARN)
    await ledger.debit(CHANNEL, "spender", 10, type="spend", kind=Kind.SPEND)
    await ledger.escrow(CHANNEL, "held", 50, purpose="test.hold")
    await app.app.identity.ban(CHANNEL, "banned", by="boss", reason="test", at=now)
    async with app.app.engine.begin() as conn:
        await conn.execute(sa.insert(shop_tables.items).values(
            channel=CHANNEL, user_key="owner", item="title", username="owner", value="Owl",
            price=0, updated_at=now))
        await conn.execute(sa.insert(presence_tables.users).values(
            channel=CHANNEL, user_key="seen", username="seen", first_seen=now,
            last_seen=now + timedelta(days=35)))
    await app.clock.set(now + timedelta(days=15))
    await ledger.credit(CHANNEL, "recent", 100, type="admin_grant", kind=Kind.EARN)


async def prune_app(make_app: MakeApp) -> AppHarness:
    return await make_app(plugins=["vanity_shop", "presence", "wallet", Watcher],
                          channel=CHANNEL)


async def test_targets_and_vetoes(make_app: MakeApp) -> None:
    app = await prune_app(make_app)
    start = app.clock.now()
    await crowd(app)
    now = start + timedelta(days=40)
    criteria = Criteria(inactive_days=30, balance_min=0, balance_max=1000)
    targets, vetoed = await find_targets(app.app, CHANNEL, criteria, now)
    assert [t.username for t in targets] == ["idle", "idle2"]
    assert {v.username: v.reason for v in vetoed} == {
        "owner": "vanity_shop: owns 1 vanity item(s)", "seen": "presence: seen 2026-04-07",
        "vip": "watcher: a VIP"}
    # narrower filters
    assert [t.username for t in (await find_targets(app.app, CHANNEL, Criteria(
        balance_min=50, balance_max=1000), now))[0]] == ["idle"]
    assert [t.username for t in (await find_targets(app.app, CHANNEL, Criteria(
        max_lifetime_earned=10), now))[0]] == ["idle2"]
    assert (await find_targets(app.app, CHANNEL, Criteria(inactive_days=45), now))[0] == []
    assert [t.username for t in (await find_targets(app.app, CHANNEL, Criteria(), now))[0]] == [
        "idle", "idle2", "rich"]


async def test_dry_run_and_execute_agree_and_the_ledger_verifies(make_app: MakeApp) -> None:
    app = await prune_app(make_app)
    start = app.clock.now()
    await crowd(app)
    now = start + timedelta(days=40)
    criteria = Criteria(balance_max=1000)
    circulation = await app.ledger.circulation(CHANNEL)
    targets, _ = await find_targets(app.app, CHANNEL, criteria, now)
    assert await app.ledger.circulation(CHANNEL) == circulation  # the dry run moved nothing
    done = await prune(app.app, CHANNEL, criteria, targets, now)
    assert [(r.username, r.action) for r in done] == [("idle", "removed"), ("idle2", "removed")]
    assert [r.balance for r in done] == [100, 7]
    assert await app.ledger.circulation(CHANNEL) == circulation - 107
    assert await app.ledger.account(CHANNEL, "idle") is None
    assert await app.ledger.verify() == []
    assert (await find_targets(app.app, CHANNEL, criteria, now))[0] == []


async def test_an_account_that_changed_since_the_dry_run_is_skipped(make_app: MakeApp) -> None:
    app = await prune_app(make_app)
    start = app.clock.now()
    await crowd(app)
    criteria = Criteria(balance_max=1000)
    targets, _ = await find_targets(app.app, CHANNEL, criteria, start + timedelta(days=40))
    await app.clock.set(start + timedelta(days=39))
    await app.ledger.credit(CHANNEL, "idle", 5, type="admin_grant", kind=Kind.EARN)
    done = await prune(app.app, CHANNEL, criteria, targets, start + timedelta(days=40))
    assert [(r.username, r.action) for r in done] == [("idle", "skipped"), ("idle2", "removed")]
    assert "changed since the dry run" in done[0].reason
    assert await app.balance("idle") == 105
    assert await app.ledger.verify() == []


async def cli(*argv: str, stdin: bytes = b"") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "economy_core.cli", *argv, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


async def test_the_cli_dry_run_asks_executes_and_audits(make_app: MakeApp,
                                                       tmp_path: Path) -> None:
    """The CLI runs on the real clock (2026-12 or later): the FakeClock's accounts of March
    are long inactive (presence last saw ``seen`` in April; no watcher plugin here)."""
    app = await make_app(plugins=["vanity_shop", "presence", "wallet"], channel=CHANNEL)
    await crowd(app)
    await app.app.stop()
    cfg = tmp_path / "economy.toml"
    cfg.write_text(f'[[channels]]\nchannel = "{CHANNEL}"\n[database]\n'
                   f'url = "sqlite+aiosqlite:///{tmp_path / "economy.db"}"\n[plugins]\n'
                   f'enabled = {json.dumps(["vanity_shop", "presence", "wallet"])}\n',
                   encoding="utf-8")
    base = ("--config", str(cfg), "prune", "--channel", CHANNEL, "--balance-max", "1000")
    dry_csv, run_csv = tmp_path / "dry.csv", tmp_path / "run.csv"

    code, out, err = await cli(*base, "--output-csv", str(dry_csv))
    assert code == 0, err
    assert "dry run: nothing changed" in out, out
    assert "5 account(s) to prune in testchan (407 in balances)" in out, out
    assert "kept owner: vanity_shop: owns 1 vanity item(s)" in out
    dry = read_csv(dry_csv)
    code, out, err = await cli(*base, "--execute", stdin=b"n\n")
    assert code == 1 and "cancelled: nothing changed" in out
    code, out, err = await cli(*base, "--execute", "--yes", "--output-csv", str(run_csv))
    assert code == 0, err
    assert "removed 5 account(s), 407 out of circulation" in out
    run = read_csv(run_csv)
    assert ({r["username"] for r in dry if r["action"] == "target"}
            == {r["username"] for r in run if r["action"] == "removed"}
            == {"idle", "idle2", "recent", "seen", "vip"})
    assert all(r["pseudonym"].startswith("forgotten-") for r in run if r["action"] == "removed")
    code, out, err = await cli("--config", str(cfg), "ledger", "verify")
    assert code == 0 and "OK" in out
    code, out, err = await cli(*base)
    assert "0 account(s) to prune" in out
    code, out, err = await cli("--config", str(cfg), "prune", "--channel", "nowhere")
    assert code == 1 and "channel 'nowhere' is not configured" in err
