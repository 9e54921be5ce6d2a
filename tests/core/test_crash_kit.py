"""The test kit's crash simulation (AppHarness.arm_crash): the database keeps exactly the commits
made before the chosen one, the doomed process sends nothing, and the next start works on what
was committed. The crash property tests of the plugins rest on this."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from economy_core.testing import MakeApp, SimulatedCrash

CHANNEL = "testroom"


async def test_commits_before_the_chosen_one_survive_the_rest_are_lost(make_app: MakeApp) -> None:
    app = await make_app()
    await app.ledger.credit(CHANNEL, "alice", 10)
    breaker = app.arm_crash(after_commits=1)
    await app.ledger.credit(CHANNEL, "alice", 20)  # the one commit still allowed
    assert breaker.used == 1 and not breaker.tripped
    assert app.app.dispatcher.strict  # plugin errors still fail the test until the crash
    with pytest.raises(SimulatedCrash):
        await app.ledger.credit(CHANNEL, "alice", 40)
    assert breaker.tripped and not app.app.dispatcher.strict
    with pytest.raises(SimulatedCrash):  # dead stays dead
        await app.ledger.credit(CHANNEL, "bob", 1)
    app = await app.restart()
    assert await app.balance("alice") == 30
    assert await app.balance("bob") == 0
    assert await app.ledger.verify() == []
    await app.ledger.credit(CHANNEL, "alice", 1)  # the new process commits again
    assert await app.balance("alice") == 31


async def test_plugin_transactions_on_the_engine_fail_too(make_app: MakeApp) -> None:
    app = await make_app()
    async with app.app.engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE probe (n INTEGER)")
    app.arm_crash(after_commits=0)
    with pytest.raises(SimulatedCrash):
        async with app.app.engine.begin() as conn:
            await conn.exec_driver_sql("INSERT INTO probe VALUES (1)")

    async def atomic_write(tx: object) -> None:
        await tx.conn.execute(sa.text("INSERT INTO probe VALUES (2)"))  # type: ignore[attr-defined]
        await tx.credit(CHANNEL, "alice", 5)  # type: ignore[attr-defined]

    with pytest.raises(SimulatedCrash):
        await app.ledger.atomic(atomic_write)
    app = await app.restart()
    async with app.app.engine.connect() as conn:
        assert (await conn.exec_driver_sql("SELECT count(*) FROM probe")).scalar_one() == 0
    assert await app.balance("alice") == 0


async def test_a_dead_process_sends_nothing_and_a_crash_not_reached_happens_at_restart(
        make_app: MakeApp) -> None:
    app = await make_app(plugins=["wallet"])
    app.arm_crash(after_commits=1000)
    assert await app.pm("alice", "balance")  # still alive: replies are sent
    await app.ledger.credit(CHANNEL, "alice", 7)
    sent = len(app.transport.sent)
    breaker = app.breaker
    app = await app.restart()  # dies here: nothing of its shutdown is committed
    assert breaker is not None and breaker.tripped
    assert len(app.transport.sent) == sent
    assert await app.balance("alice") == 7
    assert await app.pm("alice", "balance")  # the new process talks again
