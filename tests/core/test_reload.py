"""Reloading the configuration while running (SPEC §2.1, scenario 49): a valid file takes effect
at once for plugins and the core's live sections; a broken one is reported and changes nothing;
a change that needs a restart is refused whole. `run` reloads on SIGHUP."""

from __future__ import annotations

import asyncio
import signal
import sys
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from economy_core.config import render_effective_config
from economy_core.hookspecs import hookimpl
from economy_core.testing import AppHarness, MakeApp, build_config

CHANNEL = "testchan"


def write_config(path: Path, app: AppHarness, edit: Any = None) -> Path:
    """The app's effective config as a file, after ``edit(data)`` changed the parsed TOML."""
    data = tomllib.loads(render_effective_config(app.app.config))
    if edit is not None:
        edit(data)
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def base_rate(value: Any) -> Any:
    def edit(data: dict[str, Any]) -> None:
        data["plugins"]["presence"]["base_rate_per_minute"] = value
    return edit


async def tick_pay(app: AppHarness, user: str = "alice") -> int:
    before = await app.balance(user)
    await app.advance(minutes=1)
    return await app.balance(user) - before


async def test_scenario_49_reload_applies_a_good_file_and_rejects_a_bad_one(
        make_app: MakeApp, tmp_path: Path) -> None:
    app = await make_app(plugins=["presence", "wallet"], channel=CHANNEL)
    await app.join("alice")
    assert await tick_pay(app) == 1
    path = write_config(tmp_path / "economy.toml", app, base_rate(2))
    result = await app.app.reload_from_file(str(path))
    assert result.ok, result.message
    assert await tick_pay(app) == 2
    write_config(path, app, base_rate("two"))
    result = await app.app.reload_from_file(str(path))
    assert not result.ok
    assert 'plugins.presence.base_rate_per_minute: expected float, got "two"' in result.message
    assert await tick_pay(app) == 2
    result = await app.app.reload_from_file(str(tmp_path / "missing.toml"))
    assert not result.ok and "missing.toml" in result.message


async def test_core_sections_follow_a_reload(make_app: MakeApp, tmp_path: Path) -> None:
    app = await make_app(plugins=["presence", "wallet"], channel=CHANNEL)
    await app.join("alice")

    def edit(data: dict[str, Any]) -> None:
        data["currency"]["symbol"] = "ZC"
        data["admin"]["owner_level"] = 1
        data["onboarding"]["min_messages_to_earn"] = 3

    result = await app.app.reload_from_file(str(write_config(tmp_path / "e.toml", app, edit)))
    assert result.ok, result.message
    [reply] = await app.pm("alice", "balance")
    assert " ZC" in reply
    assert app.app.router.owner_level == 1
    assert await tick_pay(app) == 0  # onboarding minimums apply from now on


async def test_a_change_that_needs_a_restart_is_refused_whole(make_app: MakeApp,
                                                               tmp_path: Path) -> None:
    app = await make_app(plugins=["presence", "wallet"], channel=CHANNEL)
    await app.join("alice")

    def edit(data: dict[str, Any]) -> None:
        data["database"]["url"] = "sqlite+aiosqlite:///elsewhere.db"
        data["channels"][0]["channel"] = "another"
        data["plugins"]["presence"]["base_rate_per_minute"] = 5

    result = await app.app.reload_from_file(str(write_config(tmp_path / "e.toml", app, edit)))
    assert not result.ok
    assert "channels, database changed" in result.message and "restart" in result.message
    assert await tick_pay(app) == 1  # the plugin change in the same file was not applied

    def enable_more(data: dict[str, Any]) -> None:
        data["plugins"]["enabled"].append("rain")

    result = await app.app.reload_from_file(
        str(write_config(tmp_path / "e.toml", app, enable_more)))
    assert not result.ok and "plugins.enabled" in result.message

    def move_the_api(data: dict[str, Any]) -> None:
        data.setdefault("api", {})["subject"] = "kryten.elsewhere.command"

    result = await app.app.reload_from_file(
        str(write_config(tmp_path / "e.toml", app, move_the_api)))
    assert not result.ok and "api.subject" in result.message


class ReloadWatcher:
    """Records the section each reload hands it (plugins get their own section)."""

    name = "watcher"
    got: list[Any]

    def __init__(self, ctx: Any) -> None:
        ReloadWatcher.got = []

    @hookimpl
    async def economy_config_reloaded(self, config: Any) -> None:
        ReloadWatcher.got.append(config)


async def test_each_plugin_hears_its_own_section(make_app: MakeApp) -> None:
    app = await make_app(plugins=["presence", ReloadWatcher], channel=CHANNEL)
    running = app.app.config
    new = build_config(app.app.plugin_infos,
                       {"plugins": {"presence": {"base_rate_per_minute": 3}}},
                       database_url=running.core.database.url, channel=CHANNEL)
    assert await app.app.reload_config(new) == []
    presence = app.app.plugins["presence"]
    assert presence.context.config.base_rate_per_minute == 3
    assert ReloadWatcher.got == [None]  # the watcher declares no section of its own


async def test_run_reloads_on_sighup(tmp_path: Path) -> None:
    command = str(Path(sys.executable).parent / "cytube-economy")
    config = tmp_path / "economy.toml"
    init = await asyncio.create_subprocess_exec(command, "config", "init", "-o", str(config))
    assert await asyncio.wait_for(init.wait(), 60) == 0
    text = config.read_text(encoding="utf-8")
    text = text.replace('url = "sqlite+aiosqlite:///economy.db"',
                        f'url = "sqlite+aiosqlite:///{tmp_path / "economy.db"}"', 1)
    text = text.replace("port = 28290", "port = 0", 1)
    config.write_text(text, encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        command, "--config", str(config), "run", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None

    async def until(needle: str) -> None:
        while True:
            line = (await proc.stdout.readline()).decode()  # type: ignore[union-attr]
            assert line, f"run ended before {needle!r}"
            if needle in line:
                return

    try:
        await asyncio.wait_for(until("economy started"), 60)
        config.write_text(text.replace("base_rate_per_minute = 1.0",
                                       'base_rate_per_minute = "two"', 1), encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        await asyncio.wait_for(until('base_rate_per_minute: expected float, got "two"'), 30)
        config.write_text(text.replace("base_rate_per_minute = 1.0",
                                       "base_rate_per_minute = 2.0", 1), encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        await asyncio.wait_for(until("configuration reloaded from"), 30)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
