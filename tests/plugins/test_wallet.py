"""Wallet: balance, history, leaderboards, profile and rewards, assembled from other plugins'
hook answers, through the real router and ledger."""

from __future__ import annotations

from economy_core.hookspecs import hookimpl
from economy_core.hooktypes import ProfileField
from economy_core.testing import AppHarness, MakeApp

CHANNEL = "testchan"


class FakeRanks:
    """Answers the profile hook like a ranks and a streaks plugin would."""

    name = "fakeranks"

    def __init__(self, ctx: object) -> None:
        self.ctx = ctx

    @hookimpl
    def economy_profile_fields(self, channel: str, username: str) -> list[ProfileField]:
        return [ProfileField("rank", "Rank", "Grip", 10),
                ProfileField("streak", "Streak", "3 days 🔥", 20)]

    @hookimpl
    def economy_reward_lines(self, channel: str) -> list[str]:
        return ["Ranks: climb by earning"]


async def wallet_app(make_app: MakeApp, *extra: object) -> AppHarness:
    return await make_app(plugins=["presence", "wallet", *extra], channel=CHANNEL)


async def test_balance_for_a_new_user_is_zero(make_app: MakeApp) -> None:
    app = await wallet_app(make_app)
    assert await app.pm("alice", "balance") == ["💰 alice: 0 Z"]
    assert await app.pm("alice", "BAL") == ["💰 alice: 0 Z"]


async def test_balance_shows_rank_and_streak_when_plugins_answer(make_app: MakeApp) -> None:
    app = await wallet_app(make_app, FakeRanks)
    await app.join("alice")
    [reply] = await app.pm("alice", "balance")
    assert reply == "💰 alice: 100 Z · Rank: Grip · Streak: 3 days 🔥"


async def test_history_is_readable_newest_first_and_bounded(make_app: MakeApp) -> None:
    app = await wallet_app(make_app)
    await app.join("alice")
    await app.advance(minutes=2)
    [reply] = await app.pm("alice", "history")
    lines = reply.splitlines()
    assert lines[0] == "📜 Your last 3:"
    assert lines[1].endswith("+1 Z presence") and lines[3].endswith("+100 Z welcome wallet")
    [reply] = await app.pm("alice", "history 1")
    assert len(reply.splitlines()) == 2
    [reply] = await app.pm("alice", "history 500")
    assert "1 to 20" in reply and "Usage: history [n]" in reply
    [reply] = await app.pm("alice", "history many")
    assert "Usage: history [n]" in reply
    assert await app.pm("nobody", "history") == [
        "📜 No transactions yet. Stay around and chat to earn!"]


async def test_top_categories(make_app: MakeApp) -> None:
    app = await wallet_app(make_app)
    await app.join("alice")
    await app.advance(minutes=5)
    await app.join("bob")
    await app.advance(minutes=1)
    [today] = await app.pm("carol", "top")
    assert today.splitlines() == ["🏆 Top earners today:", "🥇 alice 106 Z", "🥈 bob 101 Z"]
    [rich] = await app.pm("carol", "lb rich")
    assert rich.splitlines()[1] == "🥇 alice 106 Z"
    [life] = await app.pm("carol", "leaderboard lifetime")
    assert "Lifetime" in life and "bob 101 Z" in life
    [bad] = await app.pm("carol", "top ranks")
    assert bad.startswith("Usage: top")


async def test_profile_of_self_other_and_unknown(make_app: MakeApp) -> None:
    app = await wallet_app(make_app, FakeRanks)
    await app.join("Alice")
    await app.advance(minutes=3)
    [mine] = await app.pm("alice", "profile")
    assert mine.splitlines()[0] == "👤 Alice"
    assert "Balance: 103 Z" in mine and "Rank: Grip" in mine and "Here today: 3m" in mine
    [other] = await app.pm("bob", "profile @ALICE")
    assert other == mine
    assert await app.pm("bob", "profile @ghost") == ["No account for ghost yet."]


async def test_rewards_collects_every_plugins_lines(make_app: MakeApp) -> None:
    app = await wallet_app(make_app, FakeRanks)
    [reply] = await app.pm("alice", "rewards")
    assert "1 Z per minute" in reply and "Welcome wallet: 100 Z once" in reply
    assert "Ranks: climb by earning" in reply


async def test_wallet_alone_works_without_presence(make_app: MakeApp) -> None:
    app = await make_app(plugins=["wallet"], channel=CHANNEL)
    assert await app.pm("alice", "rewards") == ["Nothing pays right now."]
    assert await app.pm("alice", "profile") == ["No account for alice yet."]
