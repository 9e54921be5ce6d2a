"""The issue's bad-input table: each gets a clear reply and moves no Z (no posting, no escrow,
no public line)."""

from __future__ import annotations

import pytest
from economy_plugins.tipping import Tipping
from economy_plugins.vanity_shop import VanityShop

from economy_core.testing import MakeApp

from .test_social_kit import CHANNEL, social_app

CASES = [
    ("alice", "tip @bob -5", "A tip is a whole number from 1 Z up"),
    ("alice", "tip @bob 1e9", "amount: expected a whole number, got '1e9'"),
    ("alice", "tip @bob abc", "amount: expected a whole number, got 'abc'"),
    ("alice", "tip @ghost 5", "ghost has no account here yet"),
    ("newbie", "tip @alice 5", "once you have been here 30 minutes"),
    ("alice", "tip @bob 99999999999999999", "too large"),
    ("alice", "buy color #000000", "too dark to read"),
    ("alice", "buy color blurple", "No colour called 'blurple'"),
    ("alice", "buy gif javascript:alert(1)", "must be an http:// or https:// link"),
    ("alice", "buy title " + "t" * 500, "at most 100 characters (yours has 500)"),
    ("alice", "buy greeting <marquee>hi</marquee>", "cannot contain HTML"),
    ("alice", "shoutout <script>alert(1)</script>", "cannot contain HTML"),
    ("alice", "buy rename $$$", "letters, digits"),
    ("alice", "buy", "Usage: buy <item>"),
    ("alice", "tip", "user is missing"),
]


@pytest.mark.parametrize(("user", "command", "expected"), CASES,
                         ids=[c[1][:30] for c in CASES])
async def test_bad_input_is_refused_and_moves_nothing(make_app: MakeApp, user: str,
                                                      command: str, expected: str) -> None:
    app = await social_app(make_app, plugins=[Tipping, VanityShop])
    await app.app.members.seen(CHANNEL, ["newbie"])  # first seen just now (1 minute old below)
    await app.ledger.credit(CHANNEL, "newbie", 100, type="admin_grant")
    await app.advance(minutes=1)
    before = {u: await app.balance(u) for u in ("alice", "bob", "newbie")}
    count = len(await app.ledger.history(CHANNEL, user, limit=1000))
    [reply] = await app.pm(user, command)
    assert expected in reply
    assert {u: await app.balance(u) for u in before} == before
    assert len(await app.ledger.history(CHANNEL, user, limit=1000)) == count
    assert await app.ledger.open_escrows(CHANNEL) == [] and app.chat_lines() == []
