"""The README's worked example: a third-party plugin package, installed with pip, found through
its entry point, enabled by name, and working in a real app."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from economy_core.manager import installed_entry_points
from economy_core.testing import MakeApp

from ..examples import installed_example


@pytest.fixture
def hello_installed(tmp_path: Path) -> Iterator[None]:
    with installed_example("economy-hello", "economy_hello", tmp_path):
        yield


async def test_installed_plugin_loads_by_entry_point(hello_installed: None,
                                                     make_app: MakeApp) -> None:
    assert "hello" in installed_entry_points()
    app = await make_app(plugins=["hello", "wallet"],
                         config={"plugins": {"hello": {"bonus": 7}}})
    [reply] = await app.pm("alice", "hello")
    assert "+7 Z" in reply
    [again] = await app.pm("alice", "hello")
    assert "already" in again
    await app.chat("alice", "hello everyone")
    await app.chat("bob", "HELLO")
    assert await app.pm("alice", "greetings") == ["You said 'hello' 1 time(s)."]
    await app.advance(days=1)
    assert "+7 Z" in (await app.pm("alice", "hello"))[0]
    assert await app.balance("alice") == 14
    [rewards] = await app.pm("alice", "rewards")
    assert "PM 'hello' once a day for 7 Z" in rewards


def test_installed_but_not_enabled_is_never_imported(hello_installed: None) -> None:
    from economy_core.manager import load_plugins

    load_plugins(["wallet"])
    assert "economy_hello" not in sys.modules
