"""`config check` refuses what `run` could not run, with the key and a way out in the message."""

from __future__ import annotations

from pathlib import Path

import pytest

from economy_core.cli import main

BASE = '''[[channels]]
domain = "cytu.be"
channel = "lounge"

[plugins]
enabled = ["wallet"]
'''


def check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "economy.toml"
    path.write_text(text, encoding="utf-8")
    code = main(["config", "check", "--config", str(path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize(("section", "expected"), [
    ('[database]\nurl = "not a url at all"\n', "database.url: 'not a url at all' is not a "
                                                "database URL (expected sqlite+aiosqlite:///FILE"),
    ('[database]\nurl = "mysql://u@h/db"\n', "database.url: unsupported database 'mysql' "
                                             "(supported: sqlite+aiosqlite, postgresql+asyncpg"),
    ('[database]\nurl = "sqlite:///x.db"\n', "unsupported database 'sqlite'"),
    ('[nats]\nservers = ["htp:/bad url"]\n', "nats.servers: not a NATS server URL: [0] "
                                             "'htp:/bad url'"),
    ('[nats]\nservers = ["nats://127.0.0.1:99999"]\n', "not a NATS server URL"),
])
def test_unrunnable_connections_are_config_errors(tmp_path: Path, section: str, expected: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(tmp_path, section + BASE, capsys)
    assert code == 1 and expected in out


@pytest.mark.parametrize("good", [
    '[database]\nurl = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"\n',
    '[database]\nurl = "sqlite+aiosqlite:///var/lib/economy.db"\n',
    '[nats]\nservers = ["nats://127.0.0.1:4222", "tls://nats.example.org", "localhost:4222"]\n',
])
def test_supported_urls_pass(tmp_path: Path, good: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert check(tmp_path, good + BASE, capsys)[0] == 0


def test_a_missing_channel_is_an_error_not_mychannel(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(tmp_path, '[plugins]\nenabled = ["wallet"]\n', capsys)
    assert code == 1 and "channels: missing" in out
    code, out = check(tmp_path, '[[channels]]\ndomain = "cytu.be"\n[plugins]\nenabled = []\n',
                      capsys)
    assert code == 1 and "channels[0].channel: missing" in out


GENEROUS = '''[plugins]
enabled = ["gambling"]

[plugins.gambling.spin]
payouts = [
    { symbols = "🍒🍒🍒", multiplier = 3.0, probability = 0.6 },
    { symbols = "🍋🍋🍋", multiplier = 5.0, probability = 0.3 },
    { symbols = "💎💎💎", multiplier = 1.0, probability = 0.92 },
]
'''


def test_a_game_returning_more_than_it_takes_fails_the_check(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    channels = BASE.split("[plugins]")[0]
    code, out = check(tmp_path, channels + GENEROUS, capsys)
    assert code == 1
    assert "plugins.gambling.spin: the slot table's expected return is 3.4000 >= 1.0" in out
    assert "allow_house_loss = true" in out
    allowed = GENEROUS.replace('enabled = ["gambling"]\n',
                               'enabled = ["gambling"]\n\n[plugins.gambling]\n'
                               'allow_house_loss = true\n')
    code, out = check(tmp_path, channels + allowed, capsys)
    assert code == 0
    assert "warning: plugins.gambling.spin: the slot probabilities sum to 1.8200" in out
    assert "warning: plugins.gambling.spin: the slot table's expected return is 3.4000" in out
