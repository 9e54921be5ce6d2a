"""A fake MediaCMS on loopback (aiohttp.web) for the media_queue tests.

It serves the three routes the real one has (MediaCMS ``files/urls.py``): ``/api/v1/search?q=``
(paginated ``{count, next, previous, results}``, a case-insensitive title match), ``/api/v1/media``
(the newest items, ignoring any query, as the real list view does) and
``/api/v1/media/<friendly_token>`` (404 for an unknown token). ``mode`` makes it misbehave:
``"ok"``, ``"stall"`` (never answers until stopped), ``"500"``, ``"garbage"`` (not JSON),
``"huge"`` (a 3 MiB page) or ``"wrong_shape"`` (JSON that is not a page); ``fail_next`` makes only
the next N requests fail with 500. Every request is recorded (path, query, Authorization header).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web


def media(token: str, title: str, duration: int, **extra: Any) -> dict[str, Any]:
    """One item as MediaCMS's API shows it."""
    return {"friendly_token": token, "title": title, "duration": duration,
            "media_type": "video", "url": f"/view?m={token}",
            "api_url": f"/api/v1/media/{token}",
            "original_media_url": f"/media/original/{token}.mp4", **extra}


class FakeMediaCms:
    """See the module docstring; ``await start()`` returns the base URL."""

    def __init__(self, items: list[dict[str, Any]] | None = None, page_size: int = 50) -> None:
        self.items = list(items or [])
        self.page_size = page_size
        self.mode = "ok"
        self.fail_next = 0
        self.requests: list[tuple[str, str, str | None]] = []
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/api/v1/search", self._search)
        app.router.add_get("/api/v1/media", self._list)
        app.router.add_get("/api/v1/media/{token}", self._item)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def by_token(self, token: str) -> dict[str, Any] | None:
        return next((i for i in self.items if i["friendly_token"] == token), None)

    async def _misbehave(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.path, request.rel_url.raw_query_string,
                              request.headers.get("Authorization")))
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=500, text="Server Error (500)")
        if self.mode == "stall":
            await self._release.wait()
            return web.Response(status=503)
        if self.mode == "500":
            return web.Response(status=500, text="Server Error (500)")
        if self.mode == "garbage":
            return web.Response(text="<html>not json{", content_type="application/json")
        if self.mode == "huge":
            filler = [media(f"t{n:07d}", "x" * 200, 60) for n in range(12_000)]
            return web.Response(text=json.dumps({"count": len(filler), "next": None,
                                                 "previous": None, "results": filler}),
                                content_type="application/json")
        if self.mode == "wrong_shape":
            return web.json_response(["a", "list"])
        return None

    def _page(self, request: web.Request, found: list[dict[str, Any]]) -> web.Response:
        page = max(1, int(request.query.get("page", "1") or 1))
        start = (page - 1) * self.page_size
        chunk = found[start:start + self.page_size]
        more = start + self.page_size < len(found)
        base = f"{self.url}{request.path}"
        return web.json_response({
            "count": len(found),
            "next": f"{base}?page={page + 1}" if more else None,
            "previous": f"{base}?page={page - 1}" if page > 1 else None,
            "results": chunk})

    async def _search(self, request: web.Request) -> web.Response:
        bad = await self._misbehave(request)
        if bad is not None:
            return bad
        words = request.query.get("q", "").casefold().split()
        found = [i for i in self.items
                 if words and all(w in i["title"].casefold() for w in words)]
        return self._page(request, found)

    async def _list(self, request: web.Request) -> web.Response:
        bad = await self._misbehave(request)
        if bad is not None:
            return bad
        return self._page(request, list(reversed(self.items)))

    async def _item(self, request: web.Request) -> web.Response:
        bad = await self._misbehave(request)
        if bad is not None:
            return bad
        found = self.by_token(request.match_info["token"])
        if found is None:
            return web.json_response({"detail": "Not found."}, status=404)
        return web.json_response(found)
