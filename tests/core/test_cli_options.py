"""``--config`` and ``--log-level`` are accepted before or after the sub-command."""

from __future__ import annotations

from pathlib import Path

import pytest

from economy_core.cli import build_parser, main


@pytest.mark.parametrize("argv", [
    ["--config", "{f}", "config", "check"],
    ["config", "check", "--config", "{f}"],
    ["config", "--config", "{f}", "check"],
    ["--log-level", "DEBUG", "config", "check", "--config", "{f}"],
    ["config", "check", "--config", "{f}", "--log-level", "ERROR"],
])
def test_config_check_takes_the_options_anywhere(tmp_path: Path, argv: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "economy.toml"
    assert main(["config", "init", "-o", str(path)]) == 0
    assert main([a.replace("{f}", str(path)) for a in argv]) == 0
    assert f"{path}: OK" in capsys.readouterr().out


def test_a_value_typed_before_the_sub_command_is_kept(tmp_path: Path) -> None:
    args = build_parser().parse_args(["--config", "a.toml", "--log-level", "INFO", "run"])
    assert (args.config, args.log_level) == ("a.toml", "INFO")
    args = build_parser().parse_args(["run", "--config", "b.toml", "--time-scale", "2"])
    assert (args.config, args.time_scale) == ("b.toml", 2.0)
    args = build_parser().parse_args(["ledger", "verify", "--config", "c.toml"])
    assert args.config == "c.toml"


def test_run_with_a_missing_config_names_the_file(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.toml"
    assert main(["run", "--config", str(missing)]) == 1
    assert f"{missing}: no such file" in capsys.readouterr().err
