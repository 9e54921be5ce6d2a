"""The metrics' database parts on SQLite and (with CYTUBE_ECONOMY_TEST_PG_URL) PostgreSQL: the
counter store's round trip and the channel gauges' aggregate queries."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from economy_core.channel_gauges import ChannelGauges
from economy_core.clock import FakeClock
from economy_core.events import RoomSnapshot, RoomUser
from economy_core.ledger import Ledger
from economy_core.metrics import Metrics
from economy_core.metrics_store import CounterStore, series_key
from economy_core.room import Rooms
from tests.metrics_kit import value


async def test_counter_store_keeps_the_last_value_of_each_series(
        ledger_engine: AsyncEngine, ledger_clock: FakeClock) -> None:
    store = CounterStore(ledger_engine, ledger_clock)
    await store.start()
    await store.start()  # idempotent
    assert await store.load() == {}
    a = series_key("economy_a_total", {"x": "1", "b": "é\"q"})
    b = series_key("economy_b_total", {})
    await store.save({a: 3.0, b: 1.0})
    await store.save({a: 5.0})
    await store.save({})
    assert await store.load() == {a: 5.0, b: 1.0}
    big = 2.0 ** 53
    await store.save({b: big})
    assert (await store.load())[b] == big


async def test_channel_gauges_from_the_ledger(ledger_engine: AsyncEngine,
                                              ledger_clock: FakeClock) -> None:
    ledger = Ledger(ledger_engine, ledger_clock)
    await ledger.start()
    try:
        for user, amount in (("alice", 5), ("bob", 9), ("carol", 100)):
            assert (await ledger.credit("one", user, amount)).ok
        rooms = Rooms(["one", "two"])
        rooms.apply(RoomSnapshot("one", (RoomUser("alice", 1), RoomUser("Bot", 3),
                                         RoomUser("zoe", 1)), ledger_clock.now()))
        metrics = Metrics()
        await ChannelGauges(ledger_engine, rooms, metrics, lambda: "bot").refresh()
        page = metrics.render()
        assert value(page, "economy_total_accounts", channel="one") == 3
        assert value(page, "economy_total_circulation", channel="one") == 114
        assert value(page, "economy_median_balance", channel="one") == 9
        assert value(page, "economy_active_users", channel="one") == 2
        assert value(page, "economy_participation_rate", channel="one") == 50
        assert value(page, "economy_total_accounts", channel="two") == 0
        assert value(page, "economy_median_balance", channel="two") == 0
    finally:
        await ledger.close()
