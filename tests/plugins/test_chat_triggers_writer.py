"""chat_triggers' writer: trigger analytics count only hits that paid, a failed batch gives its
caps and first-of-day claims back, and each sender's ``last_active`` is written with the batch
(and shown by ``profile``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from economy_plugins.chat_triggers import activity, tables, writer

from economy_core.db import make_engine, migrate
from economy_core.events import RoomSnapshot, RoomUser
from economy_core.testing import MakeApp

from .test_chat_triggers_kit import CHANNEL, Room, chat_room


async def triggers_today(room: Room) -> str:
    [stats] = await room.pm("alice", "econ:triggers", rank=5)
    return stats


# -- analytics ----------------------------------------------------------------------------------


async def test_counting_only_hits_are_no_trigger_hits(make_app: MakeApp) -> None:
    room = await chat_room(make_app, {"conversation_starter": {"enabled": False}})
    users = tuple(RoomUser(u, 1) for u in ("alice", "bob"))
    await room.app.app.handle_event(RoomSnapshot(CHANNEL, users, room.app.clock.now(),
                                                 ("Kappa", "LUL")))
    await room.say("bob", "Kappa LUL")
    assert (await room.daily("bob"))["unique_emotes_used"] == 2  # still counted
    stats = await triggers_today(room)
    assert "chat.emote_variety" not in stats
    assert "chat.first_message_of_day: 1 hits, 1 users, 5 Z" in stats


async def test_withheld_hits_are_not_counted(make_app: MakeApp) -> None:
    room = await chat_room(make_app, core={"onboarding": {"min_messages_to_earn": 3}},
                           users=("newbie", "alice"))
    await room.media("Feature", 600)
    await room.wait(60)
    await room.say("newbie", "a long line from someone very new here")  # all withheld
    await room.say("newbie", "two")  # a comment worth half a Z: withheld too
    stats = await triggers_today(room)
    assert "no hits yet" in stats, stats
    assert (await room.daily("newbie"))["messages_sent"] == 2  # counters stay as they were
    await room.say("newbie", "three, and now a long enough line")  # may earn from here on
    stats = await triggers_today(room)
    assert "chat.long_message: 1 hits, 1 users, 1 Z" in stats
    assert "content.comment_during_media: 1 hits, 1 users, 0 Z" in stats  # half a Z so far
    assert "chat.first_message_of_day:" not in stats  # tried (and withheld) on the first line


# -- a failed batch ------------------------------------------------------------------------------


async def test_a_failed_batch_gives_its_caps_back(make_app: MakeApp,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    room = await chat_room(make_app, {"long_message": {"max_per_hour": 1}})
    real = writer.analytics.record
    failures: list[int] = []

    async def fails_once(conn: Any, tallies: Any) -> None:
        if not failures:
            failures.append(1)
            raise RuntimeError("disk on fire")
        await real(conn, tallies)

    monkeypatch.setattr(writer.analytics, "record", fails_once)
    await room.app.chat("alice", "a long line that should have paid something")
    await room.plugin.drain()
    assert room.plugin.writer.failed_batches == 1
    assert await room.earned("alice") == 0
    room.plugin.writer.failed_batches = 0
    await room.say("alice", "another long line, and this one is written")
    assert await room.earned("alice", "chat.long_message") == 1  # the hourly cap of 1
    assert await room.earned("alice", "chat.first_message_of_day") == 5  # the day's claim
    await room.say("alice", "a third long line: now the cap is used up")
    assert await room.earned("alice", "chat.long_message") == 1
    assert await room.app.ledger.verify(CHANNEL) == []


# -- last_active --------------------------------------------------------------------------------


async def test_profile_shows_when_a_user_last_chatted(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    [never] = await room.pm("bob", "profile")
    assert "Last active" not in never
    await room.say("bob", "hello")
    [now] = await room.pm("alice", "profile @bob")
    assert "Last active: just now" in now
    await room.wait(minutes=5)
    [later] = await room.pm("alice", "profile @bob")
    assert "Last active: 5 min ago" in later
    await room.wait(hours=3)
    await room.app.app.identity.ban(CHANNEL, "bob", by="admin", reason="test",
                                    at=room.app.clock.now())
    await room.say("bob", "a banned line is no activity")
    [after] = await room.pm("alice", "profile @bob")
    assert "Last active: 3 h ago" in after


async def test_last_active_keeps_the_newest_line_per_user(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    for i in range(3):
        await room.app.chat("alice", f"line {i}")
        await room.app.advance(10)
    await room.say("bob", "hi")
    async with room.app.app.engine.connect() as conn:
        rows = (await conn.execute(sa.select(tables.last_active.c.user_key,
                                             tables.last_active.c.at)
                                   .order_by(tables.last_active.c.user_key))).all()
        assert await activity.last_line_at(conn, CHANNEL, "ALICE") == rows[0][1]
    now = room.app.clock.now()
    assert [(k, now - at) for k, at in rows] == [("alice", timedelta(seconds=10)),
                                                 ("bob", timedelta(0))]


def test_a_batch_writes_one_row_per_user() -> None:
    t0 = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)
    lines = [(CHANNEL, "alice", t0), (CHANNEL, "bob", t0), (CHANNEL, "Alice", t0 + timedelta(1)),
             ("other", "alice", t0), (CHANNEL, "alice", t0 - timedelta(1))]
    rows = {(r["channel"], r["user_key"]): (r["username"], r["at"])
            for r in activity.newest(lines)}
    assert rows == {(CHANNEL, "alice"): ("Alice", t0 + timedelta(1)),
                    (CHANNEL, "bob"): ("bob", t0), ("other", "alice"): ("alice", t0)}


async def test_schema_1_databases_get_the_last_active_table(tmp_path: Path) -> None:
    engine = make_engine(str(tmp_path / "old.db"))
    old = sa.MetaData()
    for table in (tables.analytics, tables.analytics_users):
        table.to_metadata(old)
    try:
        assert await migrate(engine, "chat_triggers", old, 1) == 0
        schema = tables.schema
        assert schema.version == 2 and schema.history[0][0] == 2
        assert await migrate(engine, "chat_triggers", schema.metadata, schema.version,
                             schema.steps) == 1
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        assert "chat_triggers_last_active" in names
    finally:
        await engine.dispose()


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "just now"), (59, "just now"), (60, "1 min ago"), (3599, "59 min ago"),
    (3600, "1 h ago"), (86_399, "23 h ago"), (86_400, "1 day ago"), (3 * 86_400, "3 days ago")])
def test_ago(seconds: int, text: str) -> None:
    assert activity.ago(timedelta(seconds=seconds)) == text
