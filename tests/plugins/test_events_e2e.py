"""Events and bounties end to end: a real nats-server, kryten-py on both sides, the bot's clock
at 600× (one simulated minute = 0.1 s). An admin's ×2 event doubles a minute of presence,
``events`` shows it, ``event stop`` ends it; a bounty is posted, listed and claimed; another
expires at the next hourly sweep with half of it back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from economy_core.ledger import Kind
from economy_core.testing import wait_until

FAST = 600.0
CONFIG = {"plugins": {
    "presence": {"base_rate_per_minute": 1, "hourly_milestones": {},
                 "welcome_wallet": {"enabled": False}, "welcome_back": {"enabled": False},
                 "night_watch": {"enabled": False}},
    "events": {"off_peak": {"enabled": False}, "high_population": {"enabled": False},
               "holidays": {"enabled": False}, "scheduled_events": []},
    "bounties": {"default_expiry_hours": 1}}}


async def test_an_event_and_bounties_over_the_wire(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=["presence", "wallet", "events", "bounties"],
                            config=CONFIG, users=[("alice", 4), ("bob", 1), ("carol", 1)],
                            time_scale=FAST, start=datetime(2026, 3, 3, 20, 0, tzinfo=UTC))
    ledger = env.app.ledger
    for user in ("alice", "bob", "carol"):
        await ledger.credit(env.channel, user, 1000, type="admin_grant", kind=Kind.CORRECTION)

    async def minute_pay(user: str) -> list[tuple[int, float]]:
        postings = await ledger.history(env.channel, user, limit=10_000)
        return [(p.amount, p.metadata["factor"]) for p in reversed(postings)
                if p.trigger_id == "presence.base"]

    [reply] = await env.pm("alice", 'event start 2 60 "Double Time"')
    assert reply == "✅ Double Time is on: 2.0× on activity earnings for 60 min."
    await wait_until(lambda: any("started Double Time" in line
                                 for line in env.robot.sent_chat), 10)
    seen: list[tuple[int, float]] = []

    async def doubled() -> bool:
        seen[:] = await minute_pay("bob")
        return (2, 2.0) in seen

    await _until(doubled)
    [shown] = await env.pm("bob", "events")
    assert shown.startswith("🎉 Multipliers now: Double Time 2.0× (until ")
    assert shown.endswith("— combined 2.0×")
    [stopped] = await env.pm("alice", "event stop")
    assert stopped == "⏹️ Stopped: Double Time."
    count = len(seen)

    async def single_again() -> bool:
        seen[:] = await minute_pay("bob")
        return (1, 1.0) in seen[count + 1:]  # a minute that began after the stop

    await _until(single_again)
    assert all(factor in (1.0, 2.0) for _, factor in seen)

    [posted] = await env.pm("bob", "bounty 200 subtitles for the Lepus, please")
    assert posted.startswith("📌 Bounty #1 posted: 200 Z held until ")
    [listing] = await env.pm("carol", "bounties")
    assert listing.startswith("📌 Open bounties (1):\n#1 200 Z — subtitles for the Lepus, "
                              "please (bob, ")
    [paid] = await env.pm("alice", "claim_bounty 1 @carol")
    assert paid == "✅ Bounty #1 (200 Z) paid to carol."
    await wait_until(lambda: any("You won bob's bounty #1" in m for m in env.pms_to("carol")),
                     10)
    carol = [p for p in await ledger.history(env.channel, "carol", limit=10_000)
             if p.type == "bounty_claim"]
    assert [(p.amount, p.trigger_id) for p in carol] == [(200, "bounty.claim.1")]

    [second] = await env.pm("carol", "bounty 300 a poster of the film")
    assert second.startswith("📌 Bounty #2 posted: 300 Z")
    await wait_until(lambda: any("bounty #2 expired unclaimed: 150 Z back" in m
                                 for m in env.pms_to("carol")), 30)
    burned = [(p.type, p.amount) for p in await ledger.history(env.channel, "carol", 10_000)
              if p.source == "bounties"]
    assert burned == [("bounty_expired", -150), ("refund", 300), ("bounty_create", -300),
                      ("bounty_claim", 200)]
    assert await ledger.open_escrows(env.channel) == []
    assert await ledger.verify() == []


async def _until(check: Any, timeout: float = 10.0) -> None:
    """Await an async condition with a bound (polls the ledger; never a fixed sleep)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)
