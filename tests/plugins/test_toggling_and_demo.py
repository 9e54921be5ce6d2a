"""Each built-in plugin can be switched off without breaking the others; the demo runs."""

from __future__ import annotations

import asyncio
import io

import pytest

from economy_core.cli import default_app_config, default_enabled
from economy_core.manager import PluginLoadError
from economy_core.testing import MakeApp


def dependants(name: str) -> set[str]:
    """Built-in plugins that declare they require ``name`` (directly or through another)."""
    from economy_core.contract import contract_of
    from economy_core.testing import resolve_plugins

    infos = resolve_plugins(default_enabled())
    out: set[str] = set()
    grew = True
    while grew:
        grew = False
        for info in infos:
            needs = set(contract_of(info.cls).requires)
            if info.name not in out and needs & ({name} | out):
                out.add(info.name)
                grew = True
    return out


def test_streaks_declares_that_it_needs_presence() -> None:
    assert dependants("presence") == {"streaks"}


async def test_a_plugin_whose_requirement_is_off_stops_start_up(make_app: MakeApp) -> None:
    plugins = [name for name in default_enabled() if name != "presence"]
    with pytest.raises(PluginLoadError) as raised:
        await make_app(plugins=plugins)
    assert "'streaks' requires plugin 'presence'" in str(raised.value)


@pytest.mark.parametrize("off", default_enabled())
async def test_bot_runs_with_each_builtin_plugin_off(make_app: MakeApp, off: str) -> None:
    """Each plugin can be switched off (with the plugins that declare they need it)."""
    dropped = {off} | dependants(off)
    plugins = [name for name in default_enabled() if name not in dropped]
    app = await make_app(plugins=plugins)
    await app.join("alice")
    await app.chat("alice", "hello")
    await app.advance(minutes=2)
    [help_text] = await app.pm("alice", "help")
    assert "help" in help_text
    assert await app.ledger.verify() == []
    replies = await app.pm("alice", "balance")
    if "wallet" in plugins:
        assert replies[0].startswith("💰 alice:")
    else:
        assert "Unknown command" in replies[0]


async def test_demo_plays_a_scene_and_prints_a_transcript() -> None:
    from economy_core.demo import run_demo

    config, plugins = default_app_config()
    scene = "/join alice\n+3m /pm alice balance\n/pm alice nonsense\n"
    out = io.StringIO()
    code = await asyncio.wait_for(
        run_demo(config, plugins, speed=600.0,
                 scene=scene, interactive=False, out=out), 60)
    text = out.getvalue()
    assert code == 0
    assert "→ alice joins the room" in text
    assert "bot → alice: 💰 alice: 10" in text  # 100 welcome + a few minutes
    assert "Unknown command" in text
    assert "Top balances:" in text and "ledger verify: OK" in text
