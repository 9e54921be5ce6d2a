"""Where the metric counters are kept across a restart.

One core table, ``core_metric_counters`` (component ``core_metrics``): a row per counter series
(family name, its labels as sorted JSON, the value). :meth:`CounterStore.load` reads them all at
start; :meth:`CounterStore.save` writes the series whose value changed since the last save, in one
transaction (delete then insert, the same on SQLite and PostgreSQL). Rows of families that no
longer exist (a plugin disabled) are left alone, so re-enabling it continues its counts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .clock import Clock
from .db import NAMING, UtcDateTime, migrate

SeriesKey = tuple[str, str]
"""(family name, labels as sorted JSON)."""

counters_metadata = sa.MetaData(naming_convention=NAMING)

core_metric_counters = sa.Table(
    "core_metric_counters", counters_metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("labels", sa.String(1000), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

COUNTERS_SCHEMA_VERSION = 1


def series_key(name: str, labels: Mapping[str, str]) -> SeriesKey:
    """The stored key of one series (labels in a canonical order)."""
    return name, json.dumps(dict(labels), sort_keys=True, separators=(",", ":"))


def labels_of(key: SeriesKey) -> dict[str, str]:
    return {str(k): str(v) for k, v in json.loads(key[1]).items()}


class CounterStore:
    """The counters' table on the app's database; :meth:`start` before use."""

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    async def start(self) -> None:
        await migrate(self._engine, "core_metrics", counters_metadata, COUNTERS_SCHEMA_VERSION)

    async def load(self) -> dict[SeriesKey, float]:
        """Every stored series and its value (a read: nothing is committed)."""
        table = core_metric_counters
        async with self._engine.connect() as conn:
            rows = (await conn.execute(sa.select(table))).all()
        return {(str(r.name), str(r.labels)): float(r.value) for r in rows}

    async def save(self, values: Mapping[SeriesKey, float]) -> None:
        """Store these series' values in one transaction (nothing to do for none)."""
        if not values:
            return
        table = core_metric_counters
        now = self._clock.now()
        async with self._engine.begin() as conn:
            await conn.execute(
                table.delete().where(table.c.name == sa.bindparam("k_name"),
                                     table.c.labels == sa.bindparam("k_labels")),
                [{"k_name": name, "k_labels": labels} for name, labels in values])
            await conn.execute(table.insert(), [
                {"name": name, "labels": labels, "value": value, "updated_at": now}
                for (name, labels), value in values.items()])
