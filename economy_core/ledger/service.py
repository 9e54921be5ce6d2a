"""The Ledger: the money store plugins and the core write and read through."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, tzinfo
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ..clock import Clock
from ..db import chunks, migrate
from .checks import _account, _check_text, _check_user, _escrow, _posting
from .gate import EarnGate
from .model import (
    DEFAULT_MAX_BATCH,
    LEDGER_COMPONENT,
    LEDGER_SCHEMA_VERSION,
    Account,
    CapState,
    ChannelTotals,
    Escrow,
    Holder,
    Kind,
    KindTotals,
    Mismatch,
    Posting,
)
from .moves import MoneyMoves
from .policy import WritePolicy
from .schema import accounts, caps, daily_counters, escrows, ledger_metadata, transactions
from .tx import LedgerTx
from .work import Op
from .writer import _STOP, _Shared

T = TypeVar("T")


class LedgerView(MoneyMoves):
    """What a plugin gets as ``ctx.ledger``: the money moves (stamped with its ``source``),
    :meth:`atomic` and the reads; none of the service's life cycle or test switches.

    Writes are checked against the write policy the core installed (a plugin writes only the
    posting types it declared, and only counters some enabled plugin declared): a violation is
    a programming error and raises ValueError before anything is written."""

    _shared: _Shared
    source: str

    @property
    def tz(self) -> tzinfo:
        """The time zone the ledger books daily counters in."""
        return self._shared.tz

    # -- writes --

    async def atomic(self, fn: Callable[[LedgerTx], Awaitable[T]]) -> T:
        """Run ``fn`` with a :class:`LedgerTx` in one database transaction and return its
        result; if ``fn`` raises, everything it did rolls back and the exception propagates."""
        return await self._shared.submit(None, fn, self.source)

    async def _run(self, op: Op[T]) -> T:
        """Queue ``op`` to the writer as its own transaction."""
        return await self._shared.submit(op, None, self.source)

    # -- reads --

    async def _read(self, stmt: sa.Executable) -> sa.CursorResult[Any]:
        async with self._shared.engine.connect() as conn:
            conn = await conn.execution_options(sqlite_begin="DEFERRED")
            return await conn.execute(stmt)  # async results are fully buffered

    async def balance(self, channel: str, username: str) -> int:
        """The committed balance (0 without an account)."""
        result = await self._read(sa.select(accounts.c.balance).where(
            accounts.c.channel == channel, accounts.c.user_key == _check_user(username)[0]))
        found = result.scalar_one_or_none()
        return 0 if found is None else int(found)

    async def account(self, channel: str, username: str) -> Account | None:
        """The account, or None when the user never had one in this channel."""
        result = await self._read(sa.select(accounts).where(
            accounts.c.channel == channel, accounts.c.user_key == _check_user(username)[0]))
        row = result.first()
        return None if row is None else _account(row)

    async def account_count(self, channel: str | None = None) -> int:
        """How many accounts exist (in one channel, or in all)."""
        stmt = sa.select(sa.func.count()).select_from(accounts)
        if channel is not None:
            stmt = stmt.where(accounts.c.channel == channel)
        return int((await self._read(stmt)).scalar_one())

    async def history(self, channel: str, username: str, limit: int = 10) -> list[Posting]:
        """The user's postings, newest first."""
        result = await self._read(
            sa.select(transactions).where(transactions.c.channel == channel,
                                          transactions.c.user_key == _check_user(username)[0])
            .order_by(transactions.c.id.desc()).limit(limit))
        return [_posting(row) for row in result]

    async def postings(self, tx_id: str) -> list[Posting]:
        """Every posting of one ledger operation, in order."""
        result = await self._read(sa.select(transactions).where(transactions.c.tx_id == tx_id)
                                  .order_by(transactions.c.id))
        return [_posting(row) for row in result]

    async def top(self, channel: str, limit: int = 10,
                  by: Literal["balance", "lifetime_earned"] = "balance") -> list[Account]:
        """Accounts with the highest ``by`` (ties by user key)."""
        if by not in ("balance", "lifetime_earned"):
            raise ValueError("top() orders by 'balance' or 'lifetime_earned'")
        column = accounts.c[by]
        result = await self._read(sa.select(accounts).where(accounts.c.channel == channel)
                                  .order_by(column.desc(), accounts.c.user_key).limit(limit))
        return [_account(row) for row in result]

    async def holders(self, channel: str, minimum: int) -> list[Holder]:
        """Every account of the channel with ``balance >= minimum``, ordered by user key, as
        lean (key, name, balance) records (for jobs that go over all holders, such as a nightly
        balance rule: 100,000 of them read in a fraction of a second). A rule that moves money by
        these balances reads them with :meth:`LedgerTx.holders` instead, in its transaction."""
        result = await self._read(
            sa.select(accounts.c.user_key, accounts.c.username, accounts.c.balance).where(
                accounts.c.channel == channel, accounts.c.balance >= minimum)
            .order_by(accounts.c.user_key))
        return [Holder(row.user_key, row.username, int(row.balance)) for row in result]

    async def circulation(self, channel: str) -> int:
        """Σ balances in the channel."""
        result = await self._read(sa.select(sa.func.coalesce(sa.func.sum(accounts.c.balance), 0))
                                  .where(accounts.c.channel == channel))
        return int(result.scalar_one())

    async def totals(self, channel: str) -> ChannelTotals:
        """Accounts, Σ balances and Σ of each lifetime counter in the channel (one query)."""
        a = accounts
        row = (await self._read(sa.select(
            sa.func.count(), *(sa.func.coalesce(sa.func.sum(c), 0) for c in (
                a.c.balance, a.c.lifetime_earned, a.c.lifetime_spent, a.c.gambled_in,
                a.c.gambled_out))).where(a.c.channel == channel))).one()
        return ChannelTotals(*(int(v) for v in row))

    async def daily_totals(self, channel: str, day: date) -> tuple[dict[str, int], int]:
        """Every daily counter of the channel on ``day`` summed over its users (counter → Σ),
        and how many users have any counter that day (the day's active users)."""
        d = daily_counters
        sums = await self._read(
            sa.select(d.c.counter, sa.func.sum(d.c.value).label("total"))
            .where(d.c.channel == channel, d.c.day == day).group_by(d.c.counter))
        users = await self._read(
            sa.select(sa.func.count(sa.distinct(d.c.user_key)))
            .where(d.c.channel == channel, d.c.day == day))
        return {r.counter: int(r.total) for r in sums}, int(users.scalar_one())

    async def open_escrows(self, channel: str | None = None,
                           purpose: str | None = None) -> list[Escrow]:
        """Escrows still open (oldest first), optionally of one channel and/or purpose."""
        stmt = sa.select(escrows).where(escrows.c.status == "open")
        if channel is not None:
            stmt = stmt.where(escrows.c.channel == channel)
        if purpose is not None:
            stmt = stmt.where(escrows.c.purpose == purpose)
        result = await self._read(stmt.order_by(escrows.c.id))
        return [_escrow(row) for row in result]

    async def escrow_by_id(self, escrow_id: int) -> Escrow | None:
        """One escrow in any state, or None."""
        row = (await self._read(sa.select(escrows).where(escrows.c.id == escrow_id))).first()
        return None if row is None else _escrow(row)

    async def daily(self, channel: str, username: str, day: date) -> dict[str, int]:
        """Every daily counter of the user on ``day`` (counter → value)."""
        result = await self._read(
            sa.select(daily_counters.c.counter, daily_counters.c.value).where(
                daily_counters.c.channel == channel,
                daily_counters.c.user_key == _check_user(username)[0],
                daily_counters.c.day == day))
        return {row.counter: int(row.value) for row in result}

    async def daily_many(self, channel: str, day: date, counter: str,
                         usernames: Sequence[str]) -> dict[str, int]:
        """One daily counter of many users: user key → value (users without one are absent)."""
        keys = list(dict.fromkeys(_check_user(n)[0] for n in usernames))
        found: dict[str, int] = {}
        for part in chunks(keys):
            result = await self._read(
                sa.select(daily_counters.c.user_key, daily_counters.c.value).where(
                    daily_counters.c.channel == channel, daily_counters.c.day == day,
                    daily_counters.c.counter == counter, daily_counters.c.user_key.in_(part)))
            found.update({row.user_key: int(row.value) for row in result})
        return found

    async def accounts(self, channel: str, usernames: Sequence[str]) -> dict[str, Account]:
        """The accounts of many users: user key → account (users without one are absent)."""
        keys = list(dict.fromkeys(_check_user(n)[0] for n in usernames))
        found: dict[str, Account] = {}
        for part in chunks(keys):
            result = await self._read(sa.select(accounts).where(
                accounts.c.channel == channel, accounts.c.user_key.in_(part)))
            found.update({row.user_key: _account(row) for row in result})
        return found

    async def counter_totals(self, channel: str, counter: str,
                             usernames: Sequence[str]) -> dict[str, int]:
        """One daily counter of many users summed over every day: user key → total (users
        without one are absent). A "lifetime" figure kept only by day."""
        keys = list(dict.fromkeys(_check_user(n)[0] for n in usernames))
        d = daily_counters
        found: dict[str, int] = {}
        for part in chunks(keys):
            result = await self._read(
                sa.select(d.c.user_key, sa.func.sum(d.c.value).label("total")).where(
                    d.c.channel == channel, d.c.counter == counter, d.c.user_key.in_(part))
                .group_by(d.c.user_key))
            found.update({row.user_key: int(row.total) for row in result})
        return found

    async def counterparties(self, channel: str, username: str, kind: Kind, *,
                             outgoing: bool) -> int:
        """How many different users are the ``related_user`` of the user's postings of
        ``kind``: those that took money from them (``outgoing``) or gave it."""
        t = transactions
        sign = t.c.amount < 0 if outgoing else t.c.amount > 0
        result = await self._read(
            sa.select(sa.func.count(sa.distinct(sa.func.lower(t.c.related_user)))).where(
                t.c.channel == channel, t.c.user_key == _check_user(username)[0],
                t.c.kind == Kind(kind).value, t.c.related_user.is_not(None), sign))
        return int(result.scalar_one())

    async def top_daily(self, channel: str, day: date, counter: str,
                        limit: int = 10) -> list[tuple[str, int]]:
        """(display name, value) of the highest values of one daily counter on ``day``."""
        d = daily_counters
        result = await self._read(
            sa.select(sa.func.coalesce(accounts.c.username, d.c.user_key).label("name"),
                      d.c.value)
            .select_from(d.outerjoin(accounts, sa.and_(accounts.c.channel == d.c.channel,
                                                       accounts.c.user_key == d.c.user_key)))
            .where(d.c.channel == channel, d.c.day == day, d.c.counter == counter)
            .order_by(d.c.value.desc(), d.c.user_key).limit(limit))
        return [(row.name, int(row.value)) for row in result]

    async def counter_sums(self, channel: str, first: date, last: date) -> dict[str, int]:
        """Every daily counter summed over all users of the channel and the days ``first`` ..
        ``last`` (inclusive): counter → total (e.g. ``z_earned`` minted in the period)."""
        d = daily_counters
        result = await self._read(
            sa.select(d.c.counter, sa.func.sum(d.c.value).label("total")).where(
                d.c.channel == channel, d.c.day >= first, d.c.day <= last)
            .group_by(d.c.counter))
        return {row.counter: int(row.total) for row in result}

    async def active_users(self, channel: str, day: date) -> list[Holder]:
        """Users with at least one daily counter on ``day`` (they did something that day), with
        their current balance (0 and the key as name without an account), by user key."""
        d = daily_counters
        result = await self._read(
            sa.select(d.c.user_key, sa.func.max(accounts.c.username).label("username"),
                      sa.func.max(accounts.c.balance).label("balance"))
            .select_from(d.outerjoin(accounts, sa.and_(accounts.c.channel == d.c.channel,
                                                       accounts.c.user_key == d.c.user_key)))
            .where(d.c.channel == channel, d.c.day == day)
            .group_by(d.c.user_key).order_by(d.c.user_key))
        return [Holder(row.user_key, row.username or row.user_key, int(row.balance or 0))
                for row in result]

    async def top_counter(self, channel: str, first: date, last: date, counter: str,
                          limit: int = 5) -> list[tuple[str, int]]:
        """(display name, total) of the highest sums of one daily counter over ``first`` ..
        ``last`` (inclusive), ties by user key."""
        d = daily_counters
        total = sa.func.sum(d.c.value).label("total")
        result = await self._read(
            sa.select(sa.func.max(sa.func.coalesce(accounts.c.username, d.c.user_key))
                      .label("name"), total)
            .select_from(d.outerjoin(accounts, sa.and_(accounts.c.channel == d.c.channel,
                                                       accounts.c.user_key == d.c.user_key)))
            .where(d.c.channel == channel, d.c.day >= first, d.c.day <= last,
                   d.c.counter == counter)
            .group_by(d.c.user_key).order_by(total.desc(), d.c.user_key).limit(limit))
        return [(row.name, int(row.total)) for row in result if int(row.total) > 0]

    async def kind_totals(self, channel: str, since: datetime,
                          until: datetime) -> dict[Kind, KindTotals]:
        """Postings of the channel with ``since <= at < until``, summed per kind: how many
        credits and debits and their sums (debits as a positive figure). Kinds without a
        posting are absent."""
        t = transactions
        credit = t.c.amount > 0
        result = await self._read(
            sa.select(t.c.kind,
                      sa.func.sum(sa.case((credit, 1), else_=0)).label("credits"),
                      sa.func.sum(sa.case((credit, t.c.amount), else_=0)).label("credited"),
                      sa.func.sum(sa.case((credit, 0), else_=1)).label("debits"),
                      sa.func.sum(sa.case((credit, 0), else_=-t.c.amount)).label("debited"))
            .where(t.c.channel == channel, t.c.at >= since, t.c.at < until)
            .group_by(t.c.kind))
        return {Kind(row.kind): KindTotals(int(row.credits), int(row.credited),
                                           int(row.debits), int(row.debited))
                for row in result}

    async def cap_state(self, channel: str, username: str, cap_key: str) -> CapState | None:
        """A cap's stored counter (an expired window is reported as stored)."""
        row = (await self._read(sa.select(caps.c.count, caps.c.window_start).where(
            caps.c.channel == channel, caps.c.user_key == _check_user(username)[0],
            caps.c.cap_key == cap_key))).first()
        if row is None:
            return None
        return CapState(int(row._mapping["count"]), row._mapping["window_start"])

    async def verify(self, channel: str | None = None) -> list[Mismatch]:
        """Accounts whose balance differs from Σ of their postings, or is negative (postings of
        users without an account count as an account with balance 0). Empty = all is well."""
        sums = sa.select(transactions.c.channel, transactions.c.user_key,
                         sa.func.sum(transactions.c.amount).label("total"))
        bals = sa.select(accounts.c.channel, accounts.c.user_key, accounts.c.balance)
        if channel is not None:
            sums = sums.where(transactions.c.channel == channel)
            bals = bals.where(accounts.c.channel == channel)
        async with self._shared.engine.connect() as conn:
            conn = await conn.execution_options(sqlite_begin="DEFERRED")
            totals = {(r.channel, r.user_key): int(r.total) for r in await conn.execute(
                sums.group_by(transactions.c.channel, transactions.c.user_key))}
            balances = {(r.channel, r.user_key): int(r.balance)
                        for r in await conn.execute(bals)}
        out = []
        for k in sorted(set(totals) | set(balances)):
            balance, total = balances.get(k, 0), totals.get(k, 0)
            if balance != total or balance < 0:
                out.append(Mismatch(k[0], k[1], balance, total))
        return out


class Ledger(LedgerView):
    """The money store the core owns; see the package docstring for the guarantees.
    ``start()`` before use. Plugins get :class:`LedgerView` s of it (:meth:`for_source`)."""

    def __init__(self, engine: AsyncEngine, clock: Clock, *, tz: tzinfo = UTC,
                 source: str = "core",
                 on_commit: Callable[[Sequence[Posting]], Awaitable[None]] | None = None,
                 max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._shared = _Shared(engine, clock, tz, on_commit, max_batch)
        self.source = _check_text("source", source, 100)

    def for_source(self, source: str) -> LedgerView:
        """A view sharing this ledger's writer that stamps ``source`` on its postings."""
        view = LedgerView.__new__(LedgerView)
        view._shared = self._shared
        view.source = _check_text("source", source, 100)
        return view

    @property
    def engine(self) -> AsyncEngine:
        return self._shared.engine

    def set_earn_gate(self, gate: EarnGate | None) -> None:
        """Install the gate consulted before earn-class credits (shared by every view)."""
        self._shared.gate = gate

    def set_write_policy(self, policy: WritePolicy | None) -> None:
        """Install the check every view's writes pass (posting types and counters per source)."""
        self._shared.policy = policy

    def set_commit_barrier(self, barrier: Callable[[], None] | None) -> None:
        """Install a function called right before each commit the ledger issues on its own
        SQLite fast path (outside SQLAlchemy; every other commit passes SQLAlchemy's ``commit``
        engine event). Raising there aborts the commit group: it rolls back and its callers get
        the error. For fault-injection tests (a process killed at a chosen commit)."""
        self._shared.commit_barrier = barrier

    @property
    def stats(self) -> tuple[int, int]:
        """(committed groups, jobs in them) since creation: jobs/groups is the grouping."""
        return self._shared.batches, self._shared.jobs

    # -- life cycle --

    async def start(self) -> None:
        """Create or upgrade the ledger's tables and start the writer (idempotent)."""
        shared = self._shared
        if shared.task is not None:
            return
        await migrate(shared.engine, LEDGER_COMPONENT, ledger_metadata, LEDGER_SCHEMA_VERSION)
        shared.closing = False
        shared.queue = asyncio.Queue()
        shared.task = asyncio.create_task(shared.run_writer(), name="ledger-writer")

    async def close(self) -> None:
        """Stop taking writes, let every write already queued finish and its caller get its
        result, then stop the writer and release its connection. Reads keep working."""
        shared = self._shared
        if shared.task is None or shared.queue is None:
            return
        shared.closing = True
        shared.queue.put_nowait(_STOP)
        task, shared.task = shared.task, None
        await task
