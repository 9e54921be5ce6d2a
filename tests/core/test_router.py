"""The PM router through a real app: gates, usage lines, errors, rate limit — and a hypothesis
fuzz showing that no PM, however malformed, crashes the bot or moves money."""

from __future__ import annotations

import itertools
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from economy_core.testing import AppHarness, MakeApp
from tests.support import Bank, Gatekeeper

CHANNEL = "testroom"


async def bank_app(make_app: MakeApp, **kwargs: object) -> AppHarness:
    return await make_app(plugins=[Bank, Gatekeeper], **kwargs)


async def test_help_lists_commands_compactly_and_explains_one(make_app: MakeApp) -> None:
    app = await bank_app(make_app)
    [text] = await app.pm("alice", "help")
    assert "tip" in text and "flip" in text and "about" in text
    assert "say" not in text  # admin only, alice is not an admin
    assert len(text) <= 240
    [one] = await app.pm("alice", "help tip")
    assert "Usage: tip @target <amount>" in one and "give" in one
    [admin_help] = await app.pm("boss", "help", rank=4)
    assert "say" in admin_help


async def test_unknown_command_hints_at_help_and_case_is_ignored(make_app: MakeApp) -> None:
    app = await bank_app(make_app)
    [reply] = await app.pm("alice", "foobar")
    assert "Unknown" in reply and "help" in reply
    [reply] = await app.pm("alice", "GRANT_ME")
    assert "granted" in reply


async def test_bad_arguments_reply_usage_and_charge_nothing(make_app: MakeApp) -> None:
    app = await bank_app(make_app, config={"commands": {"rate_limit_per_minute": 100}})
    await app.pm("alice", "grant_me")
    for text in ["tip @bob -5", "tip @bob 0", "tip @bob abc", "tip", "tip @bob",
                 "flip 1e9", "flip 10000000000000", "flip", "flip 5 6", "tip @b@b 5"]:
        [reply] = await app.pm("alice", text)
        assert "Usage:" in reply, text
    assert await app.balance("alice") == 1000
    assert app.plugin("bank").calls == []
    assert await app.ledger.verify() == []


async def test_admin_gate_uses_the_rank_known_from_the_room(make_app: MakeApp) -> None:
    app = await bank_app(make_app)
    assert await app.pm("alice", "say hi") == ["⛔ Admin only."]
    await app.join("boss", rank=4)
    assert await app.pm("boss", "say hi there") == ["said: hi there"]


async def test_ban_gate_and_before_command_refusal(make_app: MakeApp) -> None:
    app = await bank_app(make_app)
    await app.app.identity.ban(CHANNEL, "mallory", by="boss", reason="spam", at=app.clock.now())
    [reply] = await app.pm("Mallory", "grant_me")
    assert "suspended" in reply
    assert await app.balance("mallory") == 0
    assert await app.pm("blocked", "grant_me") == ["🚧 Not you."]
    assert await app.balance("blocked") == 0


async def test_exception_in_a_command_apologises_and_the_bot_keeps_going(
        make_app: MakeApp) -> None:
    app = await make_app(plugins=[Bank], strict=False)
    [reply] = await app.pm("alice", "boom")
    assert "went wrong" in reply
    assert "granted" in (await app.pm("alice", "grant_me"))[0]
    metrics = app.app.metrics.render()
    assert 'command="boom"' in metrics and 'outcome="error"' in metrics


async def test_rate_limit_is_a_sliding_minute(make_app: MakeApp) -> None:
    app = await bank_app(make_app)
    for _ in range(10):
        assert "Unknown" in (await app.pm("alice", "nothing"))[0]
    [reply] = await app.pm("alice", "grant_me")
    assert "Slow down" in reply
    assert await app.balance("alice") == 0
    assert "granted" in (await app.pm("bob", "grant_me"))[0]  # per user
    await app.advance(61)
    assert "granted" in (await app.pm("alice", "grant_me"))[0]


async def test_empty_and_huge_pms(make_app: MakeApp) -> None:
    app = await bank_app(make_app)
    assert await app.pm("alice", "") == []
    assert await app.pm("alice", "   ") == []
    [reply] = await app.pm("alice", "tip @bob 5 " + "x" * 10_000)
    assert "too long" in reply


async def test_quiet_mode_mutes_notices_but_not_replies(make_app: MakeApp) -> None:
    app = await bank_app(make_app)
    assert "Quiet mode on" in (await app.pm("alice", "quiet"))[0]
    app.app.outbox.notify(CHANNEL, "alice", "a notice")
    app.app.outbox.notify(CHANNEL, "alice", "a tip arrived", transactional=True)
    await app.settle()
    sent = app.pms_to("alice")
    assert "a notice" not in "\n".join(sent)
    assert any("a tip arrived" in m for m in sent)
    assert "back on" in (await app.pm("alice", "unmute"))[0]


async def test_about_reports_version_and_uptime(make_app: MakeApp) -> None:
    app = await bank_app(make_app)
    await app.advance(hours=2)
    [reply] = await app.pm("alice", "about")
    assert "cytube-economy" in reply and "2h" in reply


FUZZ_DB = itertools.count()
COMMAND_WORDS = ["tip", "give", "flip", "help", "about", "say", "boom", "quiet"]
junk = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
words = st.one_of(
    st.sampled_from(["@bob", "bob", "-5", "0", "1e9", "5", "99999999999999999", "@", "@@x",
                     '"', "@ALICE", "1.5", "١٢", "𝟓", "NaN", "\u202e5", "\x00"]),
    st.text(alphabet=string.printable, max_size=10),
    junk)
pm_text = st.builds(lambda cmd, args: " ".join([cmd, *args]),
                    st.sampled_from(COMMAND_WORDS) | junk, st.lists(words, max_size=4))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(pm_text, min_size=1, max_size=8))
async def test_fuzzed_pms_never_crash_or_move_money(make_app: MakeApp,
                                                    texts: list[str]) -> None:
    app = await make_app(plugins=[Bank], config={"commands": {"rate_limit_per_minute": 1000}},
                         db=f"fuzz-{next(FUZZ_DB)}.db", strict=False)
    await app.pm("alice", "grant_me")
    await app.pm("bob", "grant_me")
    for text in texts:
        replies = await app.pm("alice", text)
        assert all(isinstance(r, str) and r for r in replies)
    total = await app.ledger.circulation(CHANNEL)
    flips = [p for p in await app.ledger.history(CHANNEL, "alice", limit=1000)
             if p.type == "bank_stake"]
    assert total == 2000 - sum(-p.amount for p in flips)
    assert await app.ledger.verify() == []
    errors = [line for line in app.app.metrics.render().splitlines()
              if 'outcome="error"' in line and 'command="boom"' not in line]
    assert errors == []
    await app.app.stop()
