"""One operation's context and the shared steps money operations are made of."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Coroutine, Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any, TypeVar

from .checks import (
    _KIND_VALUES,
    _check_text,
    _check_user,
    _chunks,
    _deltas,
    _dumps,
    _effects,
    _result_from_json,
    _result_to_json,
    check_amount,
)
from .model import INSUFFICIENT_FUNDS, Award, Kind, Posting, TxResult
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


async def _post(w: _Work, specs: list[_Spec]) -> list[Posting]:
    """Insert postings (all of one tx_id); return them in order."""
    source, now_db = w.source, w.now_db
    kinds = _KIND_VALUES
    params = [(s[0], s[1], s[2], s[3], s[4], s[5], s[6], kinds[s[7]], source, s[8], s[9], s[10],
               _dumps(s[11]), now_db) for s in specs]
    if len(params) == 1:
        ids = [int((await w.r.rows(w.sql.post_one, params[0]))[0][0])]
    else:
        await w.r.run_many(w.sql.post, params)
        ids = [int(r[0]) for r in await w.r.rows(w.sql.post_ids, (specs[0][0],))][-len(specs):]
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


_Checked = tuple[Award, str, str, Kind]


def _check_awards(awards: Iterable[Award]) -> list[_Checked]:
    checked = []
    for award in awards:
        if not isinstance(award, Award):
            raise ValueError(f"expected an Award, not {award!r}")
        check_amount(award.amount)
        ukey, name = _check_user(award.username)
        _check_text("posting type", award.type, 50)
        checked.append((award, ukey, name, Kind(award.kind)))
    return checked


async def _credit_awards(w: _Work, channel: str, checked: list[_Checked], tx_id: str,
                         extra_meta: Mapping[str, Any], reason: str = ""
                         ) -> tuple[list[Posting], dict[str, int]]:
    """Credit many awards with bulk statements; (postings, user key → final balance)."""
    if not checked:
        return [], {}
    per_user: dict[str, list[Any]] = {}  # key -> [name, total, earned, gambled out]
    per_counter: dict[tuple[str, str], int] = {}
    for award, ukey, name, kind in checked:
        entry = per_user.get(ukey)
        if entry is None:
            entry = per_user[ukey] = [name, 0, 0, 0]
        entry[1] += award.amount
        column, counter = _effects(kind, award.amount)
        if column == "lifetime_earned":
            entry[2] += award.amount
        elif column == "gambled_out":
            entry[3] += award.amount
        if counter is not None:
            per_counter[(ukey, counter)] = per_counter.get((ukey, counter), 0) + award.amount
    now_db = w.now_db
    await w.r.run_many(w.sql.credit_many, [
        (channel, k, e[0], e[1], e[2], 0, 0, e[3], now_db, now_db) for k, e in per_user.items()])
    finals: dict[str, tuple[int, str]] = {}
    keys = list(per_user)
    if w.sql.pg:  # one array parameter: one plan, one round trip
        found = await w.r.rows(w.sql.accounts_any, (channel, keys))
    else:
        found = [row for part in _chunks(keys)
                 for row in await w.r.rows(w.sql.accounts_in(len(part)), (channel, *part))]
    for row in found:
        finals[row[0]] = (int(row[1]), row[2])
    running = {k: finals[k][0] - per_user[k][1] for k in keys}
    specs: list[_Spec] = []
    for award, ukey, _, kind in checked:
        running[ukey] += award.amount
        meta: Mapping[str, Any] = award.metadata
        if extra_meta:
            meta = {**meta, **extra_meta}
        specs.append((tx_id, channel, ukey, finals[ukey][1], award.amount, running[ukey],
                      award.type, kind, award.trigger_id, award.reason or reason,
                      award.related_user, meta))
    postings = await _post(w, specs)
    today_db = w.today_db
    await w.r.run_many(w.sql.daily, [(channel, k, today_db, c, v)
                                     for (k, c), v in per_counter.items()])
    return postings, {k: finals[k][0] for k in keys}


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
