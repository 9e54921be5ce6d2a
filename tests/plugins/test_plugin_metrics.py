"""The built-in plugins' metric families: per game (plays, staked, paid: the house edge), per
trigger (hits and currency paid), the rank distribution, each checked against the ledger."""

from __future__ import annotations

from economy_core.ledger import Kind
from economy_core.testing import AppHarness, MakeApp
from tests.metrics_kit import total, value

from .test_chat_triggers_kit import CHANNEL as CHAT_CHANNEL
from .test_chat_triggers_kit import chat_room
from .test_events_kit import CHANNEL as EVENTS_CHANNEL
from .test_events_kit import events_app
from .test_gambling_kit import CHANNEL as GAMBLING_CHANNEL
from .test_gambling_kit import force, gambling_app, postings


async def ledger_sum(app: AppHarness, users: tuple[str, ...], posting_type: str) -> int:
    found = 0
    for user in users:
        found += sum(p.amount for p in await postings(app, user) if p.type == posting_type)
    return found


async def test_games_count_plays_stakes_and_payouts_as_the_ledger_moved_them(
        make_app: MakeApp) -> None:
    users = ("alice", "bob", "carol")
    app = await gambling_app(make_app, {"heist": {"enabled": True}}, users=users)
    force(app, 0.171)  # a win
    await app.pm("alice", "spin 20")
    force(app, *[0.99] * 20)  # losses (reels take rolls too)
    await app.pm("bob", "spin 50")
    await app.pm("carol", "spin")  # the free daily spin
    await app.pm("alice", "challenge @bob 100")
    force(app, 0.7)
    await app.pm("bob", "accept")  # pot 200, rake 10: bob gets 190
    force(app, 0.10)
    await app.advance(180)
    await app.pm("alice", "heist 100")
    await app.chat("bob", "join")
    await app.chat("carol", "join")
    await app.advance(130)
    await app.settle()
    page = app.app.metrics.render()

    def game(name: str, game: str) -> float:
        return value(page, f"economy_gambling_{name}_total", game=game)

    assert [game("games", g) for g in ("spin", "free_spin", "challenge", "heist")] == [2, 1, 1, 1]
    every = [p for user in users for p in await postings(app, user)]
    spin_wins = sum(p.amount for p in every
                    if p.type == "gamble_win" and p.metadata.get("game") == "spin")
    assert spin_wins > 0
    assert (game("wagered", "spin"), game("paid", "spin")) == (70, spin_wins)
    assert (game("wagered", "challenge"), game("paid", "challenge")) == (200, 190)
    assert game("wagered", "free_spin") == 0
    assert game("wagered", "heist") == 300
    staked = -await ledger_sum(app, users, "wager")
    paid = await ledger_sum(app, users, "gamble_win")
    assert total(page, "economy_gambling_wagered_total") == staked
    assert total(page, "economy_gambling_paid_total") == paid
    assert total(page, "economy_z_debited_total", source="gambling", type="wager",
                 kind="gamble") == staked


async def test_trigger_counters_match_the_trigger_postings(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    await room.say("bob", "why did the chicken cross the road")
    await room.say("carol", "lmao")
    await room.say("dave", "😂")
    await room.say("carol", "bob++ @dave++")
    await room.settle()
    page = room.app.app.metrics.render()
    paid: dict[str, int] = {}
    for p in await room.all_postings():
        if p.source == "chat_triggers" and p.trigger_id:
            paid[p.trigger_id] = paid.get(p.trigger_id, 0) + p.amount
    assert paid["chat.laugh_received"] == 4
    for trigger, amount in paid.items():
        assert value(page, "economy_chat_triggers_z_total", trigger=trigger) == amount
    assert value(page, "economy_chat_triggers_hits_total", trigger="chat.laugh_received") == 2
    assert total(page, "economy_chat_triggers_z_total") == sum(paid.values())
    assert CHAT_CHANNEL == room.app.channel


async def test_rank_distribution_counts_every_account_at_its_rank(make_app: MakeApp) -> None:
    app = await make_app(plugins=["ranks", "wallet"], channel=GAMBLING_CHANNEL)
    for user, earned in (("alice", 10), ("bob", 1_000), ("carol", 1_500), ("dave", 6_000)):
        await app.ledger.credit(GAMBLING_CHANNEL, user, earned, type="earn", kind=Kind.EARN)
    await app.settle()
    await app.app.refresh_metrics()
    page = app.app.metrics.render()

    def at(rank: str) -> float:
        return value(page, "economy_ranks_distribution", channel=GAMBLING_CHANNEL, rank=rank)

    assert (at("Extra"), at("Grip"), at("Key Grip"), at("Gaffer")) == (1, 2, 1, 0)
    assert total(page, "economy_ranks_distribution") == 4
    assert await app.ledger.account_count(GAMBLING_CHANNEL) == 4


async def test_the_earn_multiplier_gauge_follows_the_active_sources(make_app: MakeApp) -> None:
    app = await events_app(make_app)
    await app.app.refresh_metrics()

    def factor() -> float:
        return value(app.app.metrics.render(), "economy_events_active_multiplier",
                     channel=EVENTS_CHANNEL)

    assert factor() == 1
    await app.pm("alice", 'event start 2.5 60 "Double Time"', rank=4)
    await app.app.refresh_metrics()
    assert factor() == 2.5
    await app.pm("alice", "event stop", rank=4)
    await app.app.refresh_metrics()
    assert factor() == 1
