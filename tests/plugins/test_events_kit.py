"""The events test kit: presence paying 1 a minute (nothing else) plus events, users seeded.

No multiplier source is on unless a test turns it on: off-peak, high population and holidays
are off, and there are no scheduled events (SPEC §8's fixture, Tue 2026-03-03 20:00 UTC, has
no multiplier either; these settings keep other dates quiet too)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from economy_plugins.events import Events

from economy_core.clock import FakeClock
from economy_core.ledger import Kind, Posting
from economy_core.testing import AppHarness, MakeApp, merge_config

CHANNEL = "testchan"
PAYING_PRESENCE: Mapping[str, Any] = {
    "base_rate_per_minute": 1, "hourly_milestones": {}, "welcome_wallet": {"enabled": False},
    "welcome_back": {"enabled": False}, "night_watch": {"enabled": False}}
QUIET_EVENTS: Mapping[str, Any] = {
    "off_peak": {"enabled": False}, "high_population": {"enabled": False},
    "holidays": {"enabled": False}, "scheduled_events": []}


async def events_app(make_app: MakeApp, events: Mapping[str, Any] | None = None, *,
                     users: Sequence[str] = ("alice", "bob", "carol"),
                     start: datetime | None = None, tz: str = "UTC",
                     plugins: Sequence[Any] = (), extra: Mapping[str, Any] | None = None,
                     db: str = "economy.db", strict: bool = True) -> AppHarness:
    """Presence (1 a minute) and events (``QUIET_EVENTS`` merged with ``events``), ``users``
    present (seeded), at ``start`` (default: SPEC §8's Tuesday 20:00 UTC)."""
    config = merge_config({"clock": {"timezone": tz},
                           "plugins": {"presence": PAYING_PRESENCE,
                                       "events": merge_config(QUIET_EVENTS, events or {})}},
                          extra or {})
    kwargs: dict[str, Any] = {"clock": FakeClock(start)} if start is not None else {}
    app = await make_app(plugins=["presence", "wallet", Events, *plugins], config=config,
                         channel=CHANNEL, db=db, strict=strict, **kwargs)
    if users:
        await app.seed(users)
    return app


def plugin(app: AppHarness) -> Events:
    found: Events = app.plugin("events")
    return found


async def postings(app: AppHarness, user: str) -> list[Posting]:
    """The user's postings, oldest first."""
    return list(reversed(await app.ledger.history(CHANNEL, user, limit=100_000)))


async def minutes_paid(app: AppHarness, user: str) -> list[int]:
    """Amounts of the user's per-minute presence postings, oldest first."""
    return [p.amount for p in await postings(app, user) if p.trigger_id == "presence.base"]


async def pots(app: AppHarness, user: str) -> list[tuple[str | None, int]]:
    return [(p.trigger_id, p.amount) for p in await postings(app, user)
            if p.type == "event_bonus"]


async def grant(app: AppHarness, user: str, amount: int) -> None:
    await app.ledger.credit(CHANNEL, user, amount, type="admin_grant", kind=Kind.CORRECTION)
