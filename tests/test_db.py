"""Engines, UTC timestamps and versioned migrations (SQLite file; PostgreSQL when configured)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from economy_core.db import (
    NAMING,
    SchemaError,
    UtcDateTime,
    check_table_prefix,
    make_engine,
    migrate,
    schema_versions,
    sqlite_url,
)


async def recorded_version(engine: AsyncEngine, component: str) -> int | None:
    async with engine.connect() as conn:
        found = (await conn.execute(sa.select(schema_versions.c.version).where(
            schema_versions.c.component == component))).scalar_one_or_none()
    return None if found is None else int(found)


async def columns(engine: AsyncEngine, table: str) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda c: {col["name"] for col in sa.inspect(c).get_columns(table)})


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


def test_sqlite_url() -> None:
    assert sqlite_url("/tmp/x.db") == "sqlite+aiosqlite:////tmp/x.db"


async def test_sqlite_engine_pragmas_for_a_plain_path(tmp_path: Path) -> None:
    engine = make_engine(str(tmp_path / "plain.db"))
    try:
        async with engine.connect() as conn:
            pragmas = {name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
                       for name in ("journal_mode", "busy_timeout", "synchronous",
                                    "foreign_keys")}
        assert pragmas == {"journal_mode": "wal", "busy_timeout": 30000, "synchronous": 1,
                           "foreign_keys": 1}
        assert (tmp_path / "plain.db").exists()
    finally:
        await engine.dispose()


notes_md = sa.MetaData(naming_convention=NAMING)
notes = sa.Table("test_notes", notes_md,
                 sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("at", UtcDateTime, nullable=True))


async def test_savepoints_roll_back_only_their_part(ledger_engine: AsyncEngine) -> None:
    async with ledger_engine.begin() as conn:
        await conn.run_sync(notes_md.create_all)
    async with ledger_engine.begin() as conn:
        await conn.execute(notes.insert().values(id=1))
        nested = await conn.begin_nested()
        await conn.execute(notes.insert().values(id=2))
        await nested.rollback()
        await conn.execute(notes.insert().values(id=3))
    async with ledger_engine.connect() as conn:
        ids = (await conn.execute(sa.select(notes.c.id).order_by(notes.c.id))).scalars().all()
    assert ids == [1, 3]


async def test_a_failed_commit_leaves_no_transaction_or_lock_behind(tmp_path: Path) -> None:
    """A COMMIT that fails must not return its connection to the pool with SQLite's transaction
    (and the write lock of BEGIN IMMEDIATE) still open: the next writer, on that connection or
    another, goes on normally and the failed transaction's rows are gone."""
    engine = make_engine(str(tmp_path / "commit.db"))
    other = make_engine(str(tmp_path / "commit.db"))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(notes_md.create_all)
        failures = [RuntimeError("disk full")]

        def fail_once(_conn: object) -> None:
            if failures:
                raise failures.pop()

        sa.event.listen(engine.sync_engine, "commit", fail_once)
        conn = await engine.connect()  # the shape of a long-lived writer's transaction
        trans = await conn.begin()
        await conn.execute(notes.insert().values(id=1))
        with pytest.raises(RuntimeError, match="disk full"):
            await trans.commit()
        await conn.close()
        async with asyncio.timeout(5):  # a leaked write lock would block for the busy timeout
            async with other.begin() as conn:
                await conn.execute(notes.insert().values(id=2))
            async with engine.begin() as conn:
                await conn.execute(notes.insert().values(id=3))
        async with engine.connect() as conn:
            ids = (await conn.execute(sa.select(notes.c.id).order_by(notes.c.id))).scalars().all()
        assert ids == [2, 3]
    finally:
        await engine.dispose()
        await other.dispose()


async def test_utc_datetime_round_trip(ledger_engine: AsyncEngine) -> None:
    async with ledger_engine.begin() as conn:
        await conn.run_sync(notes_md.create_all)
        local = datetime(2026, 3, 3, 22, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
        await conn.execute(notes.insert().values(id=1, at=local))
    async with ledger_engine.connect() as conn:
        back = (await conn.execute(sa.select(notes.c.at))).scalar_one()
    assert back == local and back.tzinfo == UTC and back.hour == 20
    async with ledger_engine.begin() as conn:
        with pytest.raises(sa.exc.StatementError, match="naive"):
            await conn.execute(notes.insert().values(id=2, at=datetime(2026, 1, 1)))


# -- migrations -----------------------------------------------------------------------------


def widgets_v1() -> sa.MetaData:
    md = sa.MetaData(naming_convention=NAMING)
    sa.Table("demo_widgets", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("name", sa.String(50), nullable=False))
    return md


def widgets_v3() -> sa.MetaData:
    md = sa.MetaData(naming_convention=NAMING)
    sa.Table("demo_widgets", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("name", sa.String(50), nullable=False),
             sa.Column("colour", sa.String(20), nullable=False, server_default="grey"),
             sa.Column("size", sa.Integer, nullable=True))
    sa.Table("demo_parts", md, sa.Column("id", sa.Integer, primary_key=True))
    return md


def add_colour(conn: sa.Connection) -> None:
    conn.exec_driver_sql(
        "ALTER TABLE demo_widgets ADD COLUMN colour VARCHAR(20) NOT NULL DEFAULT 'grey'")


def add_size_and_parts(conn: sa.Connection) -> None:
    conn.exec_driver_sql("ALTER TABLE demo_widgets ADD COLUMN size INTEGER")
    conn.exec_driver_sql("UPDATE demo_widgets SET size = LENGTH(name)")
    conn.exec_driver_sql("CREATE TABLE demo_parts (id INTEGER PRIMARY KEY)")


async def test_fresh_migration_creates_tables_and_records_version(
        ledger_engine: AsyncEngine) -> None:
    assert await migrate(ledger_engine, "demo", widgets_v3(), 3) == 0
    assert {"demo_widgets", "demo_parts", "core_schema_versions"} <= await tables(ledger_engine)
    assert await recorded_version(ledger_engine, "demo") == 3
    assert await migrate(ledger_engine, "demo", widgets_v3(), 3) == 3  # repeat: nothing to do


async def test_upgrade_runs_each_step_on_an_old_schema(ledger_engine: AsyncEngine) -> None:
    # An old installation: version 1 with data in it.
    assert await migrate(ledger_engine, "demo", widgets_v1(), 1) == 0
    async with ledger_engine.begin() as conn:
        await conn.exec_driver_sql("INSERT INTO demo_widgets (id, name) VALUES (1, 'sprocket')")
    assert "colour" not in await columns(ledger_engine, "demo_widgets")

    found = await migrate(ledger_engine, "demo", widgets_v3(), 3,
                          {2: add_colour, 3: add_size_and_parts})
    assert found == 1
    assert {"colour", "size"} <= await columns(ledger_engine, "demo_widgets")
    assert "demo_parts" in await tables(ledger_engine)
    assert await recorded_version(ledger_engine, "demo") == 3
    async with ledger_engine.connect() as conn:
        row = (await conn.exec_driver_sql(
            "SELECT name, colour, size FROM demo_widgets")).one()
    assert tuple(row) == ("sprocket", "grey", 8)


async def test_missing_step_is_refused_before_anything_runs(ledger_engine: AsyncEngine) -> None:
    await migrate(ledger_engine, "demo", widgets_v1(), 1)
    with pytest.raises(SchemaError, match=r"demo.*version 3"):
        await migrate(ledger_engine, "demo", widgets_v3(), 3, {2: add_colour})
    assert await recorded_version(ledger_engine, "demo") == 1
    assert "colour" not in await columns(ledger_engine, "demo_widgets")


async def test_failing_step_keeps_the_last_good_version(ledger_engine: AsyncEngine) -> None:
    await migrate(ledger_engine, "demo", widgets_v1(), 1)

    def broken(conn: sa.Connection) -> None:
        conn.exec_driver_sql("ALTER TABLE demo_widgets ADD COLUMN size INTEGER")
        raise RuntimeError("step 3 is broken")

    with pytest.raises(RuntimeError, match="broken"):
        await migrate(ledger_engine, "demo", widgets_v3(), 3, {2: add_colour, 3: broken})
    assert await recorded_version(ledger_engine, "demo") == 2
    cols = await columns(ledger_engine, "demo_widgets")
    assert "colour" in cols and "size" not in cols  # step 3 rolled back as a whole
    assert await migrate(ledger_engine, "demo", widgets_v3(), 3,
                         {2: add_colour, 3: add_size_and_parts}) == 2


async def test_newer_database_than_code_is_an_error(ledger_engine: AsyncEngine) -> None:
    await migrate(ledger_engine, "demo", widgets_v3(), 3)
    with pytest.raises(SchemaError,
                       match="database schema of demo is version 3, this code knows 1"):
        await migrate(ledger_engine, "demo", widgets_v1(), 1)


async def test_concurrent_migrations_are_safe(ledger_engine_url: str) -> None:
    engines = [make_engine(ledger_engine_url) for _ in range(4)]
    try:
        found = await asyncio.gather(*(migrate(e, "demo", widgets_v3(), 3) for e in engines))
        assert sorted(found) == [0, 3, 3, 3]
        assert await recorded_version(engines[0], "demo") == 3
    finally:
        for engine in engines:
            await engine.dispose()


async def test_components_are_versioned_independently(ledger_engine: AsyncEngine) -> None:
    other = sa.MetaData(naming_convention=NAMING)
    sa.Table("other_things", other, sa.Column("id", sa.Integer, primary_key=True))
    await migrate(ledger_engine, "demo", widgets_v1(), 1)
    assert await migrate(ledger_engine, "other", other, 5) == 0
    assert await recorded_version(ledger_engine, "demo") == 1
    assert await recorded_version(ledger_engine, "other") == 5
    assert "demo_parts" not in await tables(ledger_engine)


def test_check_table_prefix() -> None:
    check_table_prefix(widgets_v3(), "demo_")
    md = widgets_v3()
    sa.Table("accounts", md, sa.Column("id", sa.Integer, primary_key=True))
    with pytest.raises(ValueError, match="accounts"):
        check_table_prefix(md, "demo_")
