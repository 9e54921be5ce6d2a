"""Prometheus metrics (aioprometheus): the core's families, a prefixed view per plugin, the HTTP
endpoint (``/metrics`` and ``/health``), gauge refreshers and the counters' persistence hooks.

Each app owns its own :class:`Metrics` and registry (no process globals, so tests and several
apps in one process never share counters). ``port = 0`` in the config leaves the HTTP endpoint off;
the counters still count and can be rendered with :meth:`Metrics.render`.

Scrapes are cheap by construction: ``/metrics`` only renders values already held in memory. Gauges
that need the database (accounts, circulation, median, a plugin's distribution) are computed by
*refreshers* (:meth:`Metrics.add_refresher`, ``ctx.metrics.refresher`` for plugins) that the app
runs on a schedule, never per scrape.

Counters survive a restart: :meth:`Metrics.restore` adds the stored values at start (series of a
family not created yet wait until it is), :meth:`Metrics.unsaved` lists the series that changed
since :meth:`Metrics.saved` was last told (see :mod:`economy_core.metrics_store`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aioprometheus.collectors import Counter, Gauge, Histogram, Registry
from aioprometheus.renderer import render

from .health import Health
from .metrics_store import SeriesKey, labels_of, series_key

Refresher = Callable[[], Awaitable[object]]
"""Recomputes some gauges (run on the app's metrics schedule)."""

RefreshError = Callable[[str, BaseException], None]
"""Called with (owner, exception) when a refresher raises."""

PM_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Histogram buckets (seconds) of ``economy_pm_command_seconds``."""


class Metrics:
    """The core metric families; see the README's metrics section for their meaning."""

    def __init__(self) -> None:
        self.registry = Registry()
        r = self.registry
        self.events_in = Counter("economy_events_in_total", "Inbound events by type", registry=r)
        self.commands = Counter("economy_commands_total", "PM commands by name and outcome",
                                registry=r)
        self.z_credited = Counter("economy_z_credited_total", "Currency credited by source",
                                  registry=r)
        self.z_debited = Counter("economy_z_debited_total", "Currency debited by source",
                                 registry=r)
        self.handler_errors = Counter("economy_handler_errors_total",
                                      "Plugin hook, command or job failures by plugin", registry=r)
        self.api_requests = Counter("economy_api_requests_total",
                                    "Request-reply API calls by command and outcome", registry=r)
        self.queue_depth = Gauge("economy_outbox_depth", "Messages waiting in the outbox",
                                 registry=r)
        self.pm_seconds = Histogram("economy_pm_command_seconds",
                                    "Time from a PM's arrival to its replies being queued",
                                    registry=r, buckets=PM_LATENCY_BUCKETS)
        self.active_users = Gauge("economy_active_users",
                                  "Users present in the channel's room (the bot excluded)",
                                  registry=r)
        self.total_accounts = Gauge("economy_total_accounts", "Accounts in the channel",
                                    registry=r)
        self.circulation = Gauge("economy_total_circulation",
                                 "Sum of every balance in the channel", registry=r)
        self.median_balance = Gauge("economy_median_balance",
                                    "Median balance of the channel's accounts", registry=r)
        self.participation = Gauge("economy_participation_rate",
                                   "Percent of present users that hold an account (0-100)",
                                   registry=r)
        self._refreshers: list[tuple[str, Refresher]] = []
        self._pending: dict[SeriesKey, float] = {}
        self._saved: dict[SeriesKey, float] = {}
        self._runner: Any = None
        self._log = logging.getLogger("economy_core.metrics")

    def for_plugin(self, name: str) -> PluginMetrics:
        """Metric factories for one plugin: every family is named ``economy_<plugin>_…``."""
        return PluginMetrics(f"economy_{name}", self.registry, owner=name, metrics=self)

    def render(self) -> str:
        """The text exposition of every metric (what ``/metrics`` serves)."""
        body, _ = render(self.registry, [])
        return body.decode() if isinstance(body, bytes) else str(body)

    # -- refreshers -----------------------------------------------------------------------------

    def add_refresher(self, owner: str, fn: Refresher) -> None:
        """Run ``fn`` on every :meth:`refresh` (``owner`` names it in errors)."""
        self._refreshers.append((owner, fn))

    def remove_refreshers(self, owner: str) -> None:
        self._refreshers = [(o, fn) for o, fn in self._refreshers if o != owner]

    async def refresh(self, on_error: RefreshError | None = None) -> None:
        """Run every refresher in turn; one that raises is logged and reported to
        ``on_error`` and does not stop the others."""
        for owner, fn in list(self._refreshers):
            try:
                await fn()
            except Exception as exc:
                self._log.exception("metrics refresh of %s failed", owner)
                if on_error is not None:
                    on_error(owner, exc)

    # -- persisted counters ---------------------------------------------------------------------

    def counters(self) -> list[Counter]:
        return [c for c in self.registry.get_all() if isinstance(c, Counter)]

    def restore(self, stored: Mapping[SeriesKey, float]) -> None:
        """Add stored counter values (at start, before anything counts again). Series of a
        family that does not exist yet are applied when a plugin creates it."""
        by_name = {c.name: c for c in self.counters()}
        for key, value in stored.items():
            counter = by_name.get(key[0])
            if counter is None:
                self._pending[key] = value
            elif value > 0:
                counter.add(labels_of(key), value)
        self._saved.update(stored)

    def counter_created(self, counter: Counter) -> None:
        """A plugin made ``counter``: give it the values stored for it."""
        for key in [k for k in self._pending if k[0] == counter.name]:
            value = self._pending.pop(key)
            if value > 0:
                counter.add(labels_of(key), value)

    def unsaved(self) -> dict[SeriesKey, float]:
        """Counter series whose value differs from what was last saved or restored."""
        out: dict[SeriesKey, float] = {}
        for counter in self.counters():
            for labels, raw in counter.get_all():
                key = series_key(counter.name, labels)
                value = float(raw)  # type: ignore[arg-type]  # a counter's values are numbers
                if self._saved.get(key) != value:
                    out[key] = value
        return out

    def saved(self, values: Mapping[SeriesKey, float]) -> None:
        """These values are now stored."""
        self._saved.update(values)

    # -- HTTP -----------------------------------------------------------------------------------

    async def start_server(self, host: str, port: int,
                           health: Callable[[], Awaitable[Health]] | None = None) -> None:
        """Serve ``/metrics`` (and ``/health`` when ``health`` is given) on host:port
        (port 0 = off). ``/health`` answers 200 ``ok`` or 503 with the reason."""
        if port == 0:
            return
        from aiohttp import web

        async def metrics_page(_: web.Request) -> web.Response:
            return web.Response(body=self.render().encode(),
                                content_type="text/plain", charset="utf-8",
                                headers={"X-Content-Type-Options": "nosniff"})

        async def health_page(_: web.Request) -> web.Response:
            if health is None:
                return web.Response(status=404, text="no health check")
            result = await health()
            if result.ok:
                return web.Response(text="ok\n")
            return web.Response(status=503, text=f"unhealthy: {result.reason}\n")

        app = web.Application()
        app.router.add_get("/metrics", metrics_page)
        app.router.add_get("/health", health_page)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._log.info("metrics on http://%s:%d/metrics", host, port)

    @property
    def bound_port(self) -> int | None:
        """The port the HTTP endpoint listens on (None when off)."""
        if self._runner is None:
            return None
        for address in self._runner.addresses:
            return int(address[1])
        return None

    async def stop_server(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class PluginMetrics:
    """Metric factories whose names are prefixed with the plugin's name.

    Counters are persisted by the core (a restart continues them); gauges that need the
    database are set by a :meth:`refresher`, which the core runs on its metrics schedule so a
    scrape never queries anything."""

    def __init__(self, prefix: str, registry: Registry, *, owner: str | None = None,
                 metrics: Metrics | None = None) -> None:
        self.prefix = prefix
        self._registry = registry
        self._owner = owner or prefix
        self._metrics = metrics
        self._made: dict[str, Any] = {}

    def counter(self, name: str, doc: str) -> Counter:
        counter: Counter = self._make(Counter, name, doc)
        return counter

    def refresher(self, fn: Refresher) -> None:
        """Have ``fn`` (async, no arguments) recompute this plugin's gauges on the core's
        metrics schedule (``metrics.refresh_seconds``) and once at start. Keep it to reads."""
        if self._metrics is not None:
            self._metrics.add_refresher(self._owner, fn)

    def gauge(self, name: str, doc: str) -> Gauge:
        gauge: Gauge = self._make(Gauge, name, doc)
        return gauge

    def _make(self, kind: Any, name: str, doc: str) -> Any:
        full = f"{self.prefix}_{name}"
        if full not in self._made:
            made = kind(full, doc, registry=self._registry)
            self._made[full] = made
            if isinstance(made, Counter) and self._metrics is not None:
                self._metrics.counter_created(made)
        return self._made[full]


def labels(**values: str) -> dict[str, str]:
    """Label dict helper (keeps call sites short)."""
    return dict(values)


__all__: Sequence[str] = ("Metrics", "PluginMetrics", "labels")
