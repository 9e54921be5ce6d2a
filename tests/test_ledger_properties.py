"""Property test: random concurrent interleavings of every money operation keep the books.

Each example runs waves of operations with ``asyncio.gather`` (so they share commit groups and
race each other) on a fresh channel, then checks: no negative balance, ``verify()`` is empty,
every replayed key moved nothing and returned the original result, each escrow was resolved at
most once, and the money in circulation equals what the successful operations say it should be
(credits + release payouts + refunds − debits − escrows; transfers move none).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from economy_core.clock import FakeClock
from economy_core.db import make_engine
from economy_core.ledger import Award, Kind, Ledger, TxResult

TIP = {"send_type": "tip_send", "receive_type": "tip_receive"}

USERS = ["ann", "Bob", "cy", "ANN"]  # "ANN" is ann: identity is case-insensitive
KEYS = [None, None, None, "k1", "k2", "k3"]

users = st.sampled_from(USERS)
amounts = st.integers(min_value=1, max_value=120)
keys = st.sampled_from(KEYS)

operation = st.one_of(
    st.tuples(st.just("credit"), users, amounts, keys),
    st.tuples(st.just("debit"), users, amounts, keys),
    st.tuples(st.just("transfer"), users, users, amounts, keys),
    st.tuples(st.just("escrow"), users, amounts, st.sampled_from([Kind.SPEND, Kind.GAMBLE])),
    st.tuples(st.just("release"), st.integers(0, 20),
              st.lists(st.tuples(users, amounts), max_size=3), keys),
    st.tuples(st.just("refund"), st.integers(0, 20), keys),
)
waves = st.lists(st.lists(operation, min_size=1, max_size=12), min_size=1, max_size=4)


async def run_scenario(url: str, plan: list[list[tuple[Any, ...]]]) -> None:
    channel = f"prop-{uuid.uuid4().hex[:10]}"
    engine = make_engine(url)
    book = Ledger(engine, FakeClock(), max_batch=5)  # small groups: more commits interleave
    await book.start()
    try:
        await check_plan(book, channel, plan)
    finally:
        await book.close()
        await engine.dispose()


async def check_plan(book: Ledger, channel: str, plan: list[list[tuple[Any, ...]]]) -> None:
    await book.credit(channel, "ann", 100)  # something to spend from the start
    expected = 100
    escrow_ids: list[int] = []
    escrow_amounts: dict[int, int] = {}
    resolutions: dict[int, int] = {}
    originals: dict[str, TxResult] = {}
    replays: list[tuple[str, TxResult]] = []

    for wave in plan:
        calls = []
        for op in wave:
            name = op[0]
            if name == "credit":
                calls.append(book.credit(channel, op[1], op[2], key=op[3]))
            elif name == "debit":
                calls.append(book.debit(channel, op[1], op[2], key=op[3]))
            elif name == "transfer":
                if op[1].casefold() == op[2].casefold():
                    continue
                calls.append(book.transfer(channel, op[1], op[2], op[3], key=op[4], **TIP))
            elif name == "escrow":
                calls.append(book.escrow(channel, op[1], op[2], purpose="game", kind=op[3]))
            elif name == "release" and escrow_ids:
                payouts = [Award(u, a, type="gamble_win", kind=Kind.GAMBLE) for u, a in op[2]]
                calls.append(book.release(escrow_ids[op[1] % len(escrow_ids)],
                                          payouts=payouts, key=op[3]))
            elif name == "refund" and escrow_ids:
                calls.append(book.refund(escrow_ids[op[1] % len(escrow_ids)], key=op[2]))
        ops = [op for op in wave if not (op[0] == "transfer" and
                                         op[1].casefold() == op[2].casefold())
               and not (op[0] in ("release", "refund") and not escrow_ids)]
        results = await asyncio.gather(*calls)
        assert len(results) == len(ops)

        for op, result in zip(ops, results, strict=True):
            key = op[-1] if isinstance(op[-1], str) and op[-1].startswith("k") else None
            if result.replayed:
                assert key is not None and result.ok
                replays.append((key, result))
                continue
            if not result.ok:
                assert result.postings == ()
                continue
            if key is not None:
                assert key not in originals, "a key moved money twice"
                originals[key] = result
            assert all(p.balance_after >= 0 for p in result.postings)
            moved = sum(p.amount for p in result.postings)
            name = op[0]
            if name == "credit":
                assert moved == op[2]
            elif name == "debit":
                assert moved == -op[2]
            elif name == "transfer":
                assert moved == 0
            elif name == "escrow":
                assert moved == -op[2] and result.escrow is not None
                escrow_ids.append(result.escrow.id)
                escrow_amounts[result.escrow.id] = op[2]
            elif name == "release":
                assert result.escrow is not None
                assert moved == sum(a for _, a in op[2])
                resolutions[result.escrow.id] = resolutions.get(result.escrow.id, 0) + 1
            elif name == "refund":
                assert result.escrow is not None
                assert moved == escrow_amounts[result.escrow.id]
                resolutions[result.escrow.id] = resolutions.get(result.escrow.id, 0) + 1
            expected += moved

    for key, replay in replays:
        assert replay.postings == originals[key].postings
        assert dict(replay.balances) == dict(originals[key].balances)
    assert all(n == 1 for n in resolutions.values()), "an escrow was resolved twice"
    still_open = {e.id for e in await book.open_escrows(channel)}
    assert still_open == set(escrow_ids) - set(resolutions)
    assert await book.circulation(channel) == expected
    assert await book.verify(channel) == []
    for account in await book.top(channel, limit=100):
        assert account.balance >= 0
        history = await book.history(channel, account.user_key, limit=10_000)
        assert sum(p.amount for p in history) == account.balance


def test_random_interleavings_keep_the_books(ledger_engine_url: str) -> None:
    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(plan=waves)
    def scenario(plan: list[list[tuple[Any, ...]]]) -> None:
        asyncio.run(run_scenario(ledger_engine_url, plan))

    scenario()
