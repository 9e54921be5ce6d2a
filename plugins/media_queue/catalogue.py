"""A small async client for MediaCMS's REST API (SPEC §3.7; facts from MediaCMS's
``files/urls.py`` and ``files/views/media.py``).

- search: ``GET {base_url}/api/v1/search?q=Q`` → ``{count, next, previous, results}``, each
  result with ``friendly_token``, ``title``, ``duration`` (seconds), ``media_type``, ``url``,
  ``api_url`` (``/api/v1/media`` only lists the newest items and ignores a query: never used to
  search);
- one item: ``GET {base_url}/api/v1/media/{friendly_token}`` (404: no such item);
- ``Authorization: Token {api_token}`` (Django REST framework token auth) when a token is set.

Contracts: every request has ``timeout_seconds`` and is tried ``tries`` times, waiting 1 s, 2 s
(doubling) between tries through the injected ``sleep`` (the bot's clock: tests never wait);
answers (also "no such item") are cached ``cache_seconds`` by the injected ``now``. A dead,
slow, failing (5xx) or malformed catalogue, or an answer over :data:`MAX_BODY_BYTES`, raises
:class:`CatalogueUnavailable` (its message is for the log, never the token); nothing else
escapes. Without ``base_url`` every call raises :class:`NotConfigured`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import attrs

from .config import MediaCmsConfig

MAX_BODY_BYTES = 2 * 1024 * 1024
"""A larger answer is refused (unavailable) instead of read."""
MAX_QUERY_CHARS = 200
"""Longest search query the plugin sends."""
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What a MediaCMS friendly token looks like (anything else is never sent)."""
MAX_TITLE_CHARS = 200


class CatalogueUnavailable(Exception):
    """The catalogue could not answer (down, slow, 5xx, malformed, too large)."""


class NotConfigured(Exception):
    """No ``base_url``: the plugin has no catalogue."""


@attrs.frozen
class MediaItem:
    """One catalogue item: its friendly token, title, duration and where its file is."""

    token: str
    title: str
    duration_s: int
    media_type: str = "video"
    file_url: str | None = None

    @property
    def minutes(self) -> float:
        return self.duration_s / 60.0

    @property
    def runtime(self) -> str:
        """``1:02:03`` or ``4:05``."""
        hours, rest = divmod(max(0, self.duration_s), 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def valid_token(text: str) -> bool:
    """Whether ``text`` may be a friendly token (letters, digits, ``_``, ``-``)."""
    return TOKEN_RE.fullmatch(text) is not None


def _item(data: Any) -> MediaItem | None:
    """A result or item object → :class:`MediaItem` (None when it lacks a usable token)."""
    if not isinstance(data, Mapping):
        return None
    token = data.get("friendly_token")
    if not isinstance(token, str) or not valid_token(token):
        return None
    title = data.get("title")
    title = " ".join(str(title).split())[:MAX_TITLE_CHARS] if title else token
    duration = data.get("duration")
    try:
        seconds = max(0, int(float(duration))) if duration is not None else 0
    except (TypeError, ValueError, OverflowError):
        seconds = 0
    media_type = data.get("media_type")
    original = data.get("original_media_url")  # the item's file (item detail only)
    file_url = original if isinstance(original, str) and original.strip() else None
    return MediaItem(token, title or token, seconds,
                     media_type if isinstance(media_type, str) else "video", file_url)


Sleep = Callable[[float], Awaitable[None]]


class MediaCms:
    """The client (see the module docstring). ``settings`` is read at each call (a config
    reload applies at once); ``env`` is where ``api_token_env`` is looked up."""

    def __init__(self, settings: Callable[[], MediaCmsConfig], *, now: Callable[[], datetime],
                 sleep: Sleep, env: Mapping[str, str] | None = None,
                 log: logging.Logger | None = None) -> None:
        self._settings = settings
        self._now = now
        self._sleep = sleep
        self._env = env if env is not None else os.environ
        self._log = log or logging.getLogger("economy_plugins.media_queue.catalogue")
        self._session: aiohttp.ClientSession | None = None
        self._cache: dict[str, tuple[datetime, Any]] = {}
        self.requests = 0
        """HTTP requests sent (tries included)."""

    @property
    def configured(self) -> bool:
        return bool(self._settings().base_url)

    def _token(self) -> str:
        cfg = self._settings()
        if cfg.api_token:
            return cfg.api_token
        return self._env.get(cfg.api_token_env, "") if cfg.api_token_env else ""

    def manifest_url(self, token: str) -> str:
        cfg = self._settings()
        return cfg.manifest_url_template.format(base_url=cfg.base_url.rstrip("/"),
                                                token=token)

    def playlist_entry(self, item: MediaItem) -> tuple[str, str] | None:
        """(CyTube media type, id) for ``add_media``: ``("cm", manifest URL)`` or ``("fi", file
        URL)``; None when ``fi`` is configured and the item has no file URL."""
        cfg = self._settings()
        if cfg.item_source == "fi":
            if not item.file_url:
                return None
            if item.file_url.startswith(("http://", "https://")):
                return "fi", item.file_url
            return "fi", cfg.base_url.rstrip("/") + "/" + item.file_url.lstrip("/")
        return "cm", self.manifest_url(item.token)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def clear_cache(self) -> None:
        self._cache.clear()

    # -- the two calls --------------------------------------------------------------------------

    async def search(self, query: str) -> list[MediaItem]:
        """Up to ``search_results_limit`` items matching ``query`` (first page)."""
        query = " ".join(query.split())[:MAX_QUERY_CHARS]
        cfg = self._settings()
        data = await self._get_json(f"/api/v1/search?q={quote(query, safe='')}",
                                    f"search:{query.casefold()}")
        if not isinstance(data, Mapping) or not isinstance(data.get("results"), list):
            raise CatalogueUnavailable("search answer is not {count, next, previous, results}")
        items = [i for i in (_item(r) for r in data["results"]) if i is not None]
        return items[:cfg.search_results_limit]

    async def item(self, token: str) -> MediaItem | None:
        """The item with this friendly token, or None when the catalogue has no such item."""
        if not valid_token(token):
            return None
        data = await self._get_json(f"/api/v1/media/{token}", f"item:{token}",
                                    missing_ok=True)
        if data is None:
            return None
        found = _item(data)
        if found is None or found.token != token:
            raise CatalogueUnavailable(f"item {token}: the answer is not a media item")
        return found

    # -- HTTP -----------------------------------------------------------------------------------

    async def _get_json(self, path: str, cache_key: str, *, missing_ok: bool = False) -> Any:
        cfg = self._settings()
        if not cfg.base_url:
            raise NotConfigured()
        now = self._now()
        cached = self._cache.get(cache_key)
        if cached is not None and (now - cached[0]).total_seconds() < cfg.cache_seconds:
            return cached[1]
        url = cfg.base_url.rstrip("/") + path
        delay = 1.0
        problem = "no attempt"
        for attempt in range(1, cfg.tries + 1):
            try:
                found, data = await self._fetch(url, cfg.timeout_seconds, missing_ok)
            except CatalogueUnavailable as exc:
                problem = str(exc)
                self._log.warning("MediaCMS %s (try %d of %d): %s", path, attempt, cfg.tries,
                                  problem)
                if attempt < cfg.tries:
                    await self._sleep(delay)
                    delay *= 2
                continue
            value = data if found else None
            self._cache[cache_key] = (self._now(), value)
            if len(self._cache) > 1000:  # keep it small: drop the oldest half
                for key in sorted(self._cache, key=lambda k: self._cache[k][0])[:500]:
                    del self._cache[key]
            return value
        raise CatalogueUnavailable(problem)

    async def _fetch(self, url: str, timeout: float, missing_ok: bool) -> tuple[bool, Any]:
        """One GET: (True, JSON) or (False, None) for a 404 when ``missing_ok``."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        headers = {"Accept": "application/json"}
        token = self._token()
        if token:
            headers["Authorization"] = f"Token {token}"
        self.requests += 1
        try:
            async with asyncio.timeout(timeout):
                async with self._session.get(url, headers=headers,
                                             allow_redirects=False) as resp:
                    if resp.status == 404 and missing_ok:
                        return False, None
                    if resp.status != 200:
                        raise CatalogueUnavailable(f"HTTP {resp.status}")
                    body = await resp.content.read(MAX_BODY_BYTES + 1)
        except TimeoutError:
            raise CatalogueUnavailable(f"no answer within {timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise CatalogueUnavailable(f"{type(exc).__name__}") from None
        if len(body) > MAX_BODY_BYTES:
            raise CatalogueUnavailable(f"answer larger than {MAX_BODY_BYTES:,} bytes")
        try:
            return True, json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise CatalogueUnavailable("the answer is not JSON") from None
