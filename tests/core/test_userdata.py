"""Export and forget a user (issue 18): every plugin that keeps user rows answers both hooks;
export → forget → export shows no personal data anywhere in the database; the balance leaves
through one visible posting and ``ledger verify`` stays clean; unknown users and users with money
in open escrows are refused. Through the real ledger on a SQLite file, the CLI in a subprocess."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from economy_plugins.vanity_shop import tables as shop_tables

from economy_core import Contract
from economy_core.cli import installed_plugins
from economy_core.contract import Declared, build_catalogue
from economy_core.hookspecs import PROJECT
from economy_core.ledger import Kind
from economy_core.manager import new_plugin_manager
from economy_core.storage import schema_of
from economy_core.testing import AppHarness, MakeApp
from economy_core.userdata import FORGET_TYPE, ForgetRefused, UnknownUser, export_user, forget_user
from tests.support import Bank

CHANNEL = "testchan"
USER_COLUMNS = {"user_key", "username", "creator", "winner", "resolver", "started_by",
                "ended_by", "set_by", "initiator", "challenger", "target", "requester"}


def keeps_user_rows(cls: type) -> list[str]:
    """The plugin's table columns that look like they hold a user."""
    schema = schema_of(cls)
    if schema is None:
        return []
    return [f"{t.name}.{c.name}" for t in schema.metadata.tables.values() for c in t.columns
            if c.name in USER_COLUMNS or (c.name.endswith("_key") and c.name != "cap_key")]


def test_every_plugin_with_user_rows_declares_them_and_answers_both_hooks() -> None:
    """A table with a user-looking column is described in ``user_tables`` (the core exports and
    forgets it) or the plugin answers both hooks for it."""
    offenders = []
    for info in installed_plugins():
        columns = keeps_user_rows(info.cls)
        contract = info.cls.contract if isinstance(getattr(info.cls, "contract", None),
                                                   Contract) else Contract()
        described = {t.table.name for t in contract.user_tables}
        answers = [h for h in ("economy_user_export", "economy_user_forget")
                   if callable(getattr(info.cls, h, None))]
        uncovered = [c for c in columns if c.split(".")[0] not in described]
        if (columns and not contract.personal_data) or (uncovered and len(answers) < 2):
            offenders.append(f"{info.name}: {uncovered or columns} but personal_data="
                             f"{contract.personal_data}, user_tables {sorted(described)}, "
                             f"answers {answers}")
    assert offenders == []


def test_declaring_personal_data_without_tables_or_hooks_stops_start_up() -> None:
    class Keeper:
        name = "keeper"
        contract = Contract(personal_data=("favourite colours",))

    with pytest.raises(Exception, match="declares personal data but neither describes its "
                                        "user_tables nor answers economy_user_export and "
                                        "economy_user_forget"):
        build_catalogue([Declared("keeper", Keeper)], new_plugin_manager(), PROJECT)


def test_user_tables_without_saying_what_they_keep_stop_start_up() -> None:
    class Keeper:
        name = "keeper"
        contract = Contract(user_tables=shop_tables.PERSONAL)

    with pytest.raises(Exception, match="describes user_tables but does not say what they "
                                        "keep"):
        build_catalogue([Declared("keeper", Keeper)], new_plugin_manager(), PROJECT)


# -- the core's part, with a small plugin ---------------------------------------------------------


async def bank_app(make_app: MakeApp) -> AppHarness:
    return await make_app(plugins=[Bank], channel=CHANNEL)


async def test_forget_takes_the_balance_out_in_one_posting_and_renames_history(
        make_app: MakeApp) -> None:
    app = await bank_app(make_app)
    await app.pm("Alice", "grant_me")
    await app.pm("bob", "grant_me")
    await app.pm("Alice", "tip bob 300")
    await app.pm("bob", "tip alice 50")
    await app.pm("alice", "quiet")
    circulation = await app.ledger.circulation(CHANNEL)
    exported = await export_user(app.app, CHANNEL, "ALICE")
    assert exported["user"] == "Alice" and exported["account"]["balance"] == 750
    assert [p["amount"] for p in exported["postings"]] == [1000, -300, 50]
    assert [p["type"] for p in exported["postings_naming_user"]] == [
        "bank_tip_received", "bank_tip_sent"]
    assert exported["core"]["core_quiet"] == [{"channel": CHANNEL, "user_key": "alice"}]

    done = await forget_user(app.app, CHANNEL, "alice")
    assert done.balance_removed == 750 and done.pseudonym.startswith("forgotten-")
    assert await app.ledger.account(CHANNEL, "alice") is None
    assert await app.ledger.circulation(CHANNEL) == circulation - 750
    assert await app.ledger.verify() == []
    history = [p for p in reversed(await app.ledger.history(CHANNEL, done.pseudonym, 10))]
    assert [(p.amount, p.type) for p in history] == [
        (1000, "bank_grant"), (-300, "bank_tip_sent"), (50, "bank_tip_received"),
        (-750, FORGET_TYPE)]
    assert history[-1].kind is Kind.CORRECTION and history[-1].balance_after == 0
    bob = await app.ledger.history(CHANNEL, "bob", 10)
    assert {p.related_user for p in bob if p.related_user} == {done.pseudonym}
    assert await app.balance("bob") == 1250  # nobody else's money moved
    with pytest.raises(UnknownUser, match="no user 'alice'"):
        await export_user(app.app, CHANNEL, "alice")
    with pytest.raises(UnknownUser):
        await forget_user(app.app, CHANNEL, "alice")


async def test_unknown_users_and_channels_are_refused(make_app: MakeApp) -> None:
    app = await bank_app(make_app)
    with pytest.raises(UnknownUser, match="no user 'ghost' in channel 'testchan'"):
        await export_user(app.app, CHANNEL, "ghost")
    with pytest.raises(UnknownUser, match="channel 'elsewhere' is not configured"):
        await forget_user(app.app, "elsewhere", "ghost")


async def test_money_in_an_open_escrow_refuses_and_nothing_changes(make_app: MakeApp) -> None:
    app = await bank_app(make_app)
    await app.pm("alice", "grant_me")
    await app.ledger.escrow(CHANNEL, "alice", 200, purpose="test.hold")
    with pytest.raises(ForgetRefused, match="open escrows"):
        await forget_user(app.app, CHANNEL, "alice")
    assert await app.balance("alice") == 800
    assert (await export_user(app.app, CHANNEL, "alice"))["user"] == "alice"


# -- every built-in plugin, through the command line -------------------------------------------

BUILT_IN = ["presence", "wallet", "streaks", "chat_triggers", "gambling", "ranks",
            "achievements", "events", "competitions", "bounties", "tipping", "vanity_shop",
            "rain", "maintenance", "inflation"]


async def cli(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "economy_core.cli", *argv, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def occurrences(db: Path, word: str) -> list[str]:
    """Every table cell of the database that contains ``word`` (any case)."""
    found = []
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            names = [d[0] for d in cursor.description]
            for row in cursor:
                for name, value in zip(names, row, strict=True):
                    if isinstance(value, str) and word in value.lower():
                        found.append(f"{table}.{name}: {value[:80]}")
    return found


async def busy_alice(app: AppHarness) -> None:
    """alice does a bit of everything; bob and the admin boss deal with her."""
    await app.join("boss", rank=4)
    await app.join("alice")
    await app.join("bob")
    await app.advance(hours=2)
    for who in ("alice", "bob"):
        await app.ledger.credit(CHANNEL, who, 20_000, type="admin_grant", kind=Kind.EARN)
    await app.chat("alice", "hello everyone, what a lovely evening to be here")
    await app.chat("bob", "hi alice!")
    await app.pm("alice", "buy title Night Owl")
    await app.pm("alice", "tip @bob 100")
    await app.pm("bob", "tip @alice 50")
    await app.pm("alice", "flip 50")
    await app.pm("alice", "bounty 200 find the lost reel")
    await app.pm("boss", "claim_bounty 1 @bob", rank=4)
    await app.pm("bob", "bounty 300 name that tune")
    await app.pm("boss", "claim_bounty 2 @alice", rank=4)
    await app.pm("alice", "challenge @bob 100")
    await app.pm("bob", "decline")
    await app.pm("alice", "quiet")
    await app.advance(hours=1)
    await app.leave("alice")
    await app.settle()


async def test_export_forget_export_through_the_cli_leaves_no_trace(
        make_app: MakeApp, tmp_path: Path) -> None:
    app = await make_app(plugins=BUILT_IN, channel=CHANNEL, db="economy.db")
    await busy_alice(app)
    bob_before = await app.balance("bob")
    await app.app.stop()
    db = tmp_path / "economy.db"
    cfg = tmp_path / "economy.toml"
    cfg.write_text(f'[[channels]]\nchannel = "{CHANNEL}"\n[database]\n'
                   f'url = "sqlite+aiosqlite:///{db}"\n[plugins]\n'
                   f'enabled = {json.dumps(BUILT_IN)}\n', encoding="utf-8")
    base = ("--config", str(cfg))

    code, out, err = await cli(*base, "user", "export", "Alice", "--channel", CHANNEL)
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    assert data["user"] == "alice" and data["account"]["balance"] > 0
    kept = set(data["plugins"])
    assert {"presence", "vanity_shop", "bounties", "gambling", "chat_triggers"} <= kept, kept
    assert data["plugins"]["vanity_shop"]["vanity_shop_items"][0]["value"] == "Night Owl"
    assert occurrences(db, "alice")  # she is all over the database

    code, out, err = await cli(*base, "user", "forget", "alice", "--channel", CHANNEL, "--yes")
    assert code == 0, err
    assert "forgot alice" in out and "forgotten-" in out
    assert occurrences(db, "alice") == []
    assert occurrences(db, "night owl") == []  # what she bought went with her

    code, out, err = await cli(*base, "user", "export", "alice", "--channel", CHANNEL)
    assert code == 1 and "no user 'alice' in channel 'testchan'" in err and out == ""
    code, out, err = await cli(*base, "user", "forget", "alice", "--channel", CHANNEL, "--yes")
    assert code == 1 and "no user 'alice'" in err
    code, out, err = await cli(*base, "ledger", "verify")
    assert code == 0 and "OK" in out, out
    with sqlite3.connect(db) as conn:
        [(bob,)] = conn.execute("SELECT balance FROM core_accounts WHERE user_key = 'bob'")
    assert bob == bob_before


async def test_an_item_row_vetoes_nothing_here_but_is_exported(make_app: MakeApp) -> None:
    """The shop's rows travel with the export and go with the forget (fenced connection)."""
    app = await make_app(plugins=["vanity_shop", "wallet"], channel=CHANNEL)
    await app.ledger.credit(CHANNEL, "carol", 10, type="admin_grant", kind=Kind.EARN)
    async with app.app.engine.begin() as conn:
        await conn.execute(sa.insert(shop_tables.items).values(
            channel=CHANNEL, user_key="carol", item="title", username="carol", value="Owl",
            price=0, updated_at=app.clock.now()))
    data = await export_user(app.app, CHANNEL, "carol")
    assert data["plugins"]["vanity_shop"]["vanity_shop_items"][0]["value"] == "Owl"
    await forget_user(app.app, CHANNEL, "carol")
    async with app.app.engine.connect() as conn:
        assert (await conn.execute(sa.select(shop_tables.items))).all() == []


async def test_a_crash_at_the_forget_commit_leaves_everything_as_it_was(
        make_app: MakeApp) -> None:
    app = await bank_app(make_app)
    await app.pm("alice", "grant_me")
    await app.pm("alice", "tip bob 100")
    before = await export_user(app.app, CHANNEL, "alice")
    app.arm_crash(after_commits=0)
    with pytest.raises(Exception, match="died"):
        await forget_user(app.app, CHANNEL, "alice")
    await app.restart()
    after = await export_user(app.app, CHANNEL, "alice")
    assert after["account"] == before["account"] and after["postings"] == before["postings"]
    assert await app.ledger.verify() == []
    done = await forget_user(app.app, CHANNEL, "alice")
    assert done.balance_removed == 900


async def test_a_name_with_accents_leaves_metadata_and_reasons_too(make_app: MakeApp) -> None:
    app = await bank_app(make_app)
    await app.pm("Zoë", "grant_me")
    await app.ledger.credit(CHANNEL, "bob", 5, type="bank_grant", reason="thanks to Zoë")
    await app.ledger.credit(CHANNEL, "bob", 5, type="bank_grant", reason="gift",
                            metadata={"from": "Zoë", "n": 1})  # stored as "Zo\u00eb"
    done = await forget_user(app.app, CHANNEL, "zoë")
    [by_meta, by_reason] = await app.ledger.history(CHANNEL, "bob", 2)
    assert by_reason.reason == f"thanks to {done.pseudonym}"
    assert by_meta.metadata == {"from": done.pseudonym, "n": 1}
