"""Bad input (G6): malformed, negative, huge or unicode-junk arguments and impossible targets get
the usage line or a clear refusal, and nothing moves — no posting, no escrow, no cooldown."""

from __future__ import annotations

import pytest

from economy_core.testing import AppHarness, MakeApp

from .test_gambling_kit import CHANNEL, force, gambling_app, open_gambling_escrows, postings

USERS = ("alice", "bob", "carol")


async def snapshot(app: AppHarness) -> list[object]:
    return [[(p.type, p.amount) for p in await postings(app, u)] for u in USERS]


@pytest.mark.parametrize(("text", "expected"), [
    ("spin abc", "Usage: spin"),
    ("spin 0", "minimum spin wager is 10 Z (spin wagers are 10 Z to 500 Z)"),
    ("spin -5", "minimum spin wager is 10 Z (spin wagers are 10 Z to 500 Z)"),
    ("spin ５０", "Usage: spin"),
    ("spin 10 20", "Usage: spin"),
    ("spin 99999999999999999999", "wager: '99999999999999999999' is too large"),
    ("flip -5", "minimum flip wager is 10 Z (flip wagers are 10 Z to 1,000 Z)"),
    ("flip 0", "minimum flip wager is 10 Z (flip wagers are 10 Z to 1,000 Z)"),
    ("flip\t5", "minimum flip wager is 10 Z"),
    ("flip\n5", "minimum flip wager is 10 Z"),
    ("flip 1e9", "Usage: flip <wager>"),
    ("flip", "Usage: flip <wager>"),
    ("flip 1000000000", "maximum flip wager is 1,000 Z"),
    ("flip 2.5", "Usage: flip <wager>"),
    ("flip 💰", "Usage: flip <wager>"),
    ("challenge @alice 10", "can't challenge yourself"),
    ("challenge @ALICE 100", "can't challenge yourself"),
    ("challenge @nobody 10", "don't know anyone called nobody"),
    ("challenge @CyTubeBot 100", "can't be challenged"),
    ("challenge @ZCoinBot 100", "can't be challenged"),
    ("challenge bob", "Usage: challenge @target <wager>"),
    ("challenge @bob abc", "Usage: challenge @target <wager>"),
    ("challenge @b!b 100", "Usage: challenge @target <wager>"),
    ("challenge @bob 10", "minimum challenge wager is 50 Z"),
    ("challenge @bob 5001", "maximum challenge wager is 5,000 Z"),
    ("challenge @bob 2000", "Not enough coins"),
    ("accept now", "Usage: accept"),
    ("accept", "No challenge is waiting"),
    ("decline", "No challenge is waiting"),
    ("heist abc", "Usage: heist <wager>"),
    ("heist -5", "minimum heist wager is 20 Z (heist wagers are 20 Z to 5,000 Z)"),
    ("heist 0", "minimum heist wager is 20 Z (heist wagers are 20 Z to 5,000 Z)"),
    ("heist 10", "minimum heist wager is 20 Z"),
    ("heist 1e3", "Usage: heist <wager>"),
])
async def test_bad_input_moves_nothing(make_app: MakeApp, text: str, expected: str) -> None:
    app = await gambling_app(make_app, {"heist": {"enabled": True}})
    force(app)  # no roll may be drawn
    before = await snapshot(app)
    [reply] = await app.pm("alice", text)
    assert expected in reply
    assert await snapshot(app) == before
    assert await open_gambling_escrows(app) == []
    assert app.chat_lines() == []
    force(app, 0.99)  # no cooldown or daily slot was used
    assert "No luck" in (await app.pm("alice", "spin 10"))[0]


async def test_target_who_cannot_cover_the_wager(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, users=("alice", "bob"))
    await app.ledger.debit(CHANNEL, "bob", 950)
    [reply] = await app.pm("alice", "challenge @bob 100")
    assert "bob can't cover" in reply and await app.balance("alice") == 1000
    assert app.pms_to("bob") == []


async def test_banned_users_neither_play_nor_are_challenged(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    await app.app.identity.ban(CHANNEL, "bob", by="admin", reason="test", at=app.clock.now())
    assert "suspended" in (await app.pm("bob", "spin 10"))[0]
    assert "can't be challenged" in (await app.pm("alice", "challenge @bob 100"))[0]
    assert await app.balance("alice") == 1000 and await app.balance("bob") == 1000


async def test_alias_of_the_challenger_is_refused(make_app: MakeApp) -> None:
    app = await gambling_app(make_app, users=("alice", "alice_alt"))

    async def userstats(subject: str, payload: dict, timeout: float) -> dict:  # type: ignore[type-arg]
        return {"success": True, "data": {"canonical": "alice", "aliases": ["alice_alt"]}}

    app.app.aliases._request = userstats
    [reply] = await app.pm("alice", "challenge @alice_alt 100")
    assert "can't challenge yourself" in reply
    assert await app.balance("alice") == 1000


async def test_no_account_no_game(make_app: MakeApp) -> None:
    app = await gambling_app(make_app)
    [reply] = await app.pm("stranger", "flip 10")
    assert "no account" in reply
    assert await app.ledger.account(CHANNEL, "stranger") is None
