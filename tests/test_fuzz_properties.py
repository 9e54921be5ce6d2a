"""The fuzz run, as a property: random PMs (huge, negative and fractional numbers, unicode junk,
HTML, null bytes, SQL-ish text, odd whitespace, overlong words) at every installed command, from
users with and without accounts, admins too. Whatever arrives:

- no apology reply ("something went wrong": a command raised);
- no reply repeats more than :data:`ECHO_LIMIT` characters of what the user typed;
- every balance equals the sum of its postings, and Σ balances = Σ postings;
- the bot still answers afterwards.
"""

from __future__ import annotations

import itertools
import os
from difflib import SequenceMatcher

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from economy_core.cli import default_enabled
from economy_core.testing import AppHarness, MakeApp

CHANNEL = "testroom"
ECHO_LIMIT = 30
DB = itertools.count()
USERS = ("alice", "bob", "newcomer")

NUMBERS = st.one_of(
    st.integers(-10**20, 10**20).map(str),
    st.sampled_from(["0", "-0", "+5", "1e9", "2.5", "NaN", "inf", "٣", "５０", "0x10", "10**30",
                     "99999999999999999999999999", "-1", "1_000"]),
)
JUNK = st.one_of(
    st.text(max_size=40),
    st.sampled_from([
        "<script>alert(1)</script>", "&lt;b&gt;", "'; DROP TABLE core_accounts; --",
        "\x00\x00", "🎰🎰🎰", "‮reversed", "@", "@@alice", "@" + "x" * 40, "\u200b",
        "javascript:alert(1)", "https://x.test/a.gif", '"quoted words"', "YES", "yes", "1",
    ]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=200, max_size=600),
)
SPACES = st.sampled_from([" ", "  ", "\t", "\n", " \t "])


@st.composite
def fuzzed_pm(draw: st.DrawFn, words: list[str]) -> str:
    word = draw(st.sampled_from(words))
    if draw(st.booleans()):
        word = word.upper() if draw(st.booleans()) else word.title()
    args = draw(st.lists(st.one_of(NUMBERS, JUNK, st.sampled_from(USERS).map(lambda u: "@" + u)),
                         max_size=4))
    sep = draw(SPACES)
    return word + "".join(sep + a for a in args)


def longest_echo(reply: str, typed: str) -> int:
    """The longest run of characters the reply shares with what the user typed."""
    match = SequenceMatcher(None, reply, typed, autojunk=False).find_longest_match(
        0, len(reply), 0, len(typed))
    return int(match.size)


async def all_words(app: AppHarness) -> list[str]:
    return sorted({w for c in app.app.router.commands() for w in (c.spec.name, *c.spec.aliases)})


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_fuzzed_pms_at_every_command(make_app: MakeApp, data: st.DataObject) -> None:
    app = await make_app(plugins=default_enabled(), db=f"fuzz-all-{next(DB)}.db",
                         config={"commands": {"rate_limit_per_minute": 10_000},
                                 "plugins": {"gambling": {"heist": {"enabled": True},
                                                          "min_account_age_minutes": 0}}})
    await app.seed(["alice", "bob"])
    words = await all_words(app)
    pms = data.draw(st.lists(st.tuples(st.sampled_from(USERS), st.sampled_from([0, 1, 4]),
                                       fuzzed_pm(words)), min_size=5, max_size=30))
    for user, rank, text in pms:
        typed = text.split(None, 1)[1] if len(text.split(None, 1)) > 1 else ""
        replies = await app.pm(user, text, rank=rank)
        for reply in replies:
            assert "Something went wrong" not in reply, (text, reply)
            if len(typed) > ECHO_LIMIT:
                assert longest_echo(reply, typed) <= ECHO_LIMIT, (text, reply)
    await app.advance(minutes=3)
    assert await app.ledger.verify() == []
    async with app.app.engine.connect() as conn:
        balances = await conn.scalar(sa.text("SELECT coalesce(sum(balance), 0) FROM core_accounts"))
        postings = await conn.scalar(sa.text(
            "SELECT coalesce(sum(amount), 0) FROM core_transactions"))
    assert balances == postings
    [about] = await app.pm("alice", "about")
    assert "cytube-economy" in about
    await app.app.stop()  # one app per example: do not keep them all until the test ends
