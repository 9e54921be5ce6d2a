"""Heists across restarts and lost jobs: an outcome settled just before a restart is still told,
exactly once (``told_at``); a database at gambling schema 1 is upgraded in place; a heist whose
window job is lost is still settled within 10 s of its window (SPEC §3.6)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from economy_plugins.gambling import Gambling, tables
from economy_plugins.gambling.heist import OUTCOME_PAUSE_SECONDS

from economy_core.testing import AppHarness, MakeApp, merge_config

from .test_gambling_kit import CHANNEL, force, gambling_app, open_gambling_escrows, plugin

HEIST_ON = {"heist": {"enabled": True}}
CREW = ("alice", "bob", "carol")


async def heist_rows(app: AppHarness) -> list[Any]:
    async with app.app.engine.connect() as conn:
        return list(await conn.execute(sa.select(tables.heists).order_by(tables.heists.c.id)))


async def run_heist(app: AppHarness, roll: float = 0.10) -> None:
    """alice plans a 100 Z heist, bob and carol join; the window closes (settled, not told)."""
    force(app, roll)
    assert "Heist planned" in (await app.pm("alice", "heist 100"))[0]
    await app.chat("bob", "join")
    await app.chat("carol", "join")
    await app.advance(120)


def told(app: AppHarness) -> tuple[int, list[int]]:
    """(outcome chat lines, "Heist succeeded" PMs per crew member) sent so far."""
    lines = sum("200 Z each" in line for line in app.chat_lines())
    return lines, [sum("Heist succeeded" in m for m in app.pms_to(u)) for u in CREW]


# -- the result survives a restart in the suspense pause ----------------------------------------


async def test_restart_in_the_pause_tells_the_result_once(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, HEIST_ON)
    await run_heist(app)
    assert [await app.balance(u) for u in CREW] == [1100, 1100, 1100]  # settled …
    await app.advance(OUTCOME_PAUSE_SECONDS / 2)
    assert told(app) == (0, [0, 0, 0])  # … but not told yet
    app = await app.restart()
    await app.settle()
    assert told(app) == (1, [1, 1, 1])  # start-up told it
    [row] = await heist_rows(app)
    assert row.status == "settled" and row.told_at is not None
    await app.advance(60)
    app = await app.restart()  # a second restart tells nothing again
    await app.advance(60)
    assert told(app) == (1, [1, 1, 1])
    assert [await app.balance(u) for u in CREW] == [1100, 1100, 1100]  # paid once
    assert await app.ledger.verify() == []


async def test_result_told_in_time_is_not_told_again(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, {"heist": {"enabled": True, "cooldown_seconds": 0}})
    await run_heist(app)
    await app.advance(OUTCOME_PAUSE_SECONDS)
    assert told(app) == (1, [1, 1, 1])
    await app.pm("alice", "heist 100")  # too few: refunded and told at once
    await app.advance(120)
    assert sum("Not enough crew" in line for line in app.chat_lines()) == 1
    assert all(row.told_at is not None for row in await heist_rows(app))
    app = await app.restart()
    await app.advance(60)
    assert told(app) == (1, [1, 1, 1])
    assert sum("Not enough crew" in line for line in app.chat_lines()) == 1
    assert sum("is back" in m for m in app.pms_to("alice")) == 1


async def test_restart_in_the_pause_of_a_bust_tells_the_loss(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, HEIST_ON)
    await run_heist(app, roll=0.99)
    app = await app.restart()
    await app.settle()
    assert sum("Busted" in line for line in app.chat_lines()) == 1
    for user in CREW:
        [note] = [m for m in app.pms_to(user) if "Heist busted" in m]
        assert "Balance: 900 Z" in note


# -- schema 1 → 2 ---------------------------------------------------------------------------------


async def test_gambling_schema_1_is_upgraded_in_place(make_app: MakeApp, tmp_path: Path) -> None:
    app = await gambling_app(make_app, HEIST_ON, db="old.db")
    await run_heist(app)
    await app.advance(OUTCOME_PAUSE_SECONDS)
    clock = app.clock
    await app.app.stop()
    with sqlite3.connect(tmp_path / "old.db") as db:  # back to schema 1: no told_at column
        db.execute("ALTER TABLE gambling_heists DROP COLUMN told_at")
        db.execute("UPDATE core_schema_versions SET version = 1 WHERE component = 'gambling'")
    config = merge_config({"plugins": {"gambling": {"heist": {"enabled": True,
                                                              "cooldown_seconds": 0}}}}, {})
    app = await make_app(plugins=[Gambling], config=config, channel=CHANNEL, db="old.db",
                         clock=clock)
    with sqlite3.connect(tmp_path / "old.db") as db:
        [(version,)] = db.execute("SELECT version FROM core_schema_versions "
                                  "WHERE component = 'gambling'").fetchall()
    assert version == 2
    [old] = await heist_rows(app)
    assert old.told_at == old.ended_at  # an ended heist counts as told: not told again
    assert app.chat_lines() == [] and all(app.pms_to(u) == [] for u in CREW)
    await run_heist(app, roll=0.99)  # the upgraded table works for a new heist
    await app.advance(OUTCOME_PAUSE_SECONDS)
    assert any("Busted" in line for line in app.chat_lines())
    assert all(row.told_at is not None for row in await heist_rows(app))


# -- lateness -------------------------------------------------------------------------------------


async def test_lost_window_job_still_settles_within_ten_seconds(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, HEIST_ON)
    force(app, 0.10)
    await app.pm("alice", "heist 100")
    await app.chat("bob", "join")
    await app.chat("carol", "join")
    heist = await plugin(app).heists.open_heist(CHANNEL)
    assert heist is not None
    [window_job] = [j for j in app.app.scheduler.jobs() if j.name == f"heist:{heist.id}"]
    window_job.cancel()  # lost
    await app.advance(120)
    assert await app.balance("alice") == 900  # the window is over, the job did not run
    await app.advance(10)
    assert [await app.balance(u) for u in CREW] == [1100, 1100, 1100]
    [row] = await heist_rows(app)
    assert row.status == "settled"
    assert row.ended_at - heist.window_ends <= timedelta(seconds=10)
    assert await open_gambling_escrows(app) == []
    await app.advance(OUTCOME_PAUSE_SECONDS)
    assert told(app) == (1, [1, 1, 1])
    assert [j.name for j in app.app.scheduler.jobs() if j.name == "heist:watch"] == []


async def test_watch_runs_only_while_a_heist_is_open(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, HEIST_ON)

    def watching() -> int:
        return sum(j.name == "heist:watch" for j in app.app.scheduler.jobs())

    assert watching() == 0
    await app.pm("alice", "heist 100")
    assert watching() == 1
    await app.advance(130)  # too few: refunded at the window; the watch then stops
    assert await app.balance("alice") == 1000
    assert watching() == 0
