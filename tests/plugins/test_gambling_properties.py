"""Property: over random interleavings of spins, free spins, flips, duels (accept, decline,
expiry), heists (start, join, window end), restarts (clean, or the process killed at a random
commit) and races between them, money is conserved, nothing is paid twice and no balance goes
below zero.

Conservation, from three independent records: every escrow holds exactly one wager posting, so

    Σ balances + Σ open escrows = Σ grants + Σ gamble_win − Σ released (lost) stakes

(refunded stakes come back once each). Paid twice would show as a second refund of an escrow,
a second payout of a duel or heist member, or a second free spin in a day.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from economy_plugins.gambling import Gambling, tables
from economy_plugins.gambling.rolls import SeededRolls
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from economy_core.ledger import accounts, escrows
from economy_core.testing import AppHarness, MakeApp

from .test_gambling_kit import CHANNEL, gambling_app, plugin, postings

USERS = ["alice", "bob", "carol", "dave"]
DB = itertools.count()
user = st.sampled_from(USERS)
steps = st.lists(st.one_of(
    st.tuples(st.just("spin"), user, st.sampled_from([5, 10, 50, 500, 600])),
    st.tuples(st.just("free_spin"), user, st.none()),
    st.tuples(st.just("flip"), user, st.sampled_from([10, 100, 1000, 1200])),
    st.tuples(st.just("challenge"), user, st.tuples(user, st.sampled_from([50, 100, 900]))),
    st.tuples(st.just("accept"), user, st.none()),
    st.tuples(st.just("decline"), user, st.none()),
    st.tuples(st.just("heist"), user, st.sampled_from([20, 100, 800])),
    st.tuples(st.just("join"), user, st.none()),
    st.tuples(st.just("wait"), st.none(), st.integers(1, 400)),
    st.tuples(st.just("restart"), st.none(), st.none()),
    # the process is killed at the k-th commit from here (in whatever step it falls)
    st.tuples(st.just("crash"), st.none(), st.integers(0, 6)),
    st.tuples(st.just("race_accept_sweep"), user, st.integers(100, 130)),
    st.tuples(st.just("race_two_accepts"), user, st.none()),
    st.tuples(st.just("race_decline_accept"), user, st.none()),
    st.tuples(st.just("race_join_finish"), user, st.none()),
    st.tuples(st.just("duel"), st.tuples(user, user),
              st.tuples(st.sampled_from([50, 100, 900]),
                        st.sampled_from(["accept", "decline", "race_accept_sweep",
                                         "race_two_accepts", "race_decline_accept"]))),
    st.tuples(st.just("crew"), user, st.tuples(st.sampled_from([20, 100, 800]),
                                                st.integers(0, 3))),
), min_size=1, max_size=30)

CONFIG = {"heist": {"enabled": True, "min_participants": 2, "cooldown_seconds": 0},
          "spin": {"cooldown_seconds": 5}, "flip": {"cooldown_seconds": 5}}


async def run_step(app: AppHarness, action: str, who: Any, arg: Any) -> AppHarness:
    games = plugin(app)
    with app.unless_dead():  # a game method called directly in a process that died
        app = await play_step(app, games, action, who, arg)
    if app.breaker is not None and app.breaker.tripped:  # died: restarted by its supervisor
        app = await app.restart()
        plugin(app).rolls = games.rolls
    return app


async def play_step(app: AppHarness, games: Gambling, action: str, who: Any,
                    arg: Any) -> AppHarness:
    if action in ("spin", "flip", "heist"):
        await app.pm(who, f"{action} {arg}")
    elif action == "free_spin":
        await app.pm(who, "spin")
    elif action == "challenge":
        target, wager = arg
        await app.pm(who, f"challenge @{target} {wager}")
    elif action in ("accept", "decline"):
        await app.pm(who, action)
    elif action == "join":
        await app.chat(who, "join")
    elif action == "wait":
        await app.advance(arg)
    elif action == "crash":
        if app.breaker is None:
            app.arm_crash(arg)
    elif action == "restart":
        app = await app.restart()
        plugin(app).rolls = games.rolls
    elif action == "race_accept_sweep":
        await app.clock.set(app.clock.now() + timedelta(seconds=arg))
        await asyncio.gather(app.pm(who, "accept"), games.sweep())
    elif action == "race_two_accepts":
        await asyncio.gather(games.challenges.accept(CHANNEL, who),
                             games.challenges.accept(CHANNEL, who))
    elif action == "race_decline_accept":
        await asyncio.gather(games.challenges.decline(CHANNEL, who),
                             games.challenges.accept(CHANNEL, who))
    elif action == "duel":
        (challenger, target), (wager, response) = who, arg
        app = await run_step(app, "challenge", challenger, (target, wager))
        return await run_step(app, response, target, 125 if "sweep" in response else None)
    elif action == "crew":
        wager, joiners = arg
        await app.pm(who, f"heist {wager}")
        for other in [u for u in USERS if u != who][:joiners]:
            await app.chat(other, "join")
    elif action == "race_join_finish":
        heist = await games.heists.open_heist(CHANNEL)
        if heist is not None:
            await asyncio.gather(games.heists.join(heist, who), games.heists.finish(heist.id))
    await app.settle()
    return app


async def rows(app: AppHarness, table: sa.Table, *where: Any) -> list[Any]:
    async with app.app.engine.connect() as conn:
        return list(await conn.execute(sa.select(table).where(*where)))


async def check_invariants(app: AppHarness) -> None:
    assert await app.ledger.verify() == []
    balances = {r.user_key: int(r.balance) for r in
                await rows(app, accounts, accounts.c.channel == CHANNEL)}
    assert all(b >= 0 for b in balances.values())
    held = await rows(app, escrows, escrows.c.source == "gambling")
    everything = [p for u in USERS for p in await postings(app, u)]
    grants = sum(p.amount for p in everything if p.type == "admin_grant")
    payouts = [p for p in everything if p.type == "gamble_win"]
    open_total = sum(int(e.amount) for e in held if e.status == "open")
    lost = sum(int(e.amount) for e in held if e.status == "released")
    assert sum(balances.values()) + open_total == grants + sum(p.amount for p in payouts) - lost

    # every escrow: one wager, refunded once or released (with at most one payout) or open
    wagers = Counter(p.metadata.get("escrow_id") for p in everything if p.type == "wager")
    refunds = Counter(p.metadata.get("escrow_id") for p in everything if p.type == "refund")
    paid = Counter(p.metadata.get("escrow_id") for p in payouts if "escrow_id" in p.metadata)
    for e in held:
        assert wagers[e.id] == 1
        assert refunds[e.id] == (1 if e.status == "refunded" else 0)
        assert paid[e.id] <= 1
        assert paid[e.id] == 0 or e.status == "released"

    # duels: a settled one paid its prize once, the others paid nothing
    duel_pay = Counter(p.metadata["challenge_id"] for p in payouts
                       if p.metadata.get("game") == "challenge")
    for duel in await rows(app, tables.challenges):
        if duel.status == "settled":
            assert duel_pay[duel.id] == (1 if duel.prize else 0)
            assert duel.prize + duel.rake == 2 * duel.wager
        else:
            assert duel_pay[duel.id] == 0
    # heists: each member paid at most once
    heist_pay = Counter((p.metadata["heist_id"], p.user_key) for p in payouts
                        if p.metadata.get("game") == "heist")
    assert all(n == 1 for n in heist_pay.values())
    # free spins: at most one a day each
    tz = app.app.tz
    free = Counter((p.user_key, p.at.astimezone(tz).date()) for p in payouts
                   if p.metadata.get("game") == "free_spin")
    assert all(n == 1 for n in free.values())


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=steps, seed=st.integers(0, 2**32 - 1))
@example(plan=[("heist", "alice", 20), ("crash", None, 0)], seed=0)  # dies at the window's end
async def test_money_is_conserved_and_nothing_paid_twice(make_app: MakeApp, plan: list[Any],
                                                         seed: int) -> None:
    app = await gambling_app(make_app, CONFIG, users=USERS, db=f"prop-{next(DB)}.db",
                             core={"commands": {"rate_limit_per_minute": 10_000},
                                   "outbox": {"chat_per_minute": 10_000}})
    plugin(app).rolls = SeededRolls(random.Random(seed))
    for action, who, arg in plan:
        app = await run_step(app, action, who, arg)
    if app.breaker is not None:  # a kill still pending happens now; the supervisor restarts
        app = await run_step(app, "restart", None, None)
    await check_invariants(app)
    await app.advance(minutes=10)  # every duel expires, every heist window closes
    await check_invariants(app)
    assert [e for e in await app.ledger.open_escrows(CHANNEL) if e.source == "gambling"] == []
    await app.app.stop()
