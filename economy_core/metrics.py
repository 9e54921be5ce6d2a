"""Prometheus metrics (aioprometheus): the core's families and a prefixed view per plugin.

Each app owns its own :class:`Metrics` and registry (no process globals, so tests and several
apps in one process never share counters). ``port = 0`` in the config leaves the HTTP endpoint off;
the counters still count and can be rendered with :meth:`Metrics.render`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from aioprometheus.collectors import Counter, Gauge, Registry
from aioprometheus.renderer import render


class Metrics:
    """The core metric families; see the README's operations section for their meaning."""

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
        self._service: Any = None
        self._log = logging.getLogger("economy_core.metrics")

    def for_plugin(self, name: str) -> PluginMetrics:
        """Metric factories for one plugin: every family is named ``economy_<plugin>_…``."""
        return PluginMetrics(f"economy_{name}", self.registry)

    def render(self) -> str:
        """The text exposition of every metric (what ``/metrics`` serves)."""
        body, _ = render(self.registry, [])
        return body.decode() if isinstance(body, bytes) else str(body)

    async def start_server(self, host: str, port: int) -> None:
        """Serve ``/metrics`` on host:port (port 0 = off)."""
        if port == 0:
            return
        from aioprometheus.service import Service

        self._service = Service(registry=self.registry)
        await self._service.start(addr=host, port=port)
        self._log.info("metrics on http://%s:%d/metrics", host, port)

    async def stop_server(self) -> None:
        if self._service is not None:
            await self._service.stop()
            self._service = None


class PluginMetrics:
    """Metric factories whose names are prefixed with the plugin's name."""

    def __init__(self, prefix: str, registry: Registry) -> None:
        self.prefix = prefix
        self._registry = registry
        self._made: dict[str, Any] = {}

    def counter(self, name: str, doc: str) -> Counter:
        counter: Counter = self._make(Counter, name, doc)
        return counter

    def gauge(self, name: str, doc: str) -> Gauge:
        gauge: Gauge = self._make(Gauge, name, doc)
        return gauge

    def _make(self, kind: Any, name: str, doc: str) -> Any:
        full = f"{self.prefix}_{name}"
        if full not in self._made:
            self._made[full] = kind(full, doc, registry=self._registry)
        return self._made[full]


def labels(**values: str) -> dict[str, str]:
    """Label dict helper (keeps call sites short)."""
    return dict(values)


__all__: Sequence[str] = ("Metrics", "PluginMetrics", "labels")
