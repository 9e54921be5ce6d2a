"""The worked example of a third-party earning trigger (``examples/economy-keyword``): a separate
package, installed with pip (offline, from the local path), found through its entry point, and
paid by the chat_triggers pipeline like a built-in trigger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from economy_plugins.chat_triggers import ChatTriggers

from economy_core.manager import installed_entry_points
from economy_core.testing import AppHarness, MakeApp

from ..examples import installed_example

CHANNEL = "testchan"


@pytest.fixture
def keyword_installed(tmp_path: Path) -> Iterator[None]:
    with installed_example("economy-keyword", "economy_keyword", tmp_path):
        yield


async def keyword_app(make_app: MakeApp, keyword: dict[str, object]) -> AppHarness:
    app = await make_app(plugins=[ChatTriggers, "keyword", "wallet"], channel=CHANNEL,
                         config={"plugins": {"keyword": keyword}})
    await app.seed(["alice", "bob"])
    return app


async def say(app: AppHarness, user: str, text: str) -> None:
    await app.chat(user, text)
    await app.plugin("chat_triggers").drain()


async def keyword_pay(app: AppHarness, user: str) -> list[int]:
    postings = await app.ledger.history(CHANNEL, user, limit=1000)
    return [p.amount for p in reversed(postings) if p.trigger_id == "keyword.said"]


async def test_keyword_plugin_pays_through_the_chat_pipeline(keyword_installed: None,
                                                            make_app: MakeApp) -> None:
    assert "keyword" in installed_entry_points()
    app = await keyword_app(make_app, {"keyword": "popcorn", "reward": 4, "max_per_hour": 2})
    await say(app, "alice", "who wants POPCORN?")
    await say(app, "alice", "popcorns are not popcorn-less")  # a whole word, any case
    await say(app, "alice", "no keyword here")
    await say(app, "alice", "popcorn again")
    await say(app, "alice", "popcorn once more")  # beyond the hourly cap
    assert await keyword_pay(app, "alice") == [4, 4]
    day = app.clock.now().date()
    assert (await app.ledger.daily(CHANNEL, "alice", day))["keywords_said"] == 2
    [stats] = await app.pm("alice", "econ:triggers", rank=5)
    assert "keyword.said: 2 hits, 1 users, 8 Z" in stats
    [rewards] = await app.pm("bob", "rewards")
    assert "Saying 'popcorn' in chat: 4 Z (up to 2 an hour)" in rewards
    await app.advance(hours=1)
    await say(app, "alice", "popcorn, an hour later")
    assert await keyword_pay(app, "alice") == [4, 4, 4]


async def test_keyword_plugin_follows_the_pipeline_rules(keyword_installed: None,
                                                         make_app: MakeApp) -> None:
    app = await keyword_app(make_app, {"keyword": "kaboom", "hidden": True})
    await app.app.identity.ban(CHANNEL, "bob", by="admin", reason="test", at=app.clock.now())
    await say(app, "bob", "kaboom")
    await say(app, "CyTubeBot", "kaboom")
    assert await keyword_pay(app, "bob") == [] and await keyword_pay(app, "CyTubeBot") == []
    await say(app, "alice", "kaboom!")
    assert await keyword_pay(app, "alice") == [2]
    [rewards] = await app.pm("alice", "rewards")
    assert "kaboom" not in rewards and "…and 13 more way(s)" in rewards
