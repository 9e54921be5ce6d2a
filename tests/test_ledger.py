"""The ledger on a real database (SQLite file; PostgreSQL too when configured)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from economy_core.clock import FakeClock
from economy_core.ledger import (
    Award,
    Kind,
    Ledger,
    LedgerError,
    LedgerTx,
    Posting,
    accounts,
    daily_counters,
    escrows,
    idempotency,
    transactions,
)

CH = "testchan"
TIP = {"send_type": "tip_send", "receive_type": "tip_receive"}
TODAY = date(2026, 3, 3)


async def count_rows(engine: AsyncEngine, table: sa.Table) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table)))
                   .scalar_one())


async def total_money(ledger: Ledger, channel: str = CH) -> int:
    return await ledger.circulation(channel)


# -- basics ---------------------------------------------------------------------------------


async def test_credit_creates_account_with_first_seen_casing(ledger_book: Ledger,
                                                             ledger_clock: FakeClock) -> None:
    first = await ledger_book.credit(CH, " Alice ", 100, trigger_id="t.1", reason="hello",
                                     metadata={"x": 1})
    assert first.ok and first.balance == 100 and first.balances == {"alice": 100}
    (p,) = first.postings
    assert (p.username, p.user_key, p.amount, p.balance_after, p.type, p.kind) == (
        "Alice", "alice", 100, 100, "earn", Kind.EARN)
    assert (p.source, p.trigger_id, p.reason, p.metadata, p.at) == (
        "core", "t.1", "hello", {"x": 1}, ledger_clock.now())
    second = await ledger_book.credit(CH, "ALICE", 5)
    assert second.balance == 105 and second.postings[0].username == "Alice"
    account = await ledger_book.account(CH, "alice")
    assert account is not None
    assert (account.username, account.balance, account.lifetime_earned) == ("Alice", 105, 105)
    assert account.created_at == ledger_clock.now()
    assert await ledger_book.balance(CH, "aLiCe") == 105
    assert await ledger_book.balance("otherchan", "alice") == 0
    history = await ledger_book.history(CH, "alice")
    assert [h.amount for h in history] == [5, 100]  # newest first
    assert history[1] == p
    assert await ledger_book.verify() == []


async def test_debit_and_insufficient_funds_write_nothing(ledger_book: Ledger,
                                                          ledger_engine: AsyncEngine) -> None:
    await ledger_book.credit(CH, "alice", 100)
    spent = await ledger_book.debit(CH, "Alice", 30, reason="a thing")
    assert spent.ok and spent.balance == 70 and spent.postings[0].amount == -30
    assert spent.postings[0].type == "spend" and spent.postings[0].balance_after == 70
    short = await ledger_book.debit(CH, "alice", 71)
    assert (short.ok, short.error, short.balance, short.postings) == (
        False, "insufficient_funds", 70, ())
    nobody = await ledger_book.debit(CH, "ghost", 1)
    assert (nobody.ok, nobody.balance) == (False, 0)
    assert await ledger_book.account(CH, "ghost") is None
    assert await count_rows(ledger_engine, transactions) == 2
    assert await ledger_book.balance(CH, "alice") == 70
    exact = await ledger_book.debit(CH, "alice", 70)
    assert exact.ok and exact.balance == 0
    assert await ledger_book.verify() == []


async def test_transfer_moves_both_or_nothing(ledger_book: Ledger) -> None:
    await ledger_book.credit(CH, "Alice", 100)
    result = await ledger_book.transfer(CH, "alice", "Bob", 40, reason="tip", **TIP)
    assert result.ok and list(result.balances.items()) == [("alice", 60), ("bob", 40)]
    send, receive = result.postings
    assert (send.amount, send.type, send.related_user, send.kind) == (
        -40, "tip_send", "Bob", Kind.TRANSFER)
    assert (receive.amount, receive.type, receive.related_user) == (40, "tip_receive", "Alice")
    assert send.tx_id == receive.tx_id
    assert [p.id for p in await ledger_book.postings(send.tx_id)] == [send.id, receive.id]
    short = await ledger_book.transfer(CH, "bob", "alice", 41, **TIP)
    assert (short.ok, short.error, short.balance) == (False, "insufficient_funds", 40)
    assert await ledger_book.balance(CH, "alice") == 60
    with pytest.raises(ValueError, match="same user"):
        await ledger_book.transfer(CH, "Alice", " alice", 1, **TIP)
    bob = await ledger_book.account(CH, "bob")
    assert bob is not None and (bob.lifetime_earned, bob.lifetime_spent) == (0, 0)
    assert await ledger_book.daily(CH, "bob", TODAY) == {}
    assert await ledger_book.verify() == []


async def test_fifty_concurrent_debits_never_overdraw(ledger_book: Ledger) -> None:
    await ledger_book.credit(CH, "alice", 1000)
    results = await asyncio.gather(*(ledger_book.debit(CH, "alice", 30) for _ in range(50)))
    assert sum(r.ok for r in results) == 33
    assert all(r.error == "insufficient_funds" for r in results if not r.ok)
    assert all(r.balance >= 0 for r in results)
    assert sorted(r.balance for r in results if r.ok) == list(range(10, 1000, 30))
    assert await ledger_book.balance(CH, "alice") == 10
    assert await ledger_book.verify() == []


async def test_two_ledgers_on_one_database_never_overdraw(ledger_engine_url: str,
                                                          ledger_clock: FakeClock) -> None:
    from economy_core.db import make_engine

    engines = [make_engine(ledger_engine_url) for _ in range(2)]
    books = [Ledger(e, ledger_clock) for e in engines]
    for book in books:
        await book.start()
    try:
        await books[0].credit(CH, "alice", 500)
        results = await asyncio.gather(*(books[i % 2].debit(CH, "alice", 7) for i in range(100)))
        assert sum(r.ok for r in results) == 500 // 7
        assert await books[1].balance(CH, "alice") == 500 % 7
        assert await books[0].verify() == []
    finally:
        for book, engine in zip(books, engines, strict=True):
            await book.close()
            await engine.dispose()


# -- idempotency ----------------------------------------------------------------------------


async def test_idempotent_replay_moves_nothing(ledger_book: Ledger,
                                               ledger_engine: AsyncEngine) -> None:
    first = await ledger_book.credit(CH, "alice", 100, key="welcome:alice")
    again = await ledger_book.credit(CH, "alice", 100, key="welcome:alice")
    assert not first.replayed and again.replayed and again.ok
    assert again.postings == first.postings and again.balances == first.balances
    assert await ledger_book.balance(CH, "alice") == 100
    assert await count_rows(ledger_engine, transactions) == 1
    # Same key in another channel is another operation.
    other = await ledger_book.credit("otherchan", "alice", 100, key="welcome:alice")
    assert not other.replayed
    # Concurrent duplicates: exactly one moves money.
    results = await asyncio.gather(*(
        ledger_book.transfer(CH, "alice", "bob", 10, key="tip-1", **TIP) for _ in range(10)))
    assert sum(not r.replayed for r in results) == 1
    assert await ledger_book.balance(CH, "bob") == 10
    assert await ledger_book.verify() == []


async def test_failed_operation_with_key_stores_nothing(ledger_book: Ledger,
                                                        ledger_engine: AsyncEngine) -> None:
    short = await ledger_book.debit(CH, "alice", 50, key="buy:1")
    assert not short.ok and not short.replayed
    assert await count_rows(ledger_engine, idempotency) == 0
    await ledger_book.credit(CH, "alice", 60)
    retry = await ledger_book.debit(CH, "alice", 50, key="buy:1")
    assert retry.ok and not retry.replayed and retry.balance == 10
    replay = await ledger_book.debit(CH, "alice", 50, key="buy:1")
    assert replay.replayed and replay.balance == 10
    assert await ledger_book.balance(CH, "alice") == 10


# -- escrow ---------------------------------------------------------------------------------


async def test_escrow_release_pays_out_once(ledger_book: Ledger) -> None:
    await ledger_book.credit(CH, "alice", 100)
    held = await ledger_book.escrow(CH, "alice", 60, purpose="challenge", kind=Kind.GAMBLE,
                                    type="wager", metadata={"vs": "bob"})
    assert held.ok and held.escrow is not None and held.balance == 40
    escrow = held.escrow
    assert (escrow.status, escrow.amount, escrow.purpose, escrow.kind, escrow.source) == (
        "open", 60, "challenge", Kind.GAMBLE, "core")
    assert held.postings[0].metadata == {"vs": "bob", "escrow_id": escrow.id,
                                         "purpose": "challenge"}
    assert await ledger_book.open_escrows(CH) == [escrow]
    assert await ledger_book.open_escrows(purpose="other") == []
    released = await ledger_book.release(escrow.id, payouts=[
        Award("Bob", 100, type="gamble_win", kind=Kind.GAMBLE), Award("alice", 20)],
        reason="challenge won")
    assert released.ok and released.escrow is not None and released.escrow.status == "released"
    assert released.balances == {"bob": 100, "alice": 60}
    assert [p.reason for p in released.postings] == ["challenge won"] * 2
    assert released.postings[0].metadata == {"escrow_id": escrow.id, "purpose": "challenge"}
    again = await ledger_book.release(escrow.id, payouts=[Award("bob", 100)])
    assert (again.ok, again.error) == (False, "escrow_closed")
    refund = await ledger_book.refund(escrow.id)
    assert (refund.ok, refund.error) == (False, "escrow_closed")
    missing = await ledger_book.refund(999_999)
    assert (missing.ok, missing.error) == (False, "unknown_escrow")
    assert await ledger_book.balance(CH, "bob") == 100
    assert await ledger_book.open_escrows() == []
    stored = await ledger_book.escrow_by_id(escrow.id)
    assert stored is not None and stored.status == "released" and stored.resolved_at is not None
    alice = await ledger_book.account(CH, "alice")
    assert alice is not None and (alice.gambled_in, alice.lifetime_earned) == (60, 120)
    assert await ledger_book.verify() == []


async def test_escrow_needs_funds(ledger_book: Ledger) -> None:
    await ledger_book.credit(CH, "alice", 10)
    held = await ledger_book.escrow(CH, "alice", 11, purpose="heist")
    assert (held.ok, held.error, held.escrow, held.balance) == (False, "insufficient_funds",
                                                                 None, 10)
    assert await ledger_book.open_escrows() == []


async def test_refund_reverses_the_escrow_counter(ledger_book: Ledger,
                                                  ledger_clock: FakeClock) -> None:
    await ledger_book.credit(CH, "alice", 500)
    spend = await ledger_book.escrow(CH, "alice", 100, purpose="queue")
    wager = await ledger_book.escrow(CH, "alice", 50, purpose="heist", kind=Kind.GAMBLE)
    assert await ledger_book.daily(CH, "alice", TODAY) == {
        "z_earned": 500, "z_spent": 100, "z_gambled_in": 50}
    await ledger_clock.advance(days=1)  # refunds reverse the day the escrow was taken
    assert spend.escrow is not None and wager.escrow is not None
    back = await ledger_book.refund(spend.escrow.id, reason="not added")
    assert back.ok and back.balance == 450 and back.escrow is not None
    (p,) = back.postings
    assert (p.type, p.kind, p.amount, p.reason) == ("refund", Kind.CORRECTION, 100, "not added")
    await ledger_book.refund(wager.escrow.id)
    alice = await ledger_book.account(CH, "alice")
    assert alice is not None
    assert (alice.balance, alice.lifetime_spent, alice.gambled_in, alice.lifetime_earned) == (
        500, 0, 0, 500)
    assert await ledger_book.daily(CH, "alice", TODAY) == {
        "z_earned": 500, "z_spent": 0, "z_gambled_in": 0}
    assert await ledger_book.daily(CH, "alice", TODAY + timedelta(days=1)) == {}
    assert await ledger_book.verify() == []


async def test_refund_counter_reversal_floors_at_zero(ledger_book: Ledger,
                                                      ledger_engine: AsyncEngine) -> None:
    await ledger_book.credit(CH, "alice", 100)
    held = await ledger_book.escrow(CH, "alice", 80, purpose="queue")
    assert held.escrow is not None
    async with ledger_engine.begin() as conn:  # as if an older counter had been reset
        await conn.execute(accounts.update().values(lifetime_spent=30))
        await conn.execute(daily_counters.update().values(value=5))
    await ledger_book.refund(held.escrow.id)
    alice = await ledger_book.account(CH, "alice")
    assert alice is not None and alice.lifetime_spent == 0
    assert await ledger_book.daily(CH, "alice", TODAY) == {"z_earned": 5, "z_spent": 0}


async def test_escrows_survive_a_restart(ledger_engine: AsyncEngine,
                                         ledger_clock: FakeClock) -> None:
    first = Ledger(ledger_engine, ledger_clock)
    await first.start()
    await first.credit(CH, "alice", 100)
    held = await first.for_source("heist").escrow(CH, "alice", 70, purpose="heist")
    assert held.escrow is not None
    await first.close()
    with pytest.raises(LedgerError):
        await first.credit(CH, "alice", 1)

    second = Ledger(ledger_engine, ledger_clock)
    await second.start()
    try:
        (still,) = await second.open_escrows(CH, "heist")
        assert still == held.escrow and still.source == "heist"
        results = await asyncio.gather(second.refund(still.id), second.refund(still.id))
        assert sorted(r.ok for r in results) == [False, True]
        assert await second.balance(CH, "alice") == 100
        assert await second.open_escrows() == []
        assert await second.verify() == []
    finally:
        await second.close()


async def test_release_racing_refund_exactly_one_wins(ledger_engine_url: str,
                                                      ledger_clock: FakeClock) -> None:
    from economy_core.db import make_engine

    engines = [make_engine(ledger_engine_url) for _ in range(2)]
    books = [Ledger(e, ledger_clock) for e in engines]
    for book in books:
        await book.start()
    try:
        await books[0].credit(CH, "alice", 1000)
        ids = []
        for _ in range(10):
            held = await books[0].escrow(CH, "alice", 100, purpose="challenge")
            assert held.escrow is not None
            ids.append(held.escrow.id)
        # Each escrow is released by one writer and refunded by the other, all at once.
        races = [books[i % 2].release(eid, payouts=[Award("bob", 200)]) for i, eid in
                 enumerate(ids)] + [books[(i + 1) % 2].refund(eid) for i, eid in enumerate(ids)]
        results = await asyncio.gather(*races)
        for i in range(len(ids)):
            release, refund = results[i], results[len(ids) + i]
            assert release.ok != refund.ok
            loser = refund if release.ok else release
            assert loser.error == "escrow_closed" and loser.postings == ()
        released = sum(r.ok for r in results[:len(ids)])
        refunded = sum(r.ok for r in results[len(ids):])
        assert await books[0].balance(CH, "bob") == 200 * released
        assert await books[0].balance(CH, "alice") == 100 * refunded
        assert await books[0].open_escrows() == []
        assert await books[0].verify() == []
    finally:
        for book, engine in zip(books, engines, strict=True):
            await book.close()
            await engine.dispose()


# -- credit_many ----------------------------------------------------------------------------


async def test_credit_many_in_one_transaction(ledger_book: Ledger,
                                              ledger_engine: AsyncEngine) -> None:
    await ledger_book.credit(CH, "Carol", 7)
    result = await ledger_book.credit_many(CH, [
        Award("alice", 3, trigger_id="presence.base", metadata={"factor": 1.5}),
        Award("BOB", 5, type="rain", reason="rain"),
        Award("Alice", 4, type="milestone"),
        Award("carol", 2, type="gamble_win", kind=Kind.GAMBLE),
    ], key="tick:1")
    assert result.ok and result.balances == {"alice": 7, "bob": 5, "carol": 9}
    assert [(p.username, p.amount, p.balance_after) for p in result.postings] == [
        ("alice", 3, 3), ("BOB", 5, 5), ("alice", 4, 7), ("Carol", 2, 9)]
    assert len({p.tx_id for p in result.postings}) == 1
    assert result.postings[0].metadata == {"factor": 1.5}
    assert result.postings[0].trigger_id == "presence.base"
    ids = [p.id for p in result.postings]
    assert ids == sorted(ids) and len(set(ids)) == 4
    carol = await ledger_book.account(CH, "carol")
    assert carol is not None and (carol.lifetime_earned, carol.gambled_out) == (7, 2)
    assert await ledger_book.daily(CH, "alice", TODAY) == {"z_earned": 7}
    assert await ledger_book.daily(CH, "carol", TODAY) == {"z_earned": 7, "z_gambled_out": 2}
    replay = await ledger_book.credit_many(CH, [Award("alice", 3)], key="tick:1")
    assert replay.replayed and replay.postings == result.postings
    empty = await ledger_book.credit_many(CH, [])
    assert empty.ok and empty.postings == ()
    assert await count_rows(ledger_engine, transactions) == 5
    assert await ledger_book.verify() == []


async def test_credit_many_large(ledger_book: Ledger) -> None:
    awards = [Award(f"user{i}", 1 + i % 5) for i in range(2500)]
    result = await ledger_book.credit_many(CH, awards)
    assert len(result.postings) == 2500 and len(result.balances) == 2500
    assert await ledger_book.circulation(CH) == sum(a.amount for a in awards)
    assert await ledger_book.account_count(CH) == 2500
    again = await ledger_book.credit_many(CH, awards)
    assert again.balances["user4"] == 10
    assert await ledger_book.verify() == []


async def test_credit_many_large_with_repeats_and_mixed_kinds(ledger_book: Ledger) -> None:
    # The bulk path: 3,000 awards over 1,000 users, three kinds, a user more than once.
    kinds = [Kind.EARN, Kind.GAMBLE, Kind.CORRECTION]
    awards = [Award(f"User{i % 1000}" if i < 1000 else f"user{i % 1000}", 1 + i % 7,
                    type=("earn", "gamble_win", "admin_grant")[i // 1000],
                    kind=kinds[i // 1000]) for i in range(3000)]
    was_enabled = gc.isenabled()
    result = await ledger_book.credit_many(CH, awards)
    assert gc.isenabled() == was_enabled  # the bulk path's collector pause is over
    assert len(result.postings) == 3000
    assert list(result.balances) == [f"user{i}" for i in range(1000)]  # first appearance
    running: dict[str, int] = {}
    for award, posting in zip(awards, result.postings, strict=True):
        key = award.username.casefold()
        running[key] = running.get(key, 0) + award.amount
        assert (posting.user_key, posting.username, posting.amount, posting.balance_after,
                posting.kind) == (key, f"User{key[4:]}", award.amount, running[key],
                                  award.kind)
    assert result.balances == running
    u7 = await ledger_book.account(CH, "user7")
    # user7's awards: i = 7 (earn 1), 1007 (gamble 7), 2007 (correction 6)
    assert u7 is not None and (u7.balance, u7.lifetime_earned, u7.gambled_out) == (14, 1, 7)
    assert await ledger_book.daily(CH, "user7", TODAY) == {"z_earned": 1, "z_gambled_out": 7}
    assert await ledger_book.verify() == []


async def test_bulk_credit_keeps_a_paused_collector_paused(ledger_book: Ledger) -> None:
    gc.disable()
    try:
        await ledger_book.credit_many(CH, [Award(f"u{i}", 1) for i in range(1500)])
        assert not gc.isenabled()
    finally:
        gc.enable()
    await ledger_book.credit_many(CH, [Award(f"u{i}", 1) for i in range(1500)])
    assert gc.isenabled()


@pytest.mark.parametrize("bad", [
    "not an award", Award("", 1), Award("x" * 101, 1), Award("bob", 1, type=""),
    Award("bob", 1, type="t" * 51), Award("bob", 1, type=5),  # type: ignore[arg-type]
    Award("bob", 1, kind="bogus"),  # type: ignore[arg-type]
])
async def test_bad_awards_are_refused_anywhere_in_a_bulk_credit(
        ledger_book: Ledger, ledger_engine: AsyncEngine, bad: Any) -> None:
    # Validation of a posting type is cached per value: a bad award after many good ones of
    # the same type is still refused, and nothing is written.
    awards = [Award(f"u{i}", 1, type="rain") for i in range(1200)] + [bad]
    with pytest.raises(ValueError):
        await ledger_book.credit_many(CH, awards)
    assert await count_rows(ledger_engine, transactions) == 0
    assert gc.isenabled()


async def test_str_kinds_count_like_their_kind(ledger_book: Ledger) -> None:
    earn: Any = "earn"
    gamble: Any = "gamble"
    result = await ledger_book.credit_many(CH, [Award("alice", 3, kind=earn),
                                                Award("bob", 4, kind=gamble)])
    assert [p.kind for p in result.postings] == [Kind.EARN, Kind.GAMBLE]
    alice, bob = await ledger_book.account(CH, "alice"), await ledger_book.account(CH, "bob")
    assert alice is not None and bob is not None
    assert (alice.lifetime_earned, bob.gambled_out) == (3, 4)


class NewcomerGate:
    """Withholds every earn-class credit of users named ``new*``."""

    def applies(self, type: str) -> bool:
        return type != "exempt"

    async def withheld(self, channel: str, usernames: Sequence[str]) -> set[str]:
        return {n.strip().casefold() for n in usernames if n.strip().casefold().startswith("new")}


async def test_the_earn_gate_filters_bulk_credits(ledger_book: Ledger) -> None:
    ledger_book.set_earn_gate(NewcomerGate())
    earn: Any = "earn"  # a plain str is earn-class too
    result = await ledger_book.credit_many(CH, [
        Award("alice", 1), Award("Newbie", 2), Award("newbie", 3, kind=earn),
        Award("newbie", 4, type="exempt"), Award("newbie", 5, kind=Kind.CORRECTION)])
    assert [(p.user_key, p.amount) for p in result.postings] == [
        ("alice", 1), ("newbie", 4), ("newbie", 5)]
    everyone_new = await ledger_book.credit_many(CH, [Award("new1", 1), Award("new2", 1)])
    assert everyone_new.ok and everyone_new.postings == ()


# -- counters -------------------------------------------------------------------------------


async def test_counters_follow_the_kind(ledger_book: Ledger) -> None:
    await ledger_book.credit(CH, "alice", 1000)                       # earn
    await ledger_book.debit(CH, "alice", 100)                         # spend
    await ledger_book.debit(CH, "alice", 50, type="wager", kind=Kind.GAMBLE)
    await ledger_book.credit(CH, "alice", 80, type="gamble_win", kind=Kind.GAMBLE)
    await ledger_book.transfer(CH, "alice", "bob", 10, **TIP)                # transfer: none
    await ledger_book.debit(CH, "alice", 5, type="decay", kind=Kind.CORRECTION)
    await ledger_book.credit(CH, "alice", 3, type="admin_set_balance", kind=Kind.CORRECTION)
    await ledger_book.debit(CH, "alice", 2, type="odd", kind=Kind.EARN)    # earn(-): none
    await ledger_book.credit(CH, "alice", 4, type="odd", kind=Kind.SPEND)  # spend(+): none
    alice = await ledger_book.account(CH, "alice")
    assert alice is not None
    assert (alice.balance, alice.lifetime_earned, alice.lifetime_spent, alice.gambled_in,
            alice.gambled_out) == (920, 1000, 100, 50, 80)
    assert await ledger_book.daily(CH, "alice", TODAY) == {
        "z_earned": 1000, "z_spent": 100, "z_gambled_in": 50, "z_gambled_out": 80}
    bob = await ledger_book.account(CH, "bob")
    assert bob is not None and (bob.balance, bob.lifetime_earned) == (10, 0)
    top = await ledger_book.top(CH)
    assert [a.username for a in top] == ["alice", "bob"]
    assert [a.username for a in await ledger_book.top(CH, by="lifetime_earned", limit=1)] == [
        "alice"]
    assert await ledger_book.verify() == []


async def test_daily_counters_use_the_ledger_timezone(ledger_engine: AsyncEngine,
                                                      ledger_clock: FakeClock) -> None:
    book = Ledger(ledger_engine, ledger_clock, tz=timezone(timedelta(hours=10)))
    await book.start()
    try:
        await book.credit(CH, "alice", 5)  # 20:00 UTC is 06:00 on 03-04 at UTC+10
        assert await book.daily(CH, "alice", date(2026, 3, 4)) == {"z_earned": 5}
        assert await book.daily(CH, "alice", TODAY) == {}
        assert (await book.history(CH, "alice"))[0].at == datetime(2026, 3, 3, 20, tzinfo=UTC)
        assert await book.bump_daily(CH, "Alice", TODAY, "messages_sent") == 1
        assert await book.bump_daily(CH, "alice", TODAY, "messages_sent", 4) == 5
        await book.bump_daily_many(CH, TODAY, "minutes_present", ["Alice", "bob", "bob"])
        assert await book.daily_many(CH, TODAY, "minutes_present", ["ALICE", "bob", "x"]) == {
            "alice": 1, "bob": 2}
        assert await book.top_daily(CH, TODAY, "minutes_present") == [("bob", 2), ("alice", 1)]
        assert await book.daily(CH, "alice", TODAY) == {"messages_sent": 5, "minutes_present": 1}
    finally:
        await book.close()


async def test_caps(ledger_book: Ledger, ledger_clock: FakeClock) -> None:
    window = timedelta(hours=1)
    taken = [await ledger_book.take_cap(CH, "alice", "tips", 3, window) for _ in range(4)]
    assert taken == [True, True, True, False]
    state = await ledger_book.cap_state(CH, "Alice", "tips")
    assert state is not None and (state.count, state.window_start) == (3, ledger_clock.now())
    assert await ledger_book.take_cap(CH, "bob", "tips", 3, window)  # per user
    await ledger_book.return_cap(CH, "alice", "tips")
    assert await ledger_book.take_cap(CH, "alice", "tips", 3, window)
    assert not await ledger_book.take_cap(CH, "alice", "tips", 3, window)
    await ledger_clock.advance(minutes=59)
    assert not await ledger_book.take_cap(CH, "alice", "tips", 3, window)
    await ledger_clock.advance(minutes=1)
    assert await ledger_book.take_cap(CH, "alice", "tips", 3, window)  # expired: (1, now)
    state = await ledger_book.cap_state(CH, "alice", "tips")
    assert state is not None and (state.count, state.window_start) == (1, ledger_clock.now())
    # Calendar-day windows reset when the date changes, however recent the start.
    results = await asyncio.gather(*(ledger_book.take_cap(CH, "alice", "spins", 5, "day")
                                     for _ in range(8)))
    assert sum(results) == 5
    await ledger_clock.advance(hours=2, minutes=59)  # 23:59
    assert not await ledger_book.take_cap(CH, "alice", "spins", 5, "day")
    await ledger_clock.advance(minutes=1)  # midnight
    assert await ledger_book.take_cap(CH, "alice", "spins", 5, "day")
    with pytest.raises(ValueError):
        await ledger_book.take_cap(CH, "alice", "x", 0, window)
    with pytest.raises(ValueError):
        await ledger_book.take_cap(CH, "alice", "x", 1, timedelta(0))


# -- bad input ------------------------------------------------------------------------------


BAD_AMOUNTS: list[Any] = [0, -5, True, 10**13, 1.5, "5", None]


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
async def test_bad_amounts_are_refused_before_the_database(ledger_book: Ledger,
                                                           ledger_engine: AsyncEngine,
                                                           amount: Any) -> None:
    await ledger_book.credit(CH, "rich", 10**12)
    calls = [
        lambda: ledger_book.credit(CH, "alice", amount),
        lambda: ledger_book.debit(CH, "rich", amount),
        lambda: ledger_book.transfer(CH, "rich", "alice", amount, **TIP),
        lambda: ledger_book.escrow(CH, "rich", amount, purpose="x"),
        lambda: ledger_book.credit_many(CH, [Award("alice", 1), Award("bob", amount)]),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            await call()

    async def inside(tx: LedgerTx) -> None:
        await tx.credit(CH, "alice", amount)

    with pytest.raises(ValueError):
        await ledger_book.atomic(inside)
    assert await count_rows(ledger_engine, transactions) == 1
    assert await count_rows(ledger_engine, accounts) == 1
    assert await count_rows(ledger_engine, escrows) == 0


async def test_bad_names_and_limits(ledger_book: Ledger) -> None:
    with pytest.raises(ValueError, match="empty"):
        await ledger_book.credit(CH, "   ", 1)
    with pytest.raises(ValueError):
        await ledger_book.credit(CH, "alice", 1, key="")
    with pytest.raises(ValueError):
        await ledger_book.credit(CH, "alice", 1, kind="bogus")  # type: ignore[arg-type]
    assert (await ledger_book.credit(CH, "alice", 10**12)).balance == 10**12


# -- atomic, group commit, observers ---------------------------------------------------------


challenges_md = sa.MetaData()
challenges = sa.Table("test_challenges", challenges_md,
                      sa.Column("id", sa.Integer, primary_key=True),
                      sa.Column("status", sa.String(10), nullable=False))


async def test_atomic_moves_money_with_plugin_rows(ledger_book: Ledger,
                                                   ledger_engine: AsyncEngine) -> None:
    async with ledger_engine.begin() as conn:
        await conn.run_sync(challenges_md.create_all)
        await conn.execute(challenges.insert().values(id=1, status="pending"))
    await ledger_book.credit(CH, "alice", 100)
    await ledger_book.credit(CH, "bob", 100)

    async def accept(tx: LedgerTx) -> bool:
        claimed = await tx.conn.execute(challenges.update().where(
            challenges.c.id == 1, challenges.c.status == "pending").values(status="accepted"))
        if claimed.rowcount != 1:
            return False
        stake = await tx.debit(CH, "bob", 50, type="wager", kind=Kind.GAMBLE)
        if not stake.ok:
            raise RuntimeError("bob cannot pay")
        await tx.credit(CH, "alice", 100, type="gamble_win", kind=Kind.GAMBLE)
        assert await tx.balance(CH, "alice") == 200
        return True

    results = await asyncio.gather(*(ledger_book.atomic(accept) for _ in range(5)))
    assert sorted(results) == [False] * 4 + [True]
    assert await ledger_book.balance(CH, "alice") == 200
    assert await ledger_book.balance(CH, "bob") == 50

    async def fails(tx: LedgerTx) -> None:
        await tx.conn.execute(challenges.update().values(status="paid"))
        await tx.credit(CH, "alice", 1000)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await ledger_book.atomic(fails)
    assert await ledger_book.balance(CH, "alice") == 200
    async with ledger_engine.connect() as conn:
        assert (await conn.execute(sa.select(challenges.c.status))).scalar_one() == "accepted"
    assert await ledger_book.verify() == []


async def test_holders_inside_a_transaction_see_its_own_moves(ledger_book: Ledger) -> None:
    await ledger_book.credit_many(CH, [Award("Carol", 300), Award("alice", 100),
                                       Award("bob", 99)])
    await ledger_book.credit("otherchan", "dave", 500)

    async def rule(tx: LedgerTx) -> list[tuple[str, str, int]]:
        before = [(h.user_key, h.username, h.balance) for h in await tx.holders(CH, 100)]
        await tx.debit(CH, "carol", 250)
        await tx.credit(CH, "bob", 1)
        after = [(h.user_key, h.username, h.balance) for h in await tx.holders(CH, 100)]
        assert [h.balance for h in await ledger_book.holders(CH, 0)] == [100, 99, 300]
        return before + after

    seen = await ledger_book.atomic(rule)
    assert seen == [("alice", "alice", 100), ("carol", "Carol", 300),  # ordered by key
                    ("alice", "alice", 100), ("bob", "bob", 100)]
    assert [h.balance for h in await ledger_book.holders(CH, 0)] == [100, 100, 50]

    async def bad(tx: LedgerTx) -> None:
        await tx.holders(CH, "100")  # type: ignore[arg-type]

    with pytest.raises(ValueError):
        await ledger_book.atomic(bad)


async def test_failing_job_rolls_back_only_itself(ledger_book: Ledger,
                                                  ledger_engine: AsyncEngine) -> None:
    async def half_then_fail(tx: LedgerTx) -> None:
        await tx.credit(CH, "mallory", 500)
        raise ValueError("changed my mind")

    async def caught(tx: LedgerTx) -> str:
        try:
            await tx.credit(CH, "carol", 5, metadata={"bad": object()})  # not JSON
        except TypeError:
            pass
        await tx.credit(CH, "carol", 1)
        return "ok"

    jobs: list[Any] = [ledger_book.credit(CH, f"u{i}", 1) for i in range(30)]
    jobs.insert(10, ledger_book.atomic(half_then_fail))
    jobs.insert(20, ledger_book.atomic(caught))
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert isinstance(results[10], ValueError)
    assert results[20] == "ok"
    assert sum(1 for r in results if not isinstance(r, BaseException) and r != "ok") == 30
    assert await ledger_book.balance(CH, "mallory") == 0
    assert await ledger_book.account(CH, "mallory") is None
    assert await ledger_book.balance(CH, "carol") == 1
    assert await ledger_book.circulation(CH) == 31
    assert await ledger_book.verify() == []
    batches, jobs_done = ledger_book.stats
    assert jobs_done > batches  # commits were shared


async def test_on_commit_sees_each_jobs_postings_after_commit(
        ledger_engine: AsyncEngine, ledger_clock: FakeClock,
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Sequence[Posting]] = []
    reads: list[asyncio.Task[int]] = []
    errors: list[Exception] = []
    book: Ledger

    async def on_commit(postings: Sequence[Posting]) -> None:
        seen.append(postings)
        # Reading from here sees the committed state (a separate connection).
        reads.append(asyncio.create_task(book.balance(CH, postings[0].username)))
        try:
            await book.credit(CH, "loop", 1)  # would deadlock: refused at once
        except LedgerError as exc:
            errors.append(exc)
        if postings[0].type == "explode":
            raise RuntimeError("observer bug")

    book = Ledger(ledger_engine, ledger_clock, on_commit=on_commit)
    await book.start()
    try:
        await book.credit(CH, "alice", 10)
        assert await reads[0] == 10
        await book.debit(CH, "alice", 20)  # fails: no postings, no call
        with caplog.at_level(logging.ERROR, logger="economy_core.ledger"):
            result = await book.credit(CH, "alice", 5, type="explode")
        assert result.ok and "observer bug" in caplog.text
        await asyncio.gather(*(book.transfer(CH, "alice", f"b{i}", 1, **TIP) for i in range(3)))
        assert [len(p) for p in seen] == [1, 1, 2, 2, 2]
        assert [p[0].amount for p in seen] == [10, 5, -1, -1, -1]
        assert len(errors) == 5
        assert await book.balance(CH, "alice") == 12
        assert await book.account(CH, "loop") is None
        await asyncio.gather(*reads)
    finally:
        await book.close()


async def test_for_source_stamps_postings(ledger_book: Ledger) -> None:
    shop = ledger_book.for_source("vanity")
    await shop.credit(CH, "alice", 10)
    spent = await shop.debit(CH, "alice", 4)
    assert spent.postings[0].source == "vanity"

    async def both(tx: LedgerTx) -> TxResultPair:
        return (await tx.credit(CH, "bob", 1), await tx.debit(CH, "bob", 1))

    a, b = await ledger_book.for_source("games").atomic(both)
    assert a.postings[0].source == b.postings[0].source == "games"
    assert (await ledger_book.history(CH, "alice"))[0].source == "vanity"


TxResultPair = tuple[Any, Any]


async def test_close_drains_every_caller(ledger_engine: AsyncEngine,
                                         ledger_clock: FakeClock) -> None:
    book = Ledger(ledger_engine, ledger_clock, max_batch=7)
    await book.start()
    tasks = [asyncio.create_task(book.credit(CH, f"u{i % 10}", 1)) for i in range(200)]
    await asyncio.sleep(0)  # let every task enqueue its job
    await book.close()
    results = await asyncio.gather(*tasks)
    assert all(r.ok for r in results)
    assert await book.circulation(CH) == 200
    with pytest.raises(LedgerError, match="closed"):
        await book.credit(CH, "late", 1)
    await book.close()  # idempotent
    assert await book.verify() == []


async def test_not_started_ledger_refuses_writes(ledger_engine: AsyncEngine,
                                                 ledger_clock: FakeClock) -> None:
    book = Ledger(ledger_engine, ledger_clock)
    with pytest.raises(LedgerError, match="not started"):
        await book.credit(CH, "alice", 1)


async def test_verify_finds_tampering(ledger_book: Ledger, ledger_engine: AsyncEngine) -> None:
    await ledger_book.credit(CH, "alice", 10)
    await ledger_book.credit("elsewhere", "bob", 10)
    async with ledger_engine.begin() as conn:
        await conn.execute(accounts.update().where(accounts.c.user_key == "alice")
                           .values(balance=11))
    (m,) = await ledger_book.verify()
    assert (m.channel, m.user_key, m.balance, m.ledger_sum) == (CH, "alice", 11, 10)
    assert await ledger_book.verify("elsewhere") == []
