"""The core's ``[api]`` section: validation, tokens from the environment, masking in
``config show``, and its documentation in the default file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from economy_core.cli import main
from economy_core.config import (
    ApiClientConfig,
    ApiConfig,
    ConfigError,
    parse_config,
    render_default_config,
    render_effective_config,
)

ROOM = [{"domain": "cytu.be", "channel": "lounge"}]


def parse(api: dict[str, Any], env: dict[str, str] | None = None) -> ApiConfig:
    config: ApiConfig = parse_config({"api": api, "channels": ROOM}, schemas={},
                                     env=env or {}).core.api
    return config


def problems(api: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(api, env)
    return info.value.problems


def test_defaults_answer_only_the_open_endpoints() -> None:
    assert parse({}) == ApiConfig(enabled=True, subject="kryten.economy.command", clients=[])


def test_clients_take_their_tokens_from_the_environment() -> None:
    api = parse({"clients": [{"name": "web", "token": "${ECONOMY_API_TOKEN_WEB}",
                              "endpoints": ["balance.get", "leaderboard.*"]},
                             {"name": "admin", "token": "${ADMIN_TOKEN}", "endpoints": ["*"]}]},
                env={"ECONOMY_API_TOKEN_WEB": "s3cret-web", "ADMIN_TOKEN": "s3cret-admin"})
    assert api.clients == [ApiClientConfig("web", "s3cret-web", ["balance.get", "leaderboard.*"]),
                           ApiClientConfig("admin", "s3cret-admin", ["*"])]
    assert problems({"clients": [{"name": "web", "token": "${UNSET_TOKEN}"}]}) == [
        "api.clients[0].token: environment variable UNSET_TOKEN is not set"]


@pytest.mark.parametrize(("api", "expected"), [
    ({"clients": [{"name": "web", "token": ""}]}, "api.clients[0].token: must not be empty"),
    ({"clients": [{"name": "web", "token": "   "}]}, "api.clients[0].token: must not be empty"),
    ({"clients": [{"name": "web", "token": "${EMPTY:-}"}]},
     "api.clients[0].token: must not be empty"),
    ({"clients": [{"name": "web"}]}, "api.clients[0].token: required key is missing"),
    ({"clients": [{"name": "", "token": "t"}]}, "api.clients[0].name: must not be empty"),
    ({"clients": [{"name": "web", "token": "a"}, {"name": "web", "token": "b"}]},
     "api.clients: client name listed more than once: web"),
    ({"clients": [{"name": "web", "token": "same"}, {"name": "bot", "token": "same"}]},
     "api.clients: clients share a token (each needs its own): web, bot"),
    ({"clients": [{"name": "web", "token": "t", "endpoints": ["Balance.Get"]}]},
     "api.clients[0].endpoints: not an endpoint name or pattern: 'Balance.Get'"),
    ({"clients": [{"name": "web", "token": "t", "endpoints": ["balance.*.get"]}]},
     "api.clients[0].endpoints: not an endpoint name or pattern: 'balance.*.get'"),
    ({"clients": [{"name": "web", "token": "t", "colour": "red"}]},
     "api.clients[0].colour: unknown key"),
    ({"subject": "kryten.economy.>"}, "api.subject: must be a NATS subject"),
    ({"subject": ""}, "api.subject: must be a NATS subject"),
    ({"enabled": "yes"}, 'api.enabled: expected bool, got "yes"'),
])
def test_the_api_section_is_validated(api: dict[str, Any], expected: str) -> None:
    found = problems(api)
    assert len(found) == 1 and found[0].startswith(expected), found
    assert "same" not in found[0]  # a shared token is named by its clients, never shown


def test_config_show_masks_every_client_token(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config({"channels": ROOM, "api": {"clients": [
        {"name": "web", "token": "tok-web-123", "endpoints": ["balance.*"]},
        {"name": "bot", "token": "tok-bot-456"}]}}, schemas={}, env={})
    text = render_effective_config(config)
    assert "tok-web-123" not in text and "tok-bot-456" not in text
    data = tomllib.loads(text)
    assert data["api"]["clients"] == [
        {"name": "web", "token": "***", "endpoints": ["balance.*"]},
        {"name": "bot", "token": "***", "endpoints": []}]

    # and through the command line, with the tokens coming from the environment
    monkeypatch.setenv("ECONOMY_API_TOKEN_WEB", "env-token-789")
    path = tmp_path / "economy.toml"
    path.write_text('[[channels]]\nchannel = "lounge"\n'
                    '[[api.clients]]\nname = "web"\ntoken = "${ECONOMY_API_TOKEN_WEB}"\n'
                    'endpoints = ["*"]\n', encoding="utf-8")
    assert main(["--config", str(path), "config", "show"]) == 0
    shown = capsys.readouterr().out
    assert "env-token-789" not in shown and 'token = "***"' in shown


def test_the_default_file_documents_the_api_section() -> None:
    text = render_default_config({}, [])
    section = text[text.index("\n[api]\n"):text.index("\n[plugins]\n")]
    assert 'subject = "kryten.economy.command"' in section and "clients = []" in section
    assert '# token = "${ECONOMY_API_TOKEN_WEB}"' in section
    assert tomllib.loads(text)["api"] == {"enabled": True, "subject": "kryten.economy.command",
                                          "clients": []}
