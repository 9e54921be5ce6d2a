"""Shared fixtures. Ledger fixtures are prefixed ``ledger_``.

``ledger_engine_url`` runs a test on a fresh SQLite file and, when the environment variable
``CYTUBE_ECONOMY_TEST_PG_URL`` names a PostgreSQL database (e.g.
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``), also on a freshly created PostgreSQL
database that is dropped afterwards (the role needs CREATEDB).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from economy_core.clock import FakeClock
from economy_core.db import make_engine, sqlite_url
from economy_core.ledger import Ledger

LEDGER_PG_ENV = "CYTUBE_ECONOMY_TEST_PG_URL"


def _ledger_run_aside(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine on its own loop in another thread (fixtures set up outside any loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


async def _ledger_pg_admin(url: str, statement: str) -> None:
    import asyncpg

    dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL no other test uses: a SQLite temp file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield sqlite_url(str(tmp_path / "ledger.db"))
        return
    base = os.environ.get(LEDGER_PG_ENV)
    if not base:
        pytest.skip(f"set {LEDGER_PG_ENV} to also run on PostgreSQL")
    name = f"ledger_test_{uuid.uuid4().hex[:16]}"
    _ledger_run_aside(_ledger_pg_admin(base, f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        _ledger_run_aside(_ledger_pg_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def ledger_clock() -> FakeClock:
    """A frozen clock at Tue 2026-03-03 20:00 UTC."""
    return FakeClock()


@pytest.fixture
async def ledger_engine(ledger_engine_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(ledger_engine_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def ledger_book(ledger_engine: AsyncEngine,
                      ledger_clock: FakeClock) -> AsyncIterator[Ledger]:
    """A started ledger on a fresh database (closed afterwards)."""
    book = Ledger(ledger_engine, ledger_clock)
    await book.start()
    try:
        yield book
    finally:
        await book.close()
