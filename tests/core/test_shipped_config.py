"""The committed economy.toml is exactly what `cytube-economy config init` generates, and the
CLI's config commands behave as documented."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from economy_core.cli import default_config_text, default_enabled, main

ROOT = Path(__file__).resolve().parents[2]


def test_committed_economy_toml_matches_the_schemas() -> None:
    generated = default_config_text()
    committed = (ROOT / "economy.toml").read_text(encoding="utf-8")
    assert committed == generated, (
        "economy.toml is out of date: run `cytube-economy config init --force`")


def test_every_builtin_plugin_is_enabled_by_default() -> None:
    assert {"presence", "wallet"} <= set(default_enabled())


def test_config_check_reports_bad_config_with_dotted_path(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text('[plugins]\nenabled = ["presence", "nosuch"]\n'
                   '[plugins.presence]\nbase_rate_per_minute = "ten"\n', encoding="utf-8")
    assert main(["--config", str(bad), "config", "check"]) == 1
    err = capsys.readouterr().err
    assert "nosuch" in err and "presence" in err


def test_config_check_type_error_names_path(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text('[plugins]\nenabled = ["presence"]\n'
                   '[plugins.presence]\nbase_rate_per_minute = "ten"\n', encoding="utf-8")
    assert main(["--config", str(bad), "config", "check"]) == 1
    err = capsys.readouterr().err
    assert 'plugins.presence.base_rate_per_minute: expected float, got "ten"' in err


def test_config_show_and_init(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "economy.toml"
    assert main(["--config", str(target), "config", "init"]) == 0
    assert main(["--config", str(target), "config", "init"]) == 1  # refuses to overwrite
    capsys.readouterr()
    assert main(["--config", str(target), "config", "show"]) == 0
    shown = capsys.readouterr().out
    assert "[plugins.presence]" in shown and "base_rate_per_minute" in shown


def test_plugins_command_lists_commands_and_hooks() -> None:
    out = subprocess.run([sys.executable, "-m", "economy_core.cli", "--config",
                          str(ROOT / "economy.toml"), "plugins"],
                         capture_output=True, text=True, check=True).stdout
    assert "presence" in out and "[enabled]" in out
    assert "command balance" in out and "economy_user_joined" in out


def test_ledger_verify_on_an_empty_database(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "economy.toml"
    cfg.write_text(f'[[channels]]\nchannel = "room"\n[database]\n'
                   f'url = "sqlite+aiosqlite:///{tmp_path / "x.db"}"\n', encoding="utf-8")
    assert main(["--config", str(cfg), "ledger", "verify"]) == 0
    assert "OK" in capsys.readouterr().out


async def test_ledger_verify_exits_1_on_a_tampered_balance(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    from economy_core.clock import FakeClock
    from economy_core.db import make_engine
    from economy_core.ledger import Ledger

    db = tmp_path / "x.db"
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    ledger = Ledger(engine, FakeClock())
    await ledger.start()
    await ledger.credit("room", "alice", 50)
    await ledger.credit("room", "bob", 5)
    await ledger.close()
    await engine.dispose()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE core_accounts SET balance = balance + 1000 WHERE user_key = 'bob'")
    cfg = tmp_path / "economy.toml"
    cfg.write_text(f'[[channels]]\nchannel = "room"\n[database]\n'
                   f'url = "sqlite+aiosqlite:///{db}"\n', encoding="utf-8")
    assert await asyncio.to_thread(
        main, ["--config", str(cfg), "ledger", "verify"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH room/bob: balance 1005, sum of transactions 5" in out
    assert "1 of 2 account(s)" in out
