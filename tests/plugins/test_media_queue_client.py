"""The MediaCMS client against the fake MediaCMS on loopback: the real routes and header, tries
with backoff through the injected sleeper (no test waits for it), the cache, and every way the
catalogue can fail — each a CatalogueUnavailable, never another exception."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from economy_plugins.media_queue.catalogue import (
    MAX_BODY_BYTES,
    CatalogueUnavailable,
    MediaCms,
    NotConfigured,
)
from economy_plugins.media_queue.config import MediaCmsConfig, MediaQueueConfig

from economy_core.config import SECRET_MASK
from economy_core.config.render import render_effective_config
from economy_core.testing import build_config, resolve_plugins

from ..fake_mediacms import FakeMediaCms, media
from .media_kit import CATALOGUE, mediacms

__all__ = ["mediacms"]


class Harness:
    """A client with a settable clock and a recording sleeper."""

    def __init__(self, base_url: str, env: dict[str, str] | None = None, **cfg: Any) -> None:
        self.cfg = MediaCmsConfig(base_url=base_url, **cfg)
        self.now = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)
        self.slept: list[float] = []
        self.client = MediaCms(lambda: self.cfg, now=lambda: self.now, sleep=self._sleep,
                               env=env or {})

    async def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def client(mediacms: FakeMediaCms) -> AsyncIterator[Harness]:
    harness = Harness(mediacms.url, timeout_seconds=0.3)
    yield harness
    await harness.client.close()


async def test_search_uses_the_search_route(client: Harness, mediacms: FakeMediaCms) -> None:
    items = await client.client.search("  big   BUCK ")
    assert [i.token for i in items] == ["bunny01", "bunny02"]
    assert items[0].title == "Big Buck Bunny" and items[0].duration_s == 596
    assert items[0].runtime == "9:56"
    assert [r[:2] for r in mediacms.requests] == [("/api/v1/search", "q=big%20BUCK")]


async def test_search_keeps_the_first_page_up_to_the_limit(mediacms: FakeMediaCms) -> None:
    mediacms.items = [media(f"clip{n:03d}", f"Clip {n}", 61 * n) for n in range(1, 80)]
    harness = Harness(mediacms.url, search_results_limit=4)
    items = await harness.client.search("clip")
    assert [i.token for i in items] == ["clip001", "clip002", "clip003", "clip004"]
    assert items[2].runtime == "3:03"
    assert len(mediacms.requests) == 1
    await harness.client.close()


async def test_the_list_route_ignores_queries_so_it_is_never_used(
        client: Harness, mediacms: FakeMediaCms) -> None:
    """What the older bot did wrong: /api/v1/media answers the newest items whatever is asked
    (the fake does as MediaCMS does); the client searches where searching happens."""
    assert await client.client.search("nothing like this") == []
    assert all(path != "/api/v1/media" for path, _, _ in mediacms.requests)


async def test_one_item_and_unknown_ones(client: Harness, mediacms: FakeMediaCms) -> None:
    item = await client.client.item("movie01")
    assert item is not None and item.title == "The Big Movie" and item.minutes == 120
    assert await client.client.item("nosuch") is None
    assert await client.client.item("../../etc") is None  # never sent
    assert [r[0] for r in mediacms.requests] == ["/api/v1/media/movie01",
                                                 "/api/v1/media/nosuch"]


async def test_token_header_from_the_named_variable(mediacms: FakeMediaCms) -> None:
    harness = Harness(mediacms.url, env={"MY_TOKEN": "abc"}, api_token_env="MY_TOKEN")
    await harness.client.search("bunny")
    assert mediacms.requests[-1][2] == "Token abc"
    harness.cfg = MediaCmsConfig(base_url=mediacms.url, api_token="direct", api_token_env="")
    await harness.client.item("bunny01")
    assert mediacms.requests[-1][2] == "Token direct"
    harness.cfg = MediaCmsConfig(base_url=mediacms.url, api_token_env="")
    await harness.client.item("bunny02")
    assert mediacms.requests[-1][2] is None
    await harness.client.close()


async def test_results_are_cached_for_the_configured_time(client: Harness,
                                                          mediacms: FakeMediaCms) -> None:
    await client.client.search("bunny")
    await client.client.item("bunny01")
    client.now += timedelta(seconds=299)
    await client.client.search("BUNNY")
    await client.client.item("bunny01")
    assert len(mediacms.requests) == 2
    client.now += timedelta(seconds=2)
    await client.client.search("bunny")
    assert len(mediacms.requests) == 3


@pytest.mark.parametrize("mode", ["500", "garbage", "wrong_shape", "huge", "stall"])
async def test_every_failure_is_unavailable_after_three_tries(
        client: Harness, mediacms: FakeMediaCms, mode: str) -> None:
    mediacms.mode = mode
    with pytest.raises(CatalogueUnavailable):
        await client.client.search("bunny")
    with pytest.raises(CatalogueUnavailable):
        await client.client.item("bunny01")
    if mode == "wrong_shape":  # a well-formed JSON answer is not retried
        assert client.slept == [] and len(mediacms.requests) == 2
    else:
        assert client.slept == [1.0, 2.0, 1.0, 2.0] and len(mediacms.requests) == 6


async def test_logs_never_show_the_token(mediacms: FakeMediaCms,
                                         caplog: pytest.LogCaptureFixture) -> None:
    harness = Harness(mediacms.url, api_token="tok-secret-9")
    mediacms.mode = "500"
    with caplog.at_level("DEBUG"), pytest.raises(CatalogueUnavailable):
        await harness.client.search("bunny")
    assert "HTTP 500" in caplog.text and "tok-secret-9" not in caplog.text
    assert mediacms.requests[0][2] == "Token tok-secret-9"
    await harness.client.close()


async def test_a_flaky_catalogue_answers_on_the_third_try(client: Harness,
                                                          mediacms: FakeMediaCms) -> None:
    mediacms.fail_next = 2
    assert [i.token for i in await client.client.search("movie")] == ["movie01"]
    assert client.slept == [1.0, 2.0] and len(mediacms.requests) == 3


async def test_a_dead_catalogue_is_unavailable(mediacms: FakeMediaCms) -> None:
    url = mediacms.url
    await mediacms.stop()
    harness = Harness(url, tries=2)
    with pytest.raises(CatalogueUnavailable):
        await harness.client.search("bunny")
    assert harness.slept == [1.0]
    await harness.client.close()


async def test_not_configured() -> None:
    harness = Harness("")
    assert not harness.client.configured
    with pytest.raises(NotConfigured):
        await harness.client.search("x")


def test_huge_mode_is_really_over_the_limit() -> None:
    import json

    filler = [media(f"t{n:07d}", "x" * 200, 60) for n in range(12_000)]
    assert len(json.dumps({"results": filler})) > MAX_BODY_BYTES


def test_config_show_masks_the_token() -> None:
    infos = resolve_plugins(["media_queue"])
    config = build_config(infos, {"plugins": {"media_queue": {"mediacms": {
        "base_url": "https://media.example.com", "api_token": "tok-123"}}}},
        database_url="sqlite+aiosqlite:///:memory:")
    shown = render_effective_config(config)
    assert "tok-123" not in shown and f'api_token = "{SECRET_MASK}"' in shown
    assert isinstance(config.plugins["media_queue"], MediaQueueConfig)


def test_catalogue_fixture_is_consistent() -> None:
    assert len({i["friendly_token"] for i in CATALOGUE}) == len(CATALOGUE)
