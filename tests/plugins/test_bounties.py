"""Bounties: SPEC §3.14 — posting into escrow, the list, an admin's claim, the hourly expiry
with a partial refund and a visible burn, and the claim/expiry race (RELIABILITY 28)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from economy_plugins.bounties import Bounties

from economy_core.clock import FakeClock
from economy_core.ledger import Kind
from economy_core.testing import AppHarness, MakeApp

from ..crash import at_every_commit

CHANNEL = "testchan"
START = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)


async def bounty_app(make_app: MakeApp, config: dict[str, Any] | None = None, *,
                     users: dict[str, int] | None = None, db: str = "economy.db",
                     start: datetime = START) -> AppHarness:
    app = await make_app(plugins=["wallet", Bounties], config={"plugins": {
        "bounties": config or {}}}, channel=CHANNEL, db=db, clock=FakeClock(start))
    for user, amount in (users or {"alice": 1000, "bob": 100, "carol": 100}).items():
        await app.ledger.credit(CHANNEL, user, amount, type="admin_grant", kind=Kind.CORRECTION)
    return app


def plugin(app: AppHarness) -> Bounties:
    found: Bounties = app.plugin("bounties")
    return found


async def types(app: AppHarness, user: str) -> list[tuple[str, int]]:
    postings = await app.ledger.history(CHANNEL, user, limit=1000)
    return [(p.type, p.amount) for p in reversed(postings) if p.source == "bounties"]


async def total(app: AppHarness) -> int:
    """Everything the users hold plus everything still held in bounty escrows."""
    held = sum(e.amount for e in await app.ledger.open_escrows(CHANNEL))
    return int(await app.ledger.circulation(CHANNEL)) + held


# -- posting and listing --------------------------------------------------------------------------


async def test_a_bounty_is_posted_listed_and_claimed(make_app: MakeApp) -> None:
    app = await bounty_app(make_app)
    reply = await app.pm("alice", 'bounty 500 "find the lost episode of Night of the Lepus"')
    assert reply == ["📌 Bounty #1 posted: 500 Z held until Tue 10 Mar 20:00 UTC. An admin "
                     "awards it with claim_bounty 1 @winner. Balance: 500 Z"]
    assert app.chat_lines() == ["📌 alice posted bounty #1 for 500 Z-Coins: find the lost "
                                "episode of Night of the Lepus"]
    [held] = await app.ledger.open_escrows(CHANNEL)
    assert (held.amount, held.type, held.username) == (500, "bounty_create", "alice")
    await app.advance(hours=3)
    listing = await app.pm("bob", "bounties")
    assert listing == ["📌 Open bounties (1):\n#1 500 Z — find the lost episode of Night of "
                       "the Lepus (alice, 3h)"]
    assert await app.pm("carol", "claim_bounty 1 @bob", rank=4) == [
        "✅ Bounty #1 (500 Z) paid to bob."]
    assert await types(app, "bob") == [("bounty_claim", 500)]
    assert await app.balance("bob") == 600 and await app.balance("alice") == 500
    assert app.pms_to("bob")[-1].startswith("🎯 You won alice's bounty #1")
    assert app.pms_to("alice")[-1] == "🎯 Your bounty #1 went to bob (500 Z)."
    assert app.chat_lines()[-1] == "🎯 bob won alice's bounty #1: +500 Z-Coins!"
    posting = (await app.ledger.history(CHANNEL, "bob", limit=1))[0]
    assert (posting.kind, posting.trigger_id, posting.related_user) == (
        Kind.EARN, "bounty.claim.1", "alice")
    assert "factor" not in posting.metadata
    assert await app.pm("bob", "bounties") == [
        "📌 No open bounties. Post one: bounty <amount> <description>"]
    assert await app.ledger.open_escrows(CHANNEL) == []
    assert await app.ledger.verify() == []


async def test_the_list_shows_fifteen_newest_with_short_texts(make_app: MakeApp) -> None:
    users = {f"u{n}": 1000 for n in range(6)}
    app = await bounty_app(make_app, users=users)
    for n in range(18):
        await app.pm(f"u{n % 6}", f"bounty 100 task {n} " + "x" * 80)
        await app.advance(minutes=30)
    lines = (await app.pm("u0", "bounties"))[0].splitlines()
    assert lines[0] == "📌 Open bounties (18):"
    assert len(lines) == 17 and lines[-1] == "…and 3 more"
    assert lines[1].startswith("#18 100 Z — task 17 xxx") and lines[1].endswith("x… (u5, 30m)")
    assert lines[-2].endswith("(u3, 7h)") and lines[-2].startswith("#4 ")


@pytest.mark.parametrize(("text", "reply"), [
    ("bounty -5 x", "📌 A bounty is 100 Z to 50,000 Z, not -5."),
    ("bounty 50 a small favour", "📌 A bounty is 100 Z to 50,000 Z, not 50."),
    ("bounty 60000 a big favour", "📌 A bounty is 100 Z to 50,000 Z, not 60,000."),
    ("bounty 100", "description is missing\nUsage: bounty <amount> <description…>"),
    ('bounty 100 ""', "description is missing\nUsage: bounty <amount> <description…>"),
    ("bounty abc do it", "amount: expected a whole number, got 'abc'"),
    ("bounty", "amount is missing\nUsage: bounty <amount> <description…>"),
    ("bounty 200 " + "y" * 201, "📌 The description is 201 characters; at most 200, please."),
    ("bounty 2000 more than I have", "💸 Not enough coins: you have 1,000 Z, the bounty is "
                                     "2,000 Z."),
])
async def test_bad_bounties_get_a_clear_reply_and_move_nothing(make_app: MakeApp, text: str,
                                                               reply: str) -> None:
    app = await bounty_app(make_app)
    answer = await app.pm("alice", text)
    assert len(answer) == 1 and answer[0].startswith(reply)
    assert await app.balance("alice") == 1000
    assert await app.ledger.open_escrows(CHANNEL) == []
    assert app.chat_lines() == []


async def test_open_bounties_per_user_are_limited(make_app: MakeApp) -> None:
    app = await bounty_app(make_app)
    for n in range(3):
        assert (await app.pm("alice", f"bounty 100 job {n}"))[0].startswith("📌 Bounty #")
    assert await app.pm("alice", "bounty 100 job 3") == [
        "📌 You have 3 open bounties already (at most 3): wait until one is claimed or "
        "expires."]
    assert await app.balance("alice") == 700
    await app.pm("carol", "claim_bounty 2 @bob", rank=4)
    assert (await app.pm("alice", "bounty 100 job 3"))[0].startswith("📌 Bounty #4")


async def test_switched_off_bounties_refuse_new_ones(make_app: MakeApp) -> None:
    app = await bounty_app(make_app, {"enabled": False})
    assert await app.pm("alice", "bounty 100 x") == ["📌 Bounties are switched off here."]


# -- claiming -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "rank", "reply"), [
    ("claim_bounty 999 @bob", 4, "❓ Bounty #999 not found."),
    ("claim_bounty #999 @bob", 4, "❓ Bounty #999 not found."),
    ("claim_bounty abc @bob", 4, "❓ 'abc' is not a bounty id"),
    ("claim_bounty 1 @alice", 4, "🙃 alice posted bounty #1: its creator can't win it."),
    ("claim_bounty 1 @ALICE", 4, "🙃 alice posted bounty #1: its creator can't win it."),
    ("claim_bounty 1 @alice_alt", 4, "🙃 alice posted bounty #1: its creator can't win it."),
    ("claim_bounty 1 @dave", 4, "⛔ dave can't win a bounty right now"),
    ("claim_bounty 1 @nobody", 4, "❓ I don't know anyone called nobody here."),
    ("claim_bounty 1 @ZCoinBot", 4, "🤖 ZCoinBot can't win a bounty."),
    ("claim_bounty 1", 4, "winner is missing"),
    ("claim_bounty 1 @bob", 1, "⛔ Admin only."),
])
async def test_bad_claims_get_a_clear_reply_and_move_nothing(make_app: MakeApp, text: str,
                                                             rank: int, reply: str) -> None:
    app = await bounty_app(make_app, users={"alice": 1000, "alice_alt": 10, "bob": 100,
                                            "dave": 10})
    await app.app.identity.ban(CHANNEL, "dave", by="admin", reason="test", at=START)

    async def userstats(subject: str, payload: dict[str, Any], timeout: float) -> Any:
        if payload["username"].lower() in ("alice", "alice_alt"):
            return {"success": True, "data": {"canonical": "alice", "aliases": ["alice_alt"]}}
        return {"success": True, "data": {"aliases": []}}

    app.app.aliases._request = userstats
    await app.pm("alice", "bounty 300 fix the subtitles")
    answer = await app.pm("carol", text, rank=rank)
    assert len(answer) == 1 and answer[0].startswith(reply)
    assert [e.amount for e in await app.ledger.open_escrows(CHANNEL)] == [300]
    assert (await app.balance("alice"), await app.balance("bob")) == (700, 100)


async def test_a_claimed_bounty_cannot_be_claimed_again(make_app: MakeApp) -> None:
    app = await bounty_app(make_app)
    await app.pm("alice", "bounty 300 fix the subtitles")
    await app.pm("carol", "claim_bounty 1 @bob", rank=4)
    assert await app.pm("carol", "claim_bounty 1 @carol", rank=4) == [
        "Bounty #1 is already claimed."]
    assert await app.balance("bob") == 400 and await app.balance("carol") == 100


async def test_a_present_newcomer_can_win(make_app: MakeApp) -> None:
    app = await bounty_app(make_app)
    await app.pm("alice", "bounty 300 fix the subtitles")
    await app.join("newbie")
    assert await app.pm("carol", "claim_bounty 1 @newbie", rank=4) == [
        "✅ Bounty #1 (300 Z) paid to newbie."]
    assert await app.balance("newbie") == 300


# -- expiry ---------------------------------------------------------------------------------------


async def test_an_overdue_bounty_expires_with_half_back_and_the_rest_burned(
        make_app: MakeApp) -> None:
    app = await bounty_app(make_app)
    await app.pm("alice", "bounty 301 fix the subtitles")
    before = await total(app)
    await app.advance(hours=167, minutes=59)
    assert len(await app.ledger.open_escrows(CHANNEL)) == 1
    await app.advance(hours=1)  # the hourly sweep after the expiry
    assert await types(app, "alice") == [("bounty_create", -301), ("refund", 301),
                                         ("bounty_expired", -151)]
    postings = await app.ledger.history(CHANNEL, "alice", limit=3)
    refund, burn = postings[1], postings[0]
    assert (refund.type, refund.amount, burn.type, burn.amount) == ("refund", 301,
                                                                    "bounty_expired", -151)
    assert burn.reason == "bounty #1 expired: 50 % burned"
    assert await app.balance("alice") == 699 + 150
    assert await total(app) == before - 151  # exactly the burned part left circulation
    assert app.pms_to("alice")[-1] == ("⌛ Your bounty #1 expired unclaimed: 150 Z back "
                                       "(50 %), 151 Z burned. Balance: 849 Z")
    assert await app.ledger.open_escrows(CHANNEL) == []
    assert await app.pm("carol", "claim_bounty 1 @bob", rank=4) == [
        "Bounty #1 is already expired."]
    assert await app.ledger.verify() == []


@pytest.mark.parametrize(("percent", "back"), [(0, 0), (100, 500), (33, 165)])
async def test_the_refund_percent_is_configurable(make_app: MakeApp, percent: int,
                                                  back: int) -> None:
    app = await bounty_app(make_app, {"expiry_refund_percent": percent,
                                      "default_expiry_hours": 1})
    await app.pm("alice", "bounty 500 x")
    await app.advance(hours=2)
    assert await app.balance("alice") == 500 + back
    assert await app.ledger.verify() == []


async def test_a_claim_after_the_expiry_time_expires_it(make_app: MakeApp) -> None:
    app = await bounty_app(make_app, {"default_expiry_hours": 1})
    await app.pm("alice", "bounty 200 x")
    await app.clock.set(START + timedelta(minutes=60, seconds=10))  # before the sweep
    assert await app.pm("carol", "claim_bounty 1 @bob", rank=4) == [
        "Bounty #1 is already expired."]
    assert await app.balance("bob") == 100 and await app.balance("alice") == 900


async def test_bounties_survive_a_restart_and_expire_after_it(make_app: MakeApp) -> None:
    app = await bounty_app(make_app, {"default_expiry_hours": 2})
    await app.pm("alice", "bounty 200 x")
    await app.app.stop()
    await app.clock.set(START + timedelta(hours=5))
    app = await app.restart()
    await app.advance(seconds=1)  # the start-up sweep
    assert await app.balance("alice") == 900
    assert await app.ledger.open_escrows(CHANNEL) == []


# -- exactly once ---------------------------------------------------------------------------------


async def test_a_claim_racing_the_expiry_settles_each_bounty_once(make_app: MakeApp) -> None:
    app = await bounty_app(make_app, users={"alice": 10_000, "al": 10_000, "bob": 1})
    bounties = plugin(app)
    for n in range(8):
        await app.pm("alice" if n % 2 else "al", f"bounty 200 job {n}")
    found = await bounties.open_bounties(CHANNEL)
    checked = {b.id: asyncio.Event() for b in found}
    judge = bounties._winner

    async def checking(bounty: Any, winner: str) -> str:
        name = await judge(bounty, winner)
        checked[bounty.id].set()  # the claim goes to its transaction next
        return name

    bounties._winner = checking  # type: ignore[method-assign]

    async def expire(bounty: Any, head_start: bool) -> Any:
        if head_start:  # half of the races: the claim has passed its checks
            await checked[bounty.id].wait()
        return await bounties.expire(bounty)

    results = await asyncio.gather(*(
        [bounties.claim(CHANNEL, b.id, "bob", "carol") for b in found]
        + [expire(b, n % 2 == 1) for n, b in enumerate(found)]), return_exceptions=True)
    claims, expiries = results[:len(found)], results[len(found):]
    for claim, expiry in zip(claims, expiries, strict=True):
        assert isinstance(claim, str) != (expiry is not None), (claim, expiry)
    won = sum(isinstance(c, str) for c in claims)
    assert 0 < won < len(found)  # both sides won some races
    assert await app.balance("bob") == 1 + 200 * won
    assert await app.ledger.open_escrows(CHANNEL) == []
    for bounty in await bounties.open_bounties():
        raise AssertionError(f"still open: {bounty}")
    assert await app.ledger.verify() == []


async def test_bounties_settle_once_whatever_commit_a_crash_hits(make_app: MakeApp) -> None:
    async def build(db: str) -> AppHarness:
        return await bounty_app(make_app, {"default_expiry_hours": 1}, db=db)

    steps = [("pm", "alice", "bounty 200 first"), ("pm", "alice", "bounty 300 second"),
             ("wait", 2), ("pm", "alice", "bounty 100 third"),
             ("pm", "carol", "claim_bounty 3 @bob"), ("wait", 1)]

    async def check(app: AppHarness, point: int | None) -> None:
        assert await app.ledger.verify() == []
        await app.advance(hours=2)  # whatever the restart left open expires now
        rows = await plugin(app).open_bounties()
        assert rows == [], point
        assert await app.ledger.open_escrows(CHANNEL) == [], point
        postings = [(p.type, p.amount) for p in await app.ledger.history(CHANNEL, "alice", 100)
                    if p.source == "bounties"]
        created = [a for t, a in postings if t == "bounty_create"]
        expired = sum(1 for t, _ in postings if t == "bounty_expired")
        bob = await types(app, "bob")
        # each posted bounty is settled once: expired (with its burn) or won by bob
        assert expired + len(bob) == len(created), (point, postings, bob)
        assert all(amount == 100 for _, amount in bob), point
        burned = -sum(a for t, a in postings if t == "bounty_expired")
        assert burned == sum(-a - (-a * 50 // 100) for a in created) - (50 if bob else 0)
        assert await app.ledger.circulation(CHANNEL) == 1200 - burned, point

    await at_every_commit(build, steps, check, at_least=4)
