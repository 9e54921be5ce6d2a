"""One operation's context and the shared steps money operations are made of."""

from __future__ import annotations

import contextlib
import gc
import json
import sqlite3
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from datetime import datetime, tzinfo
from typing import Any, NamedTuple, TypeVar

from ..db import chunks
from .checks import (
    _KIND_VALUES,
    _check_text,
    _check_user,
    _deltas,
    _dumps,
    _effects,
    _result_from_json,
    _result_to_json,
    check_amount,
)
from .model import INSUFFICIENT_FUNDS, MAX_AMOUNT, Award, Kind, Posting, TxResult
from .sql import _drive, _Runner, _Sql

T = TypeVar("T")


# -- operations -------------------------------------------------------------------------------


class _Work:
    """One operation's context: runner, dialect, instant, source; collects its postings."""

    def __init__(self, runner: _Runner, sql: _Sql, now: datetime, tz: tzinfo,
                 source: str) -> None:
        self.r = runner
        self.sql = sql
        self.now = now
        self.tz = tz
        self.today = now.astimezone(tz).date()
        self.now_db = sql.ts(now)
        self.today_db = sql.day(self.today)
        self.source = source
        self.postings: list[Posting] = []


Op = Callable[[_Work], Coroutine[Any, Any, T]]

_Spec = tuple[str, str, str, str, int, int, str, Kind, str | None, str, str | None,
              Mapping[str, Any]]
"""A posting before insertion: tx_id, channel, user key, display name, amount, balance after,
type, kind, trigger_id, reason, related_user, metadata."""


async def _replay(w: _Work, channel: str, key: str | None) -> TxResult | None:
    if key is None:
        return None
    found = await w.r.rows(w.sql.key_get, (channel, key))
    return _result_from_json(w.sql.read_json(found[0][0])) if found else None


async def _store(w: _Work, channel: str, key: str | None, result: TxResult) -> TxResult:
    if key is not None and result.ok:
        await w.r.run(w.sql.key_put, (channel, key, json.dumps(_result_to_json(result)),
                                      w.now_db))
    return result


async def _insert_postings(w: _Work, params: list[tuple[Any, ...]]) -> list[int]:
    """Insert posting rows (all of one tx_id, first column); return their ids in order."""
    if len(params) == 1:
        return [int((await w.r.rows(w.sql.post_one, params[0]))[0][0])]
    await w.r.run_many(w.sql.post, params)
    found = await w.r.rows(w.sql.post_ids, (params[0][0],))
    return [int(r[0]) for r in found][-len(params):]


async def _post(w: _Work, specs: list[_Spec]) -> list[Posting]:
    """Insert postings (all of one tx_id); return them in order."""
    source, now_db = w.source, w.now_db
    kinds = _KIND_VALUES
    params = [(s[0], s[1], s[2], s[3], s[4], s[5], s[6], kinds[s[7]], source, s[8], s[9], s[10],
               _dumps(s[11]), now_db) for s in specs]
    ids = await _insert_postings(w, params)
    postings = [Posting(i, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], source, s[8], s[9],
                        s[10], dict(s[11]), w.now) for i, s in zip(ids, specs, strict=True)]
    w.postings.extend(postings)
    return postings


async def _add(w: _Work, channel: str, ukey: str, name: str, amount: int,
               kind: Kind) -> tuple[int, str]:
    """Credit an account (created on first need); returns (balance after, display name)."""
    row = (await w.r.rows(w.sql.credit, (channel, ukey, name, amount, *_deltas(kind, amount),
                                         w.now_db, w.now_db)))[0]
    return int(row[0]), row[1]


async def _take(w: _Work, channel: str, ukey: str, amount: int,
                kind: Kind) -> tuple[int, str] | None:
    """Debit-or-fail; (balance after, display name), or None when the balance is short."""
    found = await w.r.rows(w.sql.debit, (amount, *_deltas(kind, -amount), w.now_db, channel,
                                         ukey, amount))
    return (int(found[0][0]), found[0][1]) if found else None


async def _replay_or_take(w: _Work, channel: str, key: str | None, ukey: str, amount: int,
                          kind: Kind) -> TxResult | tuple[int, str]:
    """The start of every debit: a replayed key's stored result, the short-balance result, or
    (balance after, display name) when the amount was taken."""
    replay = await _replay(w, channel, key)
    if replay is not None:
        return replay
    taken = await _take(w, channel, ukey, amount, kind)
    return await _short(w, channel, ukey) if taken is None else taken


async def _balance_of(w: _Work, channel: str, ukey: str) -> int:
    found = await w.r.rows(w.sql.balance, (channel, ukey))
    return int(found[0][0]) if found else 0


async def _count(w: _Work, channel: str, ukey: str, kind: Kind, amount: int) -> None:
    _, counter = _effects(kind, amount)
    if counter is not None:
        await w.r.run(w.sql.daily, (channel, ukey, w.today_db, counter, abs(amount)))


async def _short(w: _Work, channel: str, ukey: str) -> TxResult:
    return TxResult(False, (), {ukey: await _balance_of(w, channel, ukey)}, INSUFFICIENT_FUNDS)


class _Checked(NamedTuple):
    """Validated awards as parallel lists (no per-award tuple: at 100,000 awards every extra
    tracked object is garbage-collector work)."""

    awards: list[Award]
    keys: list[str]
    names: list[str]
    kinds: list[Kind]


def _check_awards(awards: Iterable[Award]) -> _Checked:
    """Validate every award as a single credit is validated (an Award, its amount, user name
    and posting type, its kind) and key its user; ValueError on the first bad one. Cheap in
    bulk: a posting type is checked once per distinct value, and the common cases (an exact
    int, a Kind member) take no call."""
    checked = _Checked([], [], [], [])
    add_award, add_key = checked.awards.append, checked.keys.append
    add_name, add_kind = checked.names.append, checked.kinds.append
    types: set[str] = set()
    for award in awards:
        if not isinstance(award, Award):
            raise ValueError(f"expected an Award, not {award!r}")
        amount = award.amount
        if amount.__class__ is not int or not 0 < amount <= MAX_AMOUNT:
            check_amount(amount)  # raises unless an int subclass in range (not bool)
        ukey, name = _check_user(award.username)
        posting_type = award.type
        if posting_type.__class__ is not str or posting_type not in types:
            _check_text("posting type", posting_type, 50)
            types.add(posting_type)
        kind = award.kind
        add_award(award)
        add_key(ukey)
        add_name(name)
        add_kind(kind if kind.__class__ is Kind else Kind(kind))
    return checked


_CREDIT_EFFECTS = {k: _effects(k, 1) for k in Kind}
"""(account counter column, daily counter) of a credit, per kind."""


BULK_ROWS = 1_000
"""From this many rows on, a bulk path pauses the automatic garbage collector (see
:func:`_gc_paused`)."""


@contextlib.contextmanager
def _gc_paused(rows: int = BULK_ROWS) -> Iterator[None]:
    """Pause CPython's automatic cyclic garbage collection while a bulk path builds ``rows``
    (≥ :data:`BULK_ROWS`) rows' worth of objects, and restore it afterwards.

    Why: the collector runs every few hundred container allocations, and each survivor is
    promoted until full collections walk the whole heap. Building 100,000 postings or holders
    triggers several full collections that find nothing (none of these objects form cycles)
    and cost a fifth of a nightly job. Memory is still freed by reference counting while
    paused; cycles made meanwhile are collected once collection resumes. The pause is
    process-wide and lasts one operation (well under a second at 100,000 rows); collection
    that was off already (the application's choice) stays off."""
    if rows < BULK_ROWS or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def _credit_awards(w: _Work, channel: str, checked: _Checked, tx_id: str,
                         extra_meta: Mapping[str, Any], reason: str = ""
                         ) -> tuple[list[Posting], dict[str, int]]:
    """Credit many awards with bulk statements; (postings, user key → final balance).

    One posting per award, in award order; each account is updated once with its total and
    its counters (lifetime_earned for EARN, gambled_out for GAMBLE), daily counters once per
    (user, counter); balances in order of first appearance."""
    if not checked.awards:
        return [], {}
    with _gc_paused(len(checked.awards)):
        return await _bulk_credit(w, channel, checked, tx_id, extra_meta, reason)


async def _bulk_credit(w: _Work, channel: str, checked: _Checked, tx_id: str,
                       extra_meta: Mapping[str, Any], reason: str
                       ) -> tuple[list[Posting], dict[str, int]]:
    awards, keys, kinds = checked.awards, checked.keys, checked.kinds
    totals: dict[str, int] = {}
    shown: dict[str, str] = {}  # the name an account is created with: its first award's
    for award, ukey, name in zip(awards, keys, checked.names, strict=True):
        if ukey in totals:
            totals[ukey] += award.amount
        else:
            totals[ukey] = award.amount
            shown[ukey] = name
    by_kind: dict[Kind, dict[str, int]]  # kind → user key → amount credited
    if kinds.count(kinds[0]) == len(kinds):  # the usual batch: one kind
        by_kind = {kinds[0]: totals}
    else:
        by_kind = {}
        for award, ukey, kind in zip(awards, keys, kinds, strict=True):
            per_user = by_kind.setdefault(kind, {})
            per_user[ukey] = per_user.get(ukey, 0) + award.amount
    per_column: dict[str, dict[str, int]] = {}  # account counter → user key → amount
    per_counter: dict[str, dict[str, int]] = {}  # daily counter → user key → amount
    for kind, per_user in by_kind.items():  # kinds move distinct counters
        column, counter = _CREDIT_EFFECTS[kind]
        if column is not None:
            per_column[column] = per_user
        if counter is not None:
            per_counter[counter] = per_user
    earned, won = per_column.get("lifetime_earned", {}), per_column.get("gambled_out", {})
    now_db = w.now_db
    await w.r.run_many(w.sql.credit_many, [
        (channel, k, shown[k], v, earned.get(k, 0), 0, 0, won.get(k, 0), now_db, now_db)
        for k, v in totals.items()])
    users = list(totals)
    if w.sql.pg:  # one array parameter: one plan, one round trip
        found = await w.r.rows(w.sql.accounts_any, (channel, users))
    else:
        found = [row for part in chunks(users)
                 for row in await w.r.rows(w.sql.accounts_in(len(part)), (channel, *part))]
    finals = {row[0]: int(row[1]) for row in found}
    display = {row[0]: row[2] for row in found}
    running = {k: finals[k] - v for k, v in totals.items()}
    source, values = w.source, _KIND_VALUES
    params: list[tuple[Any, ...]] = []  # atomic values only: never garbage-collector work
    metas: list[Mapping[str, Any]] = []
    for award, ukey, kind in zip(awards, keys, kinds, strict=True):
        balance = running[ukey] = running[ukey] + award.amount
        meta: Mapping[str, Any] = award.metadata
        if extra_meta:
            meta = {**meta, **extra_meta}
        metas.append(meta)
        params.append((tx_id, channel, ukey, display[ukey], award.amount, balance, award.type,
                       values[kind], source, award.trigger_id, award.reason or reason,
                       award.related_user, _dumps(meta), now_db))
    ids = await _insert_postings(w, params)
    now = w.now
    postings = [Posting(i, tx_id, channel, p[2], p[3], p[4], p[5], p[6], kind, source, p[9],
                        p[10], p[11], dict(meta), now)
                for i, p, kind, meta in zip(ids, params, kinds, metas, strict=True)]
    w.postings.extend(postings)
    today_db = w.today_db
    await w.r.run_many(w.sql.daily, [(channel, k, today_db, c, v)
                                     for c, per_user in per_counter.items()
                                     for k, v in per_user.items()])
    return postings, {k: finals[k] for k in totals}  # in order of first appearance


def _sync_job(db: sqlite3.Connection, op: Op[T], work: _Work, savepoint: bool) -> T:
    """Run one operation in the database thread, in its own savepoint when asked."""
    if not savepoint:
        return _drive(op(work))
    db.execute("SAVEPOINT ledger_job")
    try:
        value = _drive(op(work))
    except BaseException:
        db.execute("ROLLBACK TO SAVEPOINT ledger_job")
        db.execute("RELEASE SAVEPOINT ledger_job")
        raise
    db.execute("RELEASE SAVEPOINT ledger_job")
    return value
