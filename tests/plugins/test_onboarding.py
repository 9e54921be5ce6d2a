"""Onboarding minimums (SPEC §2.1): ``min_account_age_minutes`` and ``min_messages_to_earn``
withhold earn-class credits from younger or quieter accounts; 0 turns each off.

Through the real router, ledger and presence plugin on a SQLite file, time on the FakeClock.
"""

from __future__ import annotations

import itertools
import sqlite3
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from economy_core import Contract, PluginContext, PostingType
from economy_core.ledger import WITHHELD, Kind
from economy_core.testing import AppHarness, MakeApp

CHANNEL = "testchan"
DATABASES = itertools.count()


async def onboarding_app(make_app: MakeApp, *, age: int = 0, messages: int = 0,
                         **kwargs: object) -> AppHarness:
    config = {"onboarding": {"min_account_age_minutes": age, "min_messages_to_earn": messages}}
    return await make_app(plugins=["presence", "wallet"], config=config, channel=CHANNEL,
                          **kwargs)


async def earn_types(app: AppHarness, user: str) -> list[str]:
    return [p.type for p in reversed(await app.ledger.history(CHANNEL, user, limit=1000))]


async def test_young_account_earns_nothing_until_old_enough(make_app: MakeApp) -> None:
    app = await onboarding_app(make_app, age=60)
    await app.join("alice")
    assert await app.balance("alice") == 0  # no welcome wallet yet
    rewards = "\n".join(await app.pm("alice", "rewards"))
    assert "60 more minute(s)" in rewards
    sent = len(app.pms_to("alice"))
    await app.advance(minutes=59)
    assert await app.balance("alice") == 0
    assert len(app.pms_to("alice")) == sent  # no welcome PM, no milestone PM
    await app.advance(minutes=1)  # 60 minutes old: this tick pays, and the wallet follows
    # the tick's minute, the 1-hour milestone (reached at the same moment), then the wallet
    assert await earn_types(app, "alice") == ["earn", "milestone", "welcome_wallet"]
    assert await app.balance("alice") == 1 + 10 + 100
    await app.advance(90)
    assert any("Welcome!" in m for m in app.pms_to("alice"))
    assert "New here" not in "\n".join(await app.pm("alice", "rewards"))
    assert await app.ledger.verify() == []


async def test_quiet_account_earns_after_enough_chat_lines(make_app: MakeApp) -> None:
    app = await onboarding_app(make_app, messages=3)
    await app.join("bob")
    await app.advance(minutes=2)
    assert await app.balance("bob") == 0
    await app.chat("bob", "hello")
    await app.chat("bob", "anyone here?")
    assert "1 more chat line(s)" in "\n".join(await app.pm("bob", "rewards"))
    app = await app.restart()  # the count survives a restart
    await app.seed(["bob"])
    await app.chat("bob", "third line")
    await app.advance(minutes=1)
    # qualified: the tick pays, and the wallet withheld before the restart follows it
    assert await earn_types(app, "bob") == ["earn", "welcome_wallet"]
    await app.leave("bob")
    await app.advance(minutes=10)
    await app.join("bob")
    assert (await earn_types(app, "bob")).count("welcome_wallet") == 1


async def test_both_minimums_must_be_met(make_app: MakeApp) -> None:
    app = await onboarding_app(make_app, age=10, messages=1)
    await app.join("carol")
    await app.advance(minutes=15)
    assert await app.balance("carol") == 0  # old enough, but silent
    await app.chat("carol", "hi")
    await app.advance(minutes=1)
    assert await app.balance("carol") == 101


class Granter:
    """Declares an earn-class type exempt from the minimums (as an admin plugin's grants are)."""

    name = "granter"
    contract = Contract(posting_types=(
        PostingType("granter_gift", "gift", Kind.EARN, onboarding_exempt=True),
        PostingType("granter_prize", "prize", Kind.EARN),
    ))

    def __init__(self, ctx: PluginContext[None]) -> None:
        self.ctx = ctx


async def test_declared_exempt_types_pass_and_single_credits_report_withheld(
        make_app: MakeApp) -> None:
    app = await make_app(plugins=["presence", "wallet", Granter], channel=CHANNEL, config={
        "onboarding": {"min_account_age_minutes": 60, "exempt_types": ["granter_prize"]}})
    ledger = app.plugin("granter").ctx.ledger
    await app.join("dave")
    withheld = await app.ledger.credit(CHANNEL, "dave", 50, type="earn", kind=Kind.EARN)
    assert (withheld.ok, withheld.error, withheld.postings) == (False, WITHHELD, ())
    granted = await ledger.credit(CHANNEL, "dave", 40, type="granter_gift", kind=Kind.EARN)
    assert granted.ok and await app.balance("dave") == 40
    prize = await ledger.credit(CHANNEL, "dave", 10, type="granter_prize", kind=Kind.EARN)
    assert prize.ok and await app.balance("dave") == 50  # exempt by the operator's config
    # other kinds are never gated: a young account can still be refunded or tipped
    tipped = await app.ledger.credit(CHANNEL, "dave", 5, type="tip_receive",
                                     kind=Kind.TRANSFER)
    assert tipped.ok and await app.balance("dave") == 55
    assert await app.ledger.verify() == []


async def test_accounts_older_than_the_members_record_keep_their_age(make_app: MakeApp) -> None:
    app = await onboarding_app(make_app, age=60)
    # an account the ledger knew before the core recorded the user (e.g. an upgrade)
    await app.ledger.credit(CHANNEL, "erin", 10, type="admin_grant", kind=Kind.EARN)
    await app.advance(hours=2)
    await app.join("erin")
    await app.advance(minutes=1)
    assert "earn" in await earn_types(app, "erin")


async def test_minimums_off_by_default(make_app: MakeApp) -> None:
    app = await make_app(plugins=["presence", "wallet"], channel=CHANNEL)
    await app.join("frank")
    assert await app.balance("frank") == 100
    assert "New here" not in "\n".join(await app.pm("frank", "rewards"))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(["join", "leave", "chat", "wait", "restart"]),
                                st.sampled_from(["ann", "ben"]),
                                st.integers(min_value=1, max_value=40)),
                      max_size=25),
       age=st.integers(min_value=0, max_value=60), messages=st.integers(min_value=0, max_value=4))
async def test_no_earn_credit_before_qualifying(make_app: MakeApp,
                                                steps: list[tuple[str, str, int]],
                                                age: int, messages: int) -> None:
    """Whatever happens, no earn-class posting reaches a user before they are old enough and
    have sent enough lines; Σ postings = balance."""
    app = await onboarding_app(make_app, age=age, messages=messages,
                               db=f"onboarding-prop-{next(DATABASES)}.db")  # fresh each example
    start = app.clock.now()
    first_seen: dict[str, object] = {}
    lines: dict[str, list[object]] = {"ann": [], "ben": []}
    present: set[str] = set()
    for action, user, amount in steps:
        if action == "join" and user not in present:
            first_seen.setdefault(user, app.clock.now())
            await app.join(user)
            present.add(user)
        elif action == "leave" and user in present:
            await app.leave(user)
            present.discard(user)
        elif action == "chat" and user in present:
            await app.chat(user, "hello there")
            lines[user].append(app.clock.now())
        elif action == "wait":
            await app.advance(minutes=amount)
        elif action == "restart":
            app = await app.restart()
            await app.seed(sorted(present))
    for user in ("ann", "ben"):
        for posting in await app.ledger.history(CHANNEL, user, limit=10_000):
            assert posting.kind is Kind.EARN
            seen = first_seen[user]
            assert posting.at - seen >= timedelta(minutes=age)  # type: ignore[operator]
            sent_before = [t for t in lines[user] if t <= posting.at]  # type: ignore[operator]
            assert len(sent_before) >= messages
    assert app.clock.now() >= start
    assert await app.ledger.verify() == []


async def test_age_counts_from_first_sight_even_if_the_gate_asked_first(
        make_app: MakeApp) -> None:
    app = await onboarding_app(make_app, age=60)
    # a credit for a user the core has not seen yet: the gate reads them before first sight
    result = await app.ledger.credit(CHANNEL, "bob", 5, type="earn", kind=Kind.EARN)
    assert result.error == WITHHELD
    await app.join("bob")  # first sight: recorded, so the age survives a restart
    await app.advance(minutes=30)
    app = await app.restart()
    await app.seed(["bob"])
    assert "30 more minute(s)" in "\n".join(await app.pm("bob", "rewards"))
    await app.advance(minutes=30)
    assert await app.balance("bob") > 0


async def test_a_withheld_welcome_wallet_survives_a_restart(make_app: MakeApp) -> None:
    app = await onboarding_app(make_app, age=60)
    await app.join("alice")
    await app.advance(minutes=30)
    app = await app.restart()
    await app.seed(["alice"])  # no arrival after the restart: the pending wallet is stored
    await app.advance(minutes=30)
    assert (await earn_types(app, "alice")).count("welcome_wallet") == 1
    app = await app.restart()
    await app.seed(["alice"])
    await app.advance(minutes=5)
    assert (await earn_types(app, "alice")).count("welcome_wallet") == 1
    assert await app.ledger.verify() == []


async def test_presence_schema_1_is_upgraded_in_place(make_app: MakeApp,
                                                      tmp_path: Path) -> None:
    app = await onboarding_app(make_app, db="old.db")
    await app.join("alice")
    await app.app.stop()
    with sqlite3.connect(tmp_path / "old.db") as db:  # back to schema 1: no wallet_pending column
        db.execute("ALTER TABLE presence_users DROP COLUMN wallet_pending")
        db.execute("UPDATE core_schema_versions SET version = 1 WHERE component = 'presence'")
    app = await onboarding_app(make_app, db="old.db")
    await app.seed(["alice"])
    await app.advance(minutes=2)
    assert await app.balance("alice") == 100 + 2
