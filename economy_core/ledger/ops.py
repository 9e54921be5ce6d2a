"""Money operations as coroutines over a runner: credits, debits, escrows, caps, counters."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from itertools import starmap
from typing import Any, Literal

from .checks import (
    _check_channel,
    _check_escrow_id,
    _check_key,
    _check_move,
    _check_text,
    _check_user,
    _dumps,
    _effects,
    check_amount,
)
from .model import (
    ESCROW_CLOSED,
    MAX_AMOUNT,
    UNKNOWN_ESCROW,
    Account,
    Award,
    Escrow,
    Holder,
    Kind,
    TxResult,
)
from .work import (
    Op,
    _add,
    _balance_of,
    _check_awards,
    _count,
    _credit_awards,
    _gc_paused,
    _post,
    _replay,
    _replay_or_take,
    _store,
    _take,
    _Work,
)


def _credit_op(channel: str, username: str, amount: int, *, type: str = "earn",
              kind: Kind = Kind.EARN, reason: str = "", trigger_id: str | None = None,
              related_user: str | None = None, metadata: Mapping[str, Any] | None = None,
              key: str | None = None) -> Op[TxResult]:
    ukey, name, kind, key = _check_move(channel, username, amount, kind, key, type)
    meta = dict(metadata or {})

    async def op(w: _Work) -> TxResult:
        replay = await _replay(w, channel, key)
        if replay is not None:
            return replay
        balance, display = await _add(w, channel, ukey, name, amount, kind)
        postings = await _post(w, [(uuid.uuid4().hex, channel, ukey, display, amount, balance,
                                    type, kind, trigger_id, reason, related_user, meta)])
        await _count(w, channel, ukey, kind, amount)
        return await _store(w, channel, key, TxResult(True, tuple(postings), {ukey: balance}))
    return op


def _debit_op(channel: str, username: str, amount: int, *, type: str = "spend",
             kind: Kind = Kind.SPEND, reason: str = "", trigger_id: str | None = None,
             related_user: str | None = None, metadata: Mapping[str, Any] | None = None,
             key: str | None = None) -> Op[TxResult]:
    ukey, _, kind, key = _check_move(channel, username, amount, kind, key, type)
    meta = dict(metadata or {})

    async def op(w: _Work) -> TxResult:
        taken = await _replay_or_take(w, channel, key, ukey, amount, kind)
        if isinstance(taken, TxResult):
            return taken
        balance, display = taken
        postings = await _post(w, [(uuid.uuid4().hex, channel, ukey, display, -amount, balance,
                                    type, kind, trigger_id, reason, related_user, meta)])
        await _count(w, channel, ukey, kind, -amount)
        return await _store(w, channel, key, TxResult(True, tuple(postings), {ukey: balance}))
    return op


def _transfer_op(channel: str, sender: str, recipient: str, amount: int, *,
                send_type: str = "tip_send", receive_type: str = "tip_receive",
                kind: Kind = Kind.TRANSFER, reason: str = "",
                metadata: Mapping[str, Any] | None = None,
                key: str | None = None) -> Op[TxResult]:
    _check_channel(channel)
    check_amount(amount)
    skey, _ = _check_user(sender)
    rkey, rname = _check_user(recipient)
    if skey == rkey:
        raise ValueError("sender and recipient are the same user")
    kind, key = Kind(kind), _check_key(key)
    _check_text("posting type", send_type, 50)
    _check_text("posting type", receive_type, 50)
    meta = dict(metadata or {})

    async def op(w: _Work) -> TxResult:
        taken = await _replay_or_take(w, channel, key, skey, amount, kind)
        if isinstance(taken, TxResult):
            return taken
        sbal, sname = taken
        rbal, rdisplay = await _add(w, channel, rkey, rname, amount, kind)
        tx_id = uuid.uuid4().hex
        postings = await _post(w, [
            (tx_id, channel, skey, sname, -amount, sbal, send_type, kind, None, reason,
             rdisplay, meta),
            (tx_id, channel, rkey, rdisplay, amount, rbal, receive_type, kind, None, reason,
             sname, meta)])
        await _count(w, channel, skey, kind, -amount)
        await _count(w, channel, rkey, kind, amount)
        return await _store(w, channel, key, TxResult(True, tuple(postings),
                                                      {skey: sbal, rkey: rbal}))
    return op


def _credit_many_op(channel: str, awards: Iterable[Award], *,
                   key: str | None = None) -> Op[TxResult]:
    _check_channel(channel)
    checked = _check_awards(awards)
    key = _check_key(key)

    async def op(w: _Work) -> TxResult:
        replay = await _replay(w, channel, key)
        if replay is not None:
            return replay
        postings, balances = await _credit_awards(w, channel, checked, uuid.uuid4().hex, {})
        return await _store(w, channel, key, TxResult(True, tuple(postings), balances))
    return op


def _escrow_op(channel: str, username: str, amount: int, *, purpose: str, type: str = "escrow",
              kind: Kind = Kind.SPEND, reason: str = "",
              metadata: Mapping[str, Any] | None = None,
              key: str | None = None) -> Op[TxResult]:
    ukey, _, kind, key = _check_move(channel, username, amount, kind, key, type)
    _check_text("escrow purpose", purpose, 100)
    meta = dict(metadata or {})

    async def op(w: _Work) -> TxResult:
        taken = await _replay_or_take(w, channel, key, ukey, amount, kind)
        if isinstance(taken, TxResult):
            return taken
        balance, display = taken
        row = (await w.r.rows(w.sql.escrow_open, (
            channel, ukey, display, amount, purpose, w.source, type, kind.value, reason,
            w.now_db, _dumps(meta))))[0]
        held = w.sql.escrow(row)
        postings = await _post(w, [(uuid.uuid4().hex, channel, ukey, display, -amount, balance,
                                    type, kind, None, reason, None,
                                    {**meta, "escrow_id": held.id, "purpose": purpose})])
        await _count(w, channel, ukey, kind, -amount)
        return await _store(w, channel, key, TxResult(True, tuple(postings), {ukey: balance},
                                                      escrow=held))
    return op


async def _resolve(w: _Work, escrow_id: int, status: str,
                   key: str | None) -> tuple[Escrow | None, TxResult | None]:
    """Find and claim an escrow: (claimed escrow, None) or (None, the result to return)."""
    found = await w.r.rows(w.sql.escrow_get, (escrow_id,))
    if not found:
        return None, TxResult(False, (), {}, UNKNOWN_ESCROW)
    current = w.sql.escrow(found[0])
    replay = await _replay(w, current.channel, key)
    if replay is not None:
        return None, replay
    claimed = await w.r.rows(w.sql.escrow_claim, (status, w.now_db, escrow_id))
    if not claimed:
        return None, TxResult(False, (), {}, ESCROW_CLOSED, escrow=current)
    return w.sql.escrow(claimed[0]), None


def _release_op(escrow_id: int, *, payouts: Iterable[Award] = (), reason: str = "",
               key: str | None = None) -> Op[TxResult]:
    _check_escrow_id(escrow_id)
    checked = _check_awards(payouts)
    key = _check_key(key)

    async def op(w: _Work) -> TxResult:
        claimed, early = await _resolve(w, escrow_id, "released", key)
        if claimed is None:
            assert early is not None
            return early
        postings, balances = await _credit_awards(
            w, claimed.channel, checked, uuid.uuid4().hex,
            {"escrow_id": claimed.id, "purpose": claimed.purpose}, reason)
        return await _store(w, claimed.channel, key, TxResult(True, tuple(postings), balances,
                                                              escrow=claimed))
    return op


def _check_keep(amount: int | None, burn_type: str | None) -> None:
    """The inputs of a partial refund: ``amount`` an int >= 0 (None: all of it) and, with an
    amount, the posting type its burned remainder is recorded as."""
    if amount is None:
        return
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= MAX_AMOUNT:
        raise ValueError(f"a partial refund is an int between 0 and {MAX_AMOUNT}, not "
                         f"{amount!r}")
    _check_text("burn posting type", burn_type, 50)


def _refund_op(escrow_id: int, *, reason: str = "", key: str | None = None,
               amount: int | None = None, burn_type: str | None = None,
               burn_kind: Kind = Kind.SPEND, burn_reason: str = "") -> Op[TxResult]:
    _check_escrow_id(escrow_id)
    key = _check_key(key)
    _check_keep(amount, burn_type)
    burn_kind = Kind(burn_kind)

    async def op(w: _Work) -> TxResult:
        held, early = await _resolve(w, escrow_id, "refunded", key)
        if held is None:
            assert early is not None
            return early
        channel, ukey = held.channel, held.user_key
        burned = 0 if amount is None else held.amount - amount
        if burned < 0:
            raise ValueError(f"cannot refund {amount} of escrow {held.id}, which holds "
                             f"{held.amount}")
        meta: dict[str, Any] = {"escrow_id": held.id, "purpose": held.purpose}
        balance, display = await _add(w, channel, ukey, held.username, held.amount,
                                      Kind.CORRECTION)
        tx_id = uuid.uuid4().hex
        postings = await _post(w, [(tx_id, channel, ukey, display, held.amount,
                                    balance, "refund", Kind.CORRECTION, None,
                                    reason or f"refund: {held.purpose}", None,
                                    {**meta, "burned": burned} if burned else meta)])
        column, counter = _effects(held.kind, -held.amount)
        if column is not None and counter is not None:
            n = held.amount
            await w.r.run(w.sql.reverse[column], (n, n, w.now_db, channel, ukey))
            day = w.sql.day(held.created_at.astimezone(w.tz).date())
            await w.r.run(w.sql.daily_reverse, (n, n, channel, ukey, day, counter))
        if burned:
            taken = await _take(w, channel, ukey, burned, burn_kind)
            assert taken is not None  # the refund just credited more than this
            balance = taken[0]
            assert burn_type is not None
            postings += await _post(w, [(tx_id, channel, ukey, display, -burned, balance,
                                         burn_type, burn_kind, None,
                                         burn_reason or f"burned: {held.purpose}", None,
                                         {**meta, "refunded": amount})])
            await _count(w, channel, ukey, burn_kind, -burned)
        return await _store(w, channel, key, TxResult(True, tuple(postings), {ukey: balance},
                                                      escrow=held))
    return op


def _check_counter(counter: str, by: int) -> None:
    _check_text("counter", counter, 100)
    if isinstance(by, bool) or not isinstance(by, int):
        raise ValueError(f"counter increments must be int, not {by!r}")


def _bump_daily_op(channel: str, username: str, day: date, counter: str,
                  by: int = 1) -> Op[int]:
    _check_channel(channel)
    ukey, _ = _check_user(username)
    _check_counter(counter, by)

    async def op(w: _Work) -> int:
        found = await w.r.rows(w.sql.daily_one, (channel, ukey, w.sql.day(day), counter, by))
        return int(found[0][0])
    return op


def _bump_daily_many_op(channel: str, day: date, counter: str, usernames: Iterable[str],
                       by: int = 1) -> Op[None]:
    _check_channel(channel)
    _check_counter(counter, by)
    totals: dict[str, int] = {}
    for name in usernames:
        ukey, _ = _check_user(name)
        totals[ukey] = totals.get(ukey, 0) + by

    async def op(w: _Work) -> None:
        d = w.sql.day(day)
        await w.r.run_many(w.sql.daily, [(channel, k, d, counter, v) for k, v in totals.items()])
    return op


def _take_cap_op(channel: str, username: str, cap_key: str, max_count: int,
                window: timedelta | Literal["day"]) -> Op[bool]:
    _check_channel(channel)
    ukey, _ = _check_user(username)
    _check_text("cap key", cap_key, 200)
    if isinstance(max_count, bool) or not isinstance(max_count, int) or max_count < 1:
        raise ValueError("max_count must be an int >= 1")
    if window != "day" and (not isinstance(window, timedelta) or window <= timedelta(0)):
        raise ValueError("window must be a positive timedelta or 'day'")

    async def op(w: _Work) -> bool:
        where = (channel, ukey, cap_key)
        found = await w.r.rows(w.sql.cap_get, where)
        if not found:
            await w.r.run(w.sql.cap_new, (*where, w.now_db))
            return True
        count, start = int(found[0][0]), w.sql.read_ts(found[0][1])
        if window == "day":
            expired = start.astimezone(w.tz).date() != w.today
        else:
            expired = w.now - start >= window
        if expired:
            await w.r.run(w.sql.cap_reset, (w.now_db, *where))
            return True
        if count >= max_count:
            return False
        await w.r.run(w.sql.cap_inc, where)
        return True
    return op


def _return_cap_op(channel: str, username: str, cap_key: str) -> Op[None]:
    _check_channel(channel)
    ukey, _ = _check_user(username)

    async def op(w: _Work) -> None:
        await w.r.run(w.sql.cap_return, (channel, ukey, cap_key))
    return op


def _balance_op(channel: str, username: str) -> Op[int]:
    ukey, _ = _check_user(username)

    async def op(w: _Work) -> int:
        return await _balance_of(w, channel, ukey)
    return op


def _account_op(channel: str, username: str) -> Op[Account | None]:
    ukey, _ = _check_user(username)

    async def op(w: _Work) -> Account | None:
        found = await w.r.rows(w.sql.account, (channel, ukey))
        if not found:
            return None
        r = found[0]
        return Account(channel=r[0], user_key=r[1], username=r[2], balance=int(r[3]),
                       lifetime_earned=int(r[4]), lifetime_spent=int(r[5]),
                       gambled_in=int(r[6]), gambled_out=int(r[7]),
                       created_at=w.sql.read_ts(r[8]), updated_at=w.sql.read_ts(r[9]))
    return op


def _holders_op(channel: str, minimum: int) -> Op[list[Holder]]:
    _check_channel(channel)
    if isinstance(minimum, bool) or not isinstance(minimum, int):
        raise ValueError(f"minimum must be an int, not {minimum!r}")

    async def op(w: _Work) -> list[Holder]:
        with _gc_paused():  # usually many rows
            rows = await w.r.rows(w.sql.holders, (channel, minimum))
            return list(starmap(Holder, rows))  # user_key, username, balance (an int)
    return op
