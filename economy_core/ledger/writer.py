"""The group-commit writer: one task, one connection, many jobs per transaction."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, tzinfo
from functools import partial
from typing import Any, TypeVar

import attrs
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..clock import Clock
from .gate import EarnGate
from .model import _PG_LOCK, LedgerError, Posting
from .policy import WritePolicy
from .sql import _ConnRunner, _Hop, _Runner, _Sql, _sqlite_hop, _SqliteRunner
from .tx import LedgerTx
from .work import Op, _sync_job, _Work

log = logging.getLogger(__name__)

T = TypeVar("T")


# -- the writer -------------------------------------------------------------------------------


@attrs.define(eq=False)
class _Job:
    op: Op[Any] | None  # a ledger operation, or
    fn: Callable[[LedgerTx], Awaitable[Any]] | None  # a plugin's atomic function
    source: str
    future: asyncio.Future[Any]
    postings: list[Posting] = attrs.field(factory=list)
    outcome: tuple[bool, Any] | None = None  # (ok, value or exception)


_STOP = object()


class _Shared:
    """What a ledger and all its per-source views share: engine, clock, writer."""

    def __init__(self, engine: AsyncEngine, clock: Clock, tz: tzinfo,
                 on_commit: Callable[[Sequence[Posting]], Awaitable[None]] | None,
                 max_batch: int) -> None:
        self.engine = engine
        self.clock = clock
        self.tz = tz
        self.on_commit = on_commit
        self.max_batch = max_batch
        self.sql = _Sql(engine.dialect.name)
        self.queue: asyncio.Queue[Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self.closing = False
        self.conn: AsyncConnection | None = None
        self.hop: _Hop | None = None
        self.batches = 0
        self.jobs = 0
        self.gate: EarnGate | None = None
        self.commit_barrier: Callable[[], None] | None = None
        self.policy: WritePolicy | None = None

    async def submit(self, op: Op[T] | None, fn: Callable[[LedgerTx], Awaitable[T]] | None,
                     source: str) -> T:
        if self.queue is None or self.task is None:
            raise LedgerError("the ledger is not started" if not self.closing
                              else "the ledger is closed")
        if self.closing:
            raise LedgerError("the ledger is closed")
        if asyncio.current_task() is self.task:
            raise LedgerError("a ledger write was awaited on the ledger's writer (from inside "
                              "atomic() or on_commit): use the LedgerTx, or hand off to a task")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(_Job(op, fn, source, future))
        return await future

    # -- the loop --

    async def run_writer(self) -> None:
        assert self.queue is not None
        queue = self.queue
        stop = False
        try:
            while not stop:
                first = await queue.get()
                if first is _STOP:
                    break
                batch: list[_Job] = [first]
                while len(batch) < self.max_batch:
                    try:
                        nxt = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        break
                    if nxt is _STOP:
                        stop = True
                        break
                    batch.append(nxt)
                await self._run_batch(batch)
        finally:
            self._fail_pending(LedgerError("the ledger is closed"))
            await self._drop_conn()

    def _fail_pending(self, exc: Exception) -> None:
        assert self.queue is not None
        while True:
            try:
                job = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if job is not _STOP and not job.future.done():
                job.future.set_exception(exc)

    async def _connection(self) -> tuple[AsyncConnection, _Hop | None]:
        if self.conn is None:
            conn = await self.engine.connect()
            try:
                self.hop = await _sqlite_hop(conn)
            except BaseException:
                await conn.close()
                raise
            self.conn = conn
        return self.conn, self.hop

    async def _drop_conn(self) -> None:
        conn, self.conn, self.hop = self.conn, None, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                log.exception("closing the ledger writer's connection failed")

    async def _run_batch(self, batch: list[_Job]) -> None:
        live = [job for job in batch if not job.future.done()]  # skip cancelled callers
        if not live:
            return
        now = self.clock.now()
        try:
            conn, hop = await self._connection()
            if hop is not None and all(job.op is not None for job in live):
                await hop.run(partial(self._sync_batch, hop.db, live, now))
            else:
                await self._async_batch(conn, hop, live, now)
        except BaseException as exc:
            # Nothing of this batch is committed: every caller gets the error.
            await self._drop_conn()
            err = exc if isinstance(exc, Exception) else LedgerError("ledger writer stopped")
            for job in live:
                if not job.future.done():
                    job.future.set_exception(err)
            if not isinstance(exc, Exception):
                raise
            log.error("ledger commit group of %d job(s) failed: %r", len(live), exc)
            return
        self.batches += 1
        self.jobs += len(live)
        for job in live:
            assert job.outcome is not None
            ok, value = job.outcome
            if not job.future.done():
                if ok:
                    job.future.set_result(value)
                else:
                    job.future.set_exception(value)
        if self.on_commit is None:
            return
        for job in live:
            if job.outcome is not None and job.outcome[0] and job.postings:
                try:
                    await self.on_commit(tuple(job.postings))
                except Exception:
                    log.exception("ledger on_commit failed (money is unaffected)")

    def _work(self, runner: _Runner, now: datetime, source: str) -> _Work:
        return _Work(runner, self.sql, now, self.tz, source)

    def _sync_batch(self, db: sqlite3.Connection, jobs: list[_Job], now: datetime) -> None:
        """A commit group of ledger operations, entirely inside SQLite's database thread."""
        single = len(jobs) == 1
        runner = _SqliteRunner(db)
        db.execute("BEGIN IMMEDIATE")
        try:
            for job in jobs:
                assert job.op is not None
                work = self._work(runner, now, job.source)
                try:
                    job.outcome = (True, _sync_job(db, job.op, work, savepoint=not single))
                    job.postings = work.postings
                except Exception as exc:
                    job.outcome = (False, exc)
            if single and not jobs[0].outcome[0]:  # type: ignore[index]
                db.execute("ROLLBACK")
            else:
                if self.commit_barrier is not None:
                    self.commit_barrier()
                db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    async def _async_batch(self, conn: AsyncConnection, hop: _Hop | None, jobs: list[_Job],
                           now: datetime) -> None:
        single = len(jobs) == 1
        trans = await conn.begin()
        try:
            if self.sql.pg:
                # One ledger writer at a time per database, as SQLite's BEGIN IMMEDIATE gives:
                # two processes' commit groups can then never deadlock on each other's rows.
                await conn.exec_driver_sql("SELECT pg_advisory_xact_lock($1)", (_PG_LOCK,))
            for job in jobs:
                await self._async_job(conn, hop, job, now, savepoint=not single)
            if single and not jobs[0].outcome[0]:  # type: ignore[index]
                await trans.rollback()
            else:
                await trans.commit()
        except BaseException:
            if trans.is_active:
                await trans.rollback()
            raise

    async def _async_job(self, conn: AsyncConnection, hop: _Hop | None, job: _Job,
                         now: datetime, *, savepoint: bool) -> None:
        if job.op is not None and hop is not None:
            work = self._work(_SqliteRunner(hop.db), now, job.source)
            try:
                job.outcome = (True, await hop.run(partial(_sync_job, hop.db, job.op, work,
                                                           savepoint)))
                job.postings = work.postings
            except Exception as exc:
                job.outcome = (False, exc)
            return
        sp = await conn.begin_nested() if savepoint else None
        try:
            if job.op is not None:
                work = self._work(_ConnRunner(conn), now, job.source)
                value = await job.op(work)
                postings = work.postings
            else:
                assert job.fn is not None
                tx = LedgerTx(conn, self, job.source, now, hop)
                value = await job.fn(tx)
                postings = tx.postings
        except Exception as exc:
            if sp is not None:
                await sp.rollback()
            job.outcome = (False, exc)
            return
        if sp is not None:
            await sp.commit()
        job.outcome = (True, value)
        job.postings = postings
