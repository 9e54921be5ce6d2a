"""Races (RELIABILITY 28) and restarts (RELIABILITY 29): a duel or heist is settled exactly once,
and no stake outlives a restart unresolved.

Racing resolutions are started together with ``asyncio.gather`` on the plugin's own methods (the
router would serialise PMs; the sweep and the heist window are scheduler jobs that really do run
beside PMs), and also replayed one after the other from a stale snapshot, which is what the
loser of a race holds."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from economy_plugins.gambling.challenges import Challenge
from economy_plugins.gambling.validation import Refused

from economy_core.ledger import Kind
from economy_core.testing import AppHarness, MakeApp

from .test_gambling_kit import (
    CHANNEL,
    force,
    gamble_postings,
    gambling_app,
    open_gambling_escrows,
    plugin,
    postings,
)


async def duel(app: AppHarness, challenger: str = "alice", target: str = "bob",
               wager: int = 100) -> Challenge:
    assert "Challenge sent" in (await app.pm(challenger, f"challenge @{target} {wager}"))[0]
    found = await plugin(app).challenges.oldest_for(CHANNEL, target)
    assert found is not None
    return found


async def money(app: AppHarness) -> tuple[int, int]:
    """(Σ balances + open escrows, Σ grants + payouts − stakes lost), which must be equal."""
    users = ("alice", "bob", "carol", "dave")
    balances = sum([await app.balance(u) for u in users])
    held = sum(e.amount for e in await open_gambling_escrows(app))
    grants = payouts = 0
    for u in users:
        for p in await postings(app, u):
            grants += p.amount if p.type == "admin_grant" else 0
            payouts += p.amount if p.type == "gamble_win" else 0
    lost = 0
    for e in await all_escrows(app):
        lost += e.amount if e.status == "released" else 0
    return balances + held, grants + payouts - lost


async def all_escrows(app: AppHarness) -> list[Any]:
    from economy_core.ledger import escrows

    async with app.app.engine.connect() as conn:
        rows = await conn.execute(escrows.select().where(escrows.c.source == "gambling"))
        return list(rows)


async def status_of(app: AppHarness, duel_id: int) -> str:
    from economy_plugins.gambling import tables

    async with app.app.engine.connect() as conn:
        row = (await conn.execute(tables.challenges.select().where(
            tables.challenges.c.id == duel_id))).one()
        return str(row.status)


# -- accept × expiry --------------------------------------------------------------------------


async def test_accept_racing_the_expiry_sweep(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    d = await duel(app)
    force(app, 0.1)
    games = plugin(app).challenges
    outcomes = await asyncio.gather(games.settle(d, "bob"), games.expire(d),
                                    return_exceptions=True)
    settled = not isinstance(outcomes[0], BaseException)
    expired = outcomes[1] is True
    assert settled != expired  # exactly one of them
    assert settled or isinstance(outcomes[0], Refused)
    if settled:
        assert await app.balance("alice") == 1090 and await app.balance("bob") == 900
    else:
        assert await app.balance("alice") == 1000 and await app.balance("bob") == 1000
    assert await open_gambling_escrows(app) == []
    a, b = await money(app)
    assert a == b
    assert await app.ledger.verify() == []


@pytest.mark.parametrize("first", ["expire", "settle"])
async def test_stale_loser_of_accept_vs_expiry_moves_nothing(make_app: MakeApp,
                                                             first: str) -> None:
    app = await gambling_app(make_app)
    d = await duel(app)
    force(app, 0.1)
    games = plugin(app).challenges
    if first == "expire":
        assert await games.expire(d)
        with pytest.raises(Refused):
            await games.settle(d, "bob")
        assert await status_of(app, d.id) == "expired"
        assert await gamble_postings(app, "bob") == []
        assert await app.balance("alice") == 1000
    else:
        await games.settle(d, "bob")
        assert not await games.expire(d)
        assert await status_of(app, d.id) == "settled"
        assert [t for t, _ in await gamble_postings(app, "alice")] == ["wager", "gamble_win"]
    assert await open_gambling_escrows(app) == []


async def test_accept_pm_after_expiry_refunds_once(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    await duel(app)
    await app.clock.set(app.clock.now() + timedelta(seconds=121))  # expired
    replies = await asyncio.gather(app.pm("bob", "accept"), plugin(app).sweep())
    assert "expired" in replies[0][0] or "No challenge" in replies[0][0]
    refunds = [p for p in await postings(app, "alice") if p.type == "refund"]
    assert len(refunds) == 1 and await app.balance("alice") == 1000


async def expire_unswept(app: AppHarness) -> None:
    """Move past the duel's expiry with the plugin's jobs stopped: expired, not yet swept."""
    for job in app.app.scheduler.jobs():
        if job.owner == "gambling":
            job.cancel()
    await app.advance(121)


@pytest.mark.parametrize("first", ["sweep", "decline"])
async def test_expired_accept_that_loses_the_race_tells_the_truth(
        make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, first: str) -> None:
    """``accept`` read the duel as pending and past its expiry, but the sweep or a decline
    closed it before accept's own expiry could: the reply says what happened, nothing moves
    twice and the target gets no second PM."""
    app = await gambling_app(make_app)
    await duel(app)
    games = plugin(app).challenges
    found = games.oldest_for

    async def stale(channel: str, username: str) -> Challenge | None:
        snapshot = await found(channel, username)
        if snapshot is not None:  # the other party gets there first
            if first == "sweep":
                assert await games.sweep() == 1
            else:
                assert await games.close(snapshot, "declined") is not None
        return snapshot

    monkeypatch.setattr(games, "oldest_for", stale)
    await expire_unswept(app)
    app.clear()
    [reply] = await app.pm("bob", "accept")
    if first == "sweep":
        assert reply == "⌛ alice's challenge had already expired; their stake went back to them."
        swept = "⌛ alice's challenge to you expired."  # the sweep's notice, and no other
        assert sorted(app.pms_to("bob")) == sorted([reply, swept])
        assert sum("didn't answer" in m for m in app.pms_to("alice")) == 1
    else:
        assert reply == "🙅 You already declined alice's challenge."
        assert app.pms_to("bob") == [reply]
    refunds = [p for p in await postings(app, "alice") if p.type == "refund"]
    assert len(refunds) == 1 and await app.balance("alice") == 1000
    assert await gamble_postings(app, "bob") == []


async def test_expired_accept_is_one_reply_and_no_pm(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    await duel(app)
    await expire_unswept(app)
    app.clear()
    [reply] = await app.pm("bob", "accept")
    assert reply == "⌛ alice's challenge expired; their stake went back to them."
    assert app.pms_to("bob") == [reply]
    assert sum("didn't answer" in m for m in app.pms_to("alice")) == 1
    assert await app.balance("alice") == 1000


async def test_accepter_short_inside_the_settlement_keeps_the_duel(
        make_app: MakeApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pre-check passes, then the accepter's balance drops before the settlement: its escrow
    fails inside the transaction, the claim rolls back, nothing moves, the duel stays open."""
    from economy_plugins.gambling import challenges

    app = await gambling_app(make_app)
    d = await duel(app)
    check = challenges.check_player

    async def then_spend(*args: Any) -> str | None:
        refusal = await check(*args)
        await app.ledger.debit(CHANNEL, "bob", 950, reason="spent meanwhile")
        return refusal

    monkeypatch.setattr(challenges, "check_player", then_spend)
    force(app)  # no roll may be used
    [reply] = await app.pm("bob", "accept")
    assert "can't afford" in reply and "stays open" in reply
    assert await status_of(app, d.id) == "pending"
    assert await app.balance("bob") == 50 and await app.balance("alice") == 900
    assert await gamble_postings(app, "bob") == [("spend", -950)]
    assert [e.username for e in await open_gambling_escrows(app)] == ["alice"]
    monkeypatch.undo()
    await app.ledger.credit(CHANNEL, "bob", 950, type="admin_grant", kind=Kind.EARN)
    force(app, 0.1)
    assert "You lost" in (await app.pm("bob", "accept"))[0]
    assert await app.balance("alice") == 1090 and await app.balance("bob") == 900
    assert await app.ledger.verify() == []


# -- accept × accept, decline × accept --------------------------------------------------------


async def test_two_accepts_racing(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    await duel(app)
    force(app, 0.1, 0.1)
    games = plugin(app).challenges
    replies = await asyncio.gather(games.accept(CHANNEL, "bob"), games.accept(CHANNEL, "bob"))
    assert sum("You lost" in r for r in replies) == 1
    assert await gamble_postings(app, "bob") == [("wager", -100)]
    assert [p.amount for p in await postings(app, "alice") if p.type == "gamble_win"] == [190]
    assert await app.balance("alice") == 1090 and await app.balance("bob") == 900
    a, b = await money(app)
    assert a == b


async def test_the_same_snapshot_settled_twice_pays_once(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    d = await duel(app)
    force(app, 0.1, 0.1)
    games = plugin(app).challenges
    await games.settle(d, "bob")
    with pytest.raises(Refused):
        await games.settle(d, "bob")
    assert await app.balance("alice") == 1090 and await app.balance("bob") == 900


async def test_decline_racing_accept(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    await duel(app)
    force(app, 0.1)
    games = plugin(app).challenges
    declined, accepted = await asyncio.gather(games.decline(CHANNEL, "bob"),
                                              games.accept(CHANNEL, "bob"))
    did_decline = declined.startswith("You declined")
    did_accept = "the duel" in accepted
    assert did_decline != did_accept
    total = await app.balance("alice") + await app.balance("bob")
    assert total == (1990 if did_accept else 2000)
    assert await open_gambling_escrows(app) == []
    a, b = await money(app)
    assert a == b


async def test_stale_decline_after_accept_refunds_nothing(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    d = await duel(app)
    force(app, 0.7)
    games = plugin(app).challenges
    await games.settle(d, "bob")
    assert await games.close(d, "declined") is None
    assert [p for p in await postings(app, "alice") if p.type == "refund"] == []


# -- heists ------------------------------------------------------------------------------------


async def test_heist_window_end_racing_a_join_and_a_second_finish(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, {"heist": {"enabled": True}},
                             users=("alice", "bob", "carol", "dave"))
    await app.pm("alice", "heist 100")
    await app.chat("bob", "join")
    await app.chat("carol", "join")
    heists = plugin(app).heists
    heist = await heists.open_heist(CHANNEL)
    assert heist is not None
    force(app, 0.1)
    outcomes = await asyncio.gather(heists.join(heist, "dave"), heists.finish(heist.id),
                                    heists.finish(heist.id))
    finished = [o for o in outcomes[1:] if o is not None]
    assert len(finished) == 1
    crew = {m.username for m in finished[0].members}
    if "dave" in crew:
        assert "You're in" in outcomes[0]
    else:
        assert await app.balance("dave") == 1000 and await gamble_postings(app, "dave") == []
    paid = [p for u in ("alice", "bob", "carol", "dave") for p in await postings(app, u)
            if p.type == "gamble_win"]
    assert len(paid) == len(crew)
    assert await open_gambling_escrows(app) == []
    a, b = await money(app)
    assert a == b
    assert plugin(app).channel_games.running(CHANNEL) is None


async def test_heist_window_job_missing_is_finished_by_the_sweep(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, {"heist": {"enabled": True}})
    await app.pm("alice", "heist 100")
    for job in list(app.app.scheduler._jobs):
        if job.name.startswith("heist:"):  # the window job and the watch
            job.cancel()
    await app.advance(120 + 75)
    assert await app.balance("alice") == 1000
    assert await open_gambling_escrows(app) == []
    assert plugin(app).channel_games.running(CHANNEL) is None


# -- restarts ----------------------------------------------------------------------------------


async def test_orphaned_escrow_is_refunded_at_start_up(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    await duel(app, "carol", "bob")  # a live game: kept
    held = await plugin(app).ctx.ledger.escrow(CHANNEL, "alice", 300, purpose="gambling.spin",
                                               type="wager", kind=Kind.GAMBLE)
    assert held.ok  # as if the bot died between a stake and its settlement
    app = await app.restart()
    assert await app.balance("alice") == 1000
    assert any("refunded" in m for m in app.pms_to("alice"))
    assert [e.username for e in await open_gambling_escrows(app)] == ["carol"]
    force(app, 0.1)
    assert "You lost" in (await app.pm("bob", "accept"))[0]


async def test_stakes_in_a_channel_dropped_from_the_config_are_refunded(
        make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    ledger = plugin(app).ctx.ledger
    await app.app.ledger.credit("oldchan", "alice", 500, type="admin_grant", kind=Kind.EARN)
    held = await ledger.escrow("oldchan", "alice", 200, purpose="gambling.spin", type="wager",
                               kind=Kind.GAMBLE)
    assert held.ok and await app.app.ledger.balance("oldchan", "alice") == 300
    app = await app.restart()  # "oldchan" is not configured: refunded, nobody to tell there
    assert await app.app.ledger.balance("oldchan", "alice") == 500
    assert await app.app.ledger.open_escrows("oldchan") == []
    assert await app.app.ledger.verify() == []


async def test_duel_that_expired_while_down_is_refunded_at_start_up(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    await duel(app)
    for job in list(app.app.scheduler._jobs):  # as if the bot were down: no sweep runs
        if job.owner == "gambling":
            job.cancel()
    await app.advance(300)
    assert await app.balance("alice") == 900
    app = await app.restart()
    assert await app.balance("alice") == 1000
    assert any("didn't answer" in m for m in app.pms_to("alice"))
    assert any("expired" in m for m in app.pms_to("bob"))
    assert await open_gambling_escrows(app) == []


# -- the free spin ------------------------------------------------------------------------------


async def test_two_free_spins_at_once_pay_once(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    force(app, 0.0, 0.0, 0.0, 0.0)  # cherries: 150 Z each time a spin really rolls
    by_pm = await asyncio.gather(app.pm("alice", "spin"), app.pm("alice", "spin"))
    # the router takes one user's PMs in turn; called directly, both pass the pre-check and
    # the day counter bumped in the paying transaction stops the second
    games = plugin(app).instant
    direct = await asyncio.gather(games.free_spin(CHANNEL, "bob", "usage"),
                                  games.free_spin(CHANNEL, "bob", "usage"))
    for replies in ([r for [r] in by_pm], list(direct)):
        assert sum("Free spin" in r for r in replies) == 1
        assert sum("used for today" in r for r in replies) == 1
    day = app.clock.local_date(app.app.tz)
    for user in ("alice", "bob"):
        assert await gamble_postings(app, user) == [("gamble_win", 150)]
        assert await app.balance(user) == 1150
        assert (await app.ledger.daily(CHANNEL, user, day))["free_spin_used"] == 1
