"""Shared helpers of the media_queue tests: the fake MediaCMS fixture, an app with the plugin
pointed at it, and readers of what moved."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest
from economy_plugins.media_queue import MediaQueue

from economy_core.ledger import Kind
from economy_core.testing import AppHarness, MakeApp, merge_config

from ..fake_mediacms import FakeMediaCms, media
from .test_social_kit import CHANNEL, social_app

ADMIN_RANK = 4
CATALOGUE = [
    media("bunny01", "Big Buck Bunny", 596),
    media("ep30min", "Space Show Episode 1", 1500),
    media("ep60min", "Space Show Special", 3600),
    media("movie01", "The Big Movie", 7200),
    media("bunny02", "Big Buck Bunny Returns", 600),
]
PRICE = {"bunny01": 250, "ep30min": 500, "ep60min": 750, "movie01": 1000, "bunny02": 250}


@pytest.fixture
async def mediacms() -> AsyncIterator[FakeMediaCms]:
    fake = FakeMediaCms(CATALOGUE)
    await fake.start()
    yield fake
    await fake.stop()


def media_config(fake: FakeMediaCms | None, **overrides: Any) -> dict[str, Any]:
    """The plugin's section: the fake catalogue (fast timeouts), no cooldown unless given."""
    mediacms: dict[str, Any] = {"base_url": fake.url if fake else "", "timeout_seconds": 2.0,
                                "api_token_env": ""}
    mediacms.update(overrides.pop("mediacms", {}))
    section: dict[str, Any] = {"mediacms": mediacms, "queue_cooldown_minutes": 0}
    section.update(overrides)
    return section


async def media_app(make_app: MakeApp, fake: FakeMediaCms | None, *,
                    plugins: Sequence[Any] = (MediaQueue,), balance: int = 10_000,
                    config: Mapping[str, Any] | None = None, **section: Any) -> AppHarness:
    """The plugin (and ``plugins``) with alice, bob, carol holding ``balance`` each; boss is
    an admin present in the room."""
    full = merge_config({"plugins": {"media_queue": media_config(fake, **section)}},
                        config or {})
    app = await social_app(make_app, full, plugins=list(plugins), balance=balance)
    await app.join("boss", rank=ADMIN_RANK)
    await app.settle()
    app.clear()
    return app


async def moved(app: AppHarness, user: str) -> list[tuple[str, int]]:
    """(type, amount) of the user's postings other than the test funds."""
    history = await app.ledger.history(CHANNEL, user, limit=100_000)
    return [(p.type, p.amount) for p in reversed(history) if p.type != "admin_grant"]


async def queues_used(app: AppHarness, user: str) -> int:
    day = app.clock.now().date()
    return (await app.ledger.daily(CHANNEL, user, day)).get("queues_used", 0)


def addvideos(app: AppHarness) -> list[Mapping[str, Any]]:
    return [c.args for c in app.transport.robot_calls if c.command == "addvideo"]


async def check_books(app: AppHarness) -> None:
    """Σ balances = Σ postings for every account, and no escrow of ours left open."""
    assert await app.ledger.verify(CHANNEL) == []
    assert [e for e in await app.ledger.open_escrows(CHANNEL)
            if e.purpose.startswith("spend.")] == []


__all__ = ["ADMIN_RANK", "CATALOGUE", "CHANNEL", "PRICE", "FakeMediaCms", "Kind", "addvideos",
           "check_books", "media", "media_app", "media_config", "mediacms", "moved",
           "queues_used"]
