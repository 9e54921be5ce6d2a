"""The Grafana dashboard in contrib/grafana/ queries only metrics the running bot exports: the bot
is started with every built-in plugin enabled and its /metrics page scraped over HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from economy_core.manager import installed_entry_points
from economy_core.testing import MakeApp
from tests.metrics_kit import families, fetch, free_port

DASHBOARD = Path(__file__).resolve().parent.parent / "contrib" / "grafana" / "cytube-economy.json"

_METRIC = re.compile(r"\beconomy_[a-zA-Z0-9_:]*")
_HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")

REQUIRED_PANELS = ("Circulation", "Earn vs spend", "Trigger hits", "Games played", "House edge",
                   "PM latency", "Outbox depth", "Errors by plugin")


def queries(dashboard: Mapping[str, Any]) -> Iterator[str]:
    """Every PromQL text of the dashboard: panel targets (rows' nested panels too) and
    templating queries."""
    def walk(panels: Any) -> Iterator[str]:
        for panel in panels or ():
            for target in panel.get("targets", ()):
                if target.get("expr"):
                    yield str(target["expr"])
            yield from walk(panel.get("panels"))

    yield from walk(dashboard.get("panels"))
    for variable in dashboard.get("templating", {}).get("list", ()):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if query:
            yield str(query)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression uses (every family of this bot is ``economy_*``;
    label names and functions never are)."""
    return set(_METRIC.findall(expr))


def missing(names: set[str], exported: Mapping[str, str]) -> set[str]:
    """The names no exported family provides (a histogram provides its _bucket/_sum/_count)."""
    out = set()
    for name in names:
        if name in exported:
            continue
        base = next((name[:-len(s)] for s in _HISTOGRAM_SERIES if name.endswith(s)), None)
        if base is None or exported.get(base) != "histogram":
            out.add(name)
    return out


def builtin_plugins() -> list[str]:
    return sorted(name for name, ep in installed_entry_points().items()
                  if ep.value.startswith("economy_plugins."))


def load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def test_the_dashboard_has_the_panels_operators_need() -> None:
    dashboard = load()
    titles = [p.get("title", "") for p in dashboard["panels"]]
    for wanted in REQUIRED_PANELS:
        assert any(t.startswith(wanted) for t in titles), wanted
    for expr in queries(dashboard):
        assert metric_names(expr), f"a query without any economy metric: {expr}"


def test_the_check_finds_a_metric_that_is_not_exported() -> None:
    exported = {"economy_a_total": "counter", "economy_lat_seconds": "histogram"}
    expr = ("sum(rate(economy_a_total{kind=\"earn\"}[5m])) / "
            "sum(rate(economy_lat_seconds_bucket[5m])) + economy_gone_total + economy_a_total_sum")
    assert metric_names(expr) == {"economy_a_total", "economy_lat_seconds_bucket",
                                  "economy_gone_total", "economy_a_total_sum"}
    assert missing(metric_names(expr), exported) == {"economy_gone_total", "economy_a_total_sum"}


async def test_every_metric_the_dashboard_queries_is_exported_by_the_running_bot(
        make_app: MakeApp) -> None:
    plugins = builtin_plugins()
    assert {"chat_triggers", "gambling", "ranks", "events"} <= set(plugins)
    port = free_port()
    await make_app(plugins=plugins, config={"metrics": {"port": port}})
    status, body = await fetch(port, "/metrics")
    assert status == 200
    exported = families(body)
    used: set[str] = set()
    for expr in queries(load()):
        used |= metric_names(expr)
    assert len(used) >= 15
    assert missing(used, exported) == set()
