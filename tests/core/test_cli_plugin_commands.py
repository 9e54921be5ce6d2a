"""Plugins may add command-line commands: ``cytube-economy <plugin> <command>``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import attrs
import pytest

from economy_core import cli
from economy_core.config import setting
from economy_core.hooktypes import CliCommand
from economy_core.manager import PluginInfo


@attrs.frozen
class EchoConfig:
    word: str = setting("hello", help="What to print")


def _add(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--times", type=int, default=1)


def _run(args: argparse.Namespace, config: Any) -> int:
    print(" ".join([config.word] * args.times))
    return 0 if args.times > 0 else 3


class Echo:
    name = "echo"
    Config = EchoConfig
    cli_commands = (CliCommand("say", "print the configured word", _run, _add),)


def run_cli(tmp_path: Path, *argv: str) -> int:
    parser = cli.build_parser([PluginInfo("echo", Echo)])
    args = parser.parse_args(["--config", str(tmp_path / "economy.toml"), *argv])
    result: int = args.func(args)
    return result


def test_plugin_command_runs_with_default_config(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(tmp_path, "echo", "say", "--times", "2") == 0
    assert capsys.readouterr().out.strip() == "hello hello"
    assert run_cli(tmp_path, "echo", "say", "--times", "0") == 3


def test_plugin_command_reports_a_broken_config_file(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "economy.toml").write_text("[metrics]\nport = 'x'\n", encoding="utf-8")
    assert run_cli(tmp_path, "echo", "say") == 1
    assert "metrics.port" in capsys.readouterr().err


def test_plugin_group_needs_a_command(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        run_cli(tmp_path, "echo")
    assert exc.value.code == 2


def test_a_plugin_cannot_shadow_a_core_command() -> None:
    class Ledger(Echo):
        name = "ledger"

    parser = cli.build_parser([PluginInfo("ledger", Ledger)])
    args = parser.parse_args(["ledger", "verify"])
    assert args.func is cli.cmd_ledger_verify
