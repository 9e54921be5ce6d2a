"""A partial escrow refund whose remainder is burned as a visible posting
(``refund(escrow_id, amount=n, burn_type=...)``): the holder gets ``n`` back, the rest leaves
circulation through a posting of its own, and balances, Σ postings and counters stay exact."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from economy_core.clock import FakeClock
from economy_core.ledger import Award, Kind, Ledger, LedgerTx

from .test_ledger import CH, TODAY


async def held(book: Ledger, amount: int = 100, *, balance: int = 500) -> int:
    await book.credit(CH, "alice", balance)
    result = await book.escrow(CH, "alice", amount, purpose="board", type="escrow")
    assert result.ok
    return result.escrow_id


async def test_part_back_and_the_rest_burned_as_a_posting(ledger_book: Ledger,
                                                          ledger_clock: FakeClock) -> None:
    escrow_id = await held(ledger_book)
    await ledger_clock.advance(days=1)
    result = await ledger_book.refund(escrow_id, amount=30, burn_type="spend",
                                      reason="expired", burn_reason="expired: kept")
    assert result.ok and result.balance == 430 and result.escrow is not None
    refund, burn = result.postings
    assert (refund.type, refund.kind, refund.amount, refund.balance_after, refund.reason) == (
        "refund", Kind.CORRECTION, 100, 500, "expired")
    assert (burn.type, burn.kind, burn.amount, burn.balance_after, burn.reason) == (
        "spend", Kind.SPEND, -70, 430, "expired: kept")
    assert refund.tx_id == burn.tx_id
    assert refund.metadata == {"escrow_id": escrow_id, "purpose": "board", "burned": 70}
    assert burn.metadata == {"escrow_id": escrow_id, "purpose": "board", "refunded": 30}
    stored = await ledger_book.escrow_by_id(escrow_id)
    assert stored is not None and stored.status == "refunded"
    alice = await ledger_book.account(CH, "alice")
    assert alice is not None and (alice.balance, alice.lifetime_spent) == (430, 70)
    # the escrow's own day is reversed, the burn counts on the day it happened
    assert await ledger_book.daily(CH, "alice", TODAY) == {"z_earned": 500, "z_spent": 0}
    assert await ledger_book.daily(CH, "alice", TODAY + timedelta(days=1)) == {"z_spent": 70}
    assert await ledger_book.circulation(CH) == 430
    assert sum(p.amount for p in await ledger_book.history(CH, "alice", 100)) == 430
    assert await ledger_book.verify() == []


async def test_all_back_is_a_plain_refund_and_nothing_back_burns_all(ledger_book: Ledger) -> None:
    whole = await held(ledger_book)
    result = await ledger_book.refund(whole, amount=100, burn_type="spend")
    assert [p.amount for p in result.postings] == [100] and result.balance == 500
    assert "burned" not in result.postings[0].metadata
    none_back = await ledger_book.escrow(CH, "alice", 200, purpose="board")
    result = await ledger_book.refund(none_back.escrow_id, amount=0, burn_type="spend")
    assert [p.amount for p in result.postings] == [200, -200] and result.balance == 300
    assert await ledger_book.circulation(CH) == 300
    assert await ledger_book.verify() == []


async def test_bad_partial_refunds_move_nothing(ledger_book: Ledger) -> None:
    escrow_id = await held(ledger_book)
    with pytest.raises(ValueError, match="burn_type"):
        await ledger_book.refund(escrow_id, amount=10)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="partial refund"):
            await ledger_book.refund(escrow_id, amount=bad, burn_type="spend")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="holds 100"):
        await ledger_book.refund(escrow_id, amount=101, burn_type="spend")
    stored = await ledger_book.escrow_by_id(escrow_id)
    assert stored is not None and stored.status == "open"  # the claim rolled back too
    assert await ledger_book.balance(CH, "alice") == 400
    assert len(await ledger_book.history(CH, "alice", 100)) == 2


async def test_a_replayed_key_and_a_closed_escrow_move_nothing(ledger_book: Ledger) -> None:
    escrow_id = await held(ledger_book)
    first = await ledger_book.refund(escrow_id, amount=50, burn_type="spend", key="k1")
    again = await ledger_book.refund(escrow_id, amount=50, burn_type="spend", key="k1")
    assert first.ok and again.ok and again.replayed
    assert [p.amount for p in again.postings] == [100, -50]
    closed = await ledger_book.refund(escrow_id, amount=50, burn_type="spend")
    assert (closed.ok, closed.error) == (False, "escrow_closed")
    assert await ledger_book.balance(CH, "alice") == 450
    assert await ledger_book.verify() == []


async def test_inside_an_atomic_block_it_rolls_back_with_it(ledger_book: Ledger) -> None:
    escrow_id = await held(ledger_book)

    async def fail(tx: LedgerTx) -> None:
        result = await tx.refund(escrow_id, amount=40, burn_type="spend")
        assert result.ok and result.balance == 440
        raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError):
        await ledger_book.atomic(fail)
    stored = await ledger_book.escrow_by_id(escrow_id)
    assert stored is not None and stored.status == "open"
    assert await ledger_book.balance(CH, "alice") == 400


async def test_a_release_racing_a_partial_refund_exactly_one_wins(ledger_book: Ledger) -> None:
    ids = [await held(ledger_book, 100, balance=100) for _ in range(10)]
    results = await asyncio.gather(*(
        [ledger_book.release(i, payouts=[Award("bob", 100, trigger_id="race")]) for i in ids]
        + [ledger_book.refund(i, amount=50, burn_type="spend") for i in ids]))
    for n in range(len(ids)):
        release, refund = results[n], results[len(ids) + n]
        assert release.ok != refund.ok
    refunded = sum(r.ok for r in results[len(ids):])
    assert await ledger_book.balance(CH, "alice") == 50 * refunded
    assert await ledger_book.balance(CH, "bob") == 100 * (len(ids) - refunded)
    assert await ledger_book.open_escrows() == []
    assert await ledger_book.verify() == []


class _OnlyDeclared:
    """A write policy that allows every type but one."""

    def check_type(self, source: str, posting_type: str, kind: Kind) -> str | None:
        return "undeclared" if posting_type == "secret_burn" else None

    def check_counter(self, source: str, counter: str) -> str | None:
        return None

    def fenced(self, source: str) -> bool:
        return False


async def test_the_burn_type_passes_the_write_policy(ledger_book: Ledger) -> None:
    escrow_id = await held(ledger_book)
    ledger_book.set_write_policy(_OnlyDeclared())
    with pytest.raises(ValueError, match="undeclared"):
        await ledger_book.refund(escrow_id, amount=10, burn_type="secret_burn")
    assert (await ledger_book.refund(escrow_id, amount=10, burn_type="spend")).ok
