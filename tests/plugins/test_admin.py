"""The admin plugin (SPEC §3.15, issue 17): every action through a PM to the real router and
the real ledger — one posting or ban change with the admin's name, the target's transactional
PM, the audit line — bad input refused with nothing moved, and the inspection commands against
ledger aggregates."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from economy_plugins.admin import Admin
from economy_plugins.tipping import Tipping

from economy_core import StatsSection, hookimpl
from economy_core.testing import AppHarness, MakeApp

from .test_social_kit import ADMIN_RANK, CHANNEL, postings, social_app

ADMIN = "boss"


async def admin_app(make_app: MakeApp, config: dict[str, Any] | None = None, *,
                    plugins: tuple[Any, ...] = (Admin, Tipping)) -> AppHarness:
    """alice, bob and carol hold 1,000 each; boss (rank 4 by default) is the admin."""
    return await social_app(make_app, config, balance=1000, plugins=plugins)


async def admin(app: AppHarness, text: str) -> str:
    replies = await app.pm(ADMIN, text, rank=ADMIN_RANK)
    assert len(replies) == 1, replies
    return replies[0]


async def total(app: AppHarness) -> int:
    return int(await app.ledger.circulation(CHANNEL))


async def test_grant_credits_one_posting_pms_the_target_and_audits(
        make_app: MakeApp, caplog: pytest.LogCaptureFixture) -> None:
    app = await admin_app(make_app)
    await app.pm("alice", "quiet")  # quiet mode does not mute an admin's action
    caplog.set_level(logging.INFO, logger="economy_plugins.admin")
    reply = await admin(app, "grant @alice 250 good work")
    assert "Granted alice 250 Z" in reply and "1,250 Z" in reply
    [last] = (await postings(app, "alice"))[-1:]
    assert (last.type, last.amount, last.related_user, last.reason) == (
        "admin_grant", 250, ADMIN, "good work")
    assert last.metadata["admin"] == ADMIN
    [note] = [t for t in app.pms_to("alice") if "granted" in t]
    assert ADMIN in note and "250 Z" in note and "good work" in note
    assert any("audit: grant" in r.getMessage() and ADMIN in r.getMessage()
               for r in caplog.records)
    # a new user gets an account on the grant
    assert "Granted dave 5 Z" in await admin(app, "grant @dave 5")
    assert await app.balance("dave") == 5
    assert await app.ledger.verify() == []


async def test_non_admins_are_refused_and_nothing_moves(make_app: MakeApp) -> None:
    app = await admin_app(make_app)
    before = await total(app)
    for text in ("grant @alice 5", "econ:stats", "ban @bob", "set_balance @bob 0", "rain 50",
                 "reload", "announce hi"):
        assert await app.pm("carol", text, rank=2) == ["⛔ Admin only."], text
    assert await total(app) == before and app.chat_lines() == []
    assert not app.app.identity.is_banned(CHANNEL, "bob")


@pytest.mark.parametrize(("text", "expected"), [
    ("grant @alice -5", "must be between 1 and"),
    ("grant @alice 10**30", "expected a whole number"),
    ("grant @alice 1000000000000000000000000000000", "too large"),
    ("grant @alice", "amount is missing"),
    ("deduct", "is missing"),
    ("deduct @alice 0", "must be between 1 and"),
    ("set_balance @ghost 5", "ghost has no account here"),
    ("set_balance @alice -1", "0 or more"),
    ("deduct @ghost 5", "ghost has no account here"),
    ("grant @ZBot 5", "holds no coins"),
])
async def test_bad_input_gets_a_clear_reply_and_moves_nothing(
        make_app: MakeApp, text: str, expected: str) -> None:
    app = await admin_app(make_app, {"bot": {"username": "ZBot"}})
    before = await total(app)
    reply = await admin(app, text)
    assert expected in reply, reply
    assert await total(app) == before
    assert [p.type for p in await postings(app, "alice")] == ["admin_grant"]  # the test funds
    assert app.pms_to("alice") == [] and app.pms_to("ghost") == []


async def test_deduct_is_debit_or_fail(make_app: MakeApp) -> None:
    app = await admin_app(make_app)
    reply = await admin(app, "deduct @bob 5000 spam")
    assert "insufficient" in reply and "1,000 Z" in reply
    assert await app.balance("bob") == 1000 and app.pms_to("bob") == []
    reply = await admin(app, "deduct @bob 400 spam")
    assert "Deducted 400 Z from bob" in reply and "600 Z" in reply
    [note] = app.pms_to("bob")
    assert "deducted 400 Z" in note and "spam" in note and ADMIN in note
    last = (await postings(app, "bob"))[-1]
    assert (last.type, last.amount, last.related_user) == ("admin_deduct", -400, ADMIN)
    account = await app.ledger.account(CHANNEL, "bob")
    assert account.lifetime_spent == 0  # a correction, not a spend


async def test_set_balance_posts_the_difference_once(make_app: MakeApp) -> None:
    app = await admin_app(make_app)
    reply = await admin(app, "set_balance @alice 250")
    assert "1,000 Z → 250 Z" in reply and "-750" in reply
    reply = await admin(app, "set_balance @alice 4000")
    assert "250 Z → 4,000 Z" in reply and "+3,750" in reply
    assert "already has 4,000 Z" in await admin(app, "set_balance @alice 4000")
    assert "0 Z" in await admin(app, "set_balance @alice 0")
    moves = [(p.type, p.amount, p.metadata.get("old"), p.metadata.get("new"))
             for p in await postings(app, "alice")][1:]
    assert moves == [("admin_set_balance", -750, 1000, 250),
                     ("admin_set_balance", 3750, 250, 4000),
                     ("admin_set_balance", -4000, 4000, 0)]
    assert len(app.pms_to("alice")) == 3
    assert await app.ledger.verify() == []


async def test_ban_and_unban(make_app: MakeApp) -> None:
    app = await admin_app(make_app)
    assert "bob is banned" in await admin(app, "ban @bob cheating")
    assert "already banned" in await admin(app, "ban @bob")
    [note] = app.pms_to("bob")
    assert "suspended" in note and "cheating" in note
    assert await app.pm("bob", "tip @alice 5") == ["⛔ Your economy access is suspended."]
    assert "can't receive tips" in (await app.pm("alice", "tip @bob 5"))[0]
    assert "banned from the economy and earns nothing" in await admin(app, "grant @bob 5")
    assert await app.balance("bob") == 1000
    assert "may use the economy again" in await admin(app, "unban @bob")
    assert "not banned" in await admin(app, "unban @bob")
    assert "restored" in app.pms_to("bob")[-1]
    assert "You tipped alice 5 Z" in (await app.pm("bob", "tip @alice 5"))[0]


async def test_a_banned_admin_keeps_admin_commands(make_app: MakeApp) -> None:
    app = await admin_app(make_app)
    await app.app.identity.ban(CHANNEL, ADMIN, by="other", reason="x", at=app.clock.now())
    assert "Granted alice 5 Z" in await admin(app, "grant @alice 5")
    assert await app.pm(ADMIN, "tip @alice 5", rank=ADMIN_RANK) == [
        "⛔ Your economy access is suspended."]


async def test_rain_splits_over_present_unbanned_users_and_announces_first(
        make_app: MakeApp) -> None:
    app = await admin_app(make_app, {"bot": {"username": "ZBot"}})
    assert "No users present" in await admin(app, "rain 100")
    await app.seed(["alice", "bob", "carol", "ZBot"])
    await admin(app, "ban @carol")
    app.clear()
    reply = await admin(app, "rain 100")
    assert "50 Z each on 2 user(s)" in reply
    assert await app.balance("alice") == 1050 and await app.balance("carol") == 1000
    lines = app.chat_lines()
    assert lines == ["☔ boss makes it rain: 50 Z-Coins each for 2 user(s)!"]
    sent = [s for s in app.transport.sent]
    first_pm = next(i for i, s in enumerate(sent) if s.to is not None and "rain" in s.text)
    assert sent.index(next(s for s in sent if s.to is None)) < first_pm
    assert [p.type for p in await postings(app, "bob")][-1] == "admin_rain"
    await admin(app, "rain 1")  # fewer coins than users: each still gets 1
    assert await app.balance("alice") == 1051


async def test_announce_posts_verbatim(make_app: MakeApp) -> None:
    app = await admin_app(make_app)
    assert await admin(app, "announce Movie night at 9 {not a template}") == "📢 Posted."
    assert app.chat_lines() == ["Movie night at 9 {not a template}"]


async def test_reload_is_the_sighup_reload(make_app: MakeApp, tmp_path: Path) -> None:
    import tomllib

    import attrs
    import tomli_w

    from economy_core.config import render_effective_config

    app = await admin_app(make_app)
    path = tmp_path / "economy.toml"
    app.app.config = attrs.evolve(app.app.config, source=str(path))

    def write(edit: Any) -> None:
        data = tomllib.loads(render_effective_config(app.app.config))
        edit(data)
        path.write_text(tomli_w.dumps(data), encoding="utf-8")

    write(lambda d: d["plugins"]["admin"].update(rain_message="☔ +{amount}!"))
    reply = await admin(app, "reload")
    assert reply.startswith("✅ configuration reloaded from") and str(path) in reply
    assert app.plugin("admin").ctx.config.rain_message == "☔ +{amount}!"

    write(lambda d: d["plugins"]["admin"].update(rain_message="{nope}"))  # a bad template
    reply = await admin(app, "reload")
    assert reply.startswith("❌ reload failed") and "previous configuration" in reply
    assert app.plugin("admin").ctx.config.rain_message == "☔ +{amount}!"

    write(lambda d: d["database"].update(url="sqlite+aiosqlite:///elsewhere.db"))
    reply = await admin(app, "reload")
    assert reply.startswith("❌ reload refused: database changed")
    path.unlink()
    assert (await admin(app, "reload")).startswith("❌ reload failed")


class Contributor:
    """A plugin contributing a statistics section."""

    name = "contributor"

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    @hookimpl
    def economy_stats(self, channel: str) -> StatsSection:
        return StatsSection("Widgets", ["3 widgets sold"], {"widgets": 3})


async def test_econ_stats_matches_the_ledger(make_app: MakeApp) -> None:
    app = await admin_app(make_app, plugins=(Admin, Tipping, Contributor))
    await app.seed(["alice", "bob"])
    await admin(app, "grant @alice 300")
    await admin(app, "deduct @bob 100")
    reply = await admin(app, "econ:stats")
    circulation = await total(app)
    assert circulation == 3200
    assert f"circulation {circulation:,} Z" in reply
    accounts = await app.ledger.account_count(CHANNEL)
    assert accounts == 3 and "3 accounts" in reply and "2 present" in reply
    assert "3 active today" in reply
    # today: the funds (3,000) and the grant (300) were earned; the deduction is a correction
    assert "earned 3,300 Z" in reply and "spent 0 Z" in reply and "net +3,300" in reply
    assert "— Widgets —\n3 widgets sold" in reply


async def test_econ_user_and_health(make_app: MakeApp) -> None:
    app = await admin_app(make_app)
    await app.seed(["alice", "bob"])
    reply = await admin(app, "econ:user alice")
    assert "balance 1,000 Z" in reply and "banned: no" in reply and "here now" in reply
    assert "no account" in await admin(app, "econ:user ghost")
    reply = await admin(app, "econ:health")
    assert "ok: database and NATS up" in reply
    assert "median balance 1,000 Z" in reply
    # alice and bob are present and both hold an account → participation 100 %
    assert "participation 100%" in reply and "inflationary" in reply


async def test_econ_gambling_comes_from_gambling_and_matches_the_ledger(
        make_app: MakeApp) -> None:
    from economy_plugins.gambling import Gambling

    from .test_gambling_kit import force, gambling_app

    app = await gambling_app(make_app, {"spin": {"cooldown_seconds": 0}}, plugins=[Admin])
    force(app, 0.99, 0.99, 0.01)  # two losses, then the first slot row
    for _ in range(3):
        await app.pm("alice", "spin 100")
    totals = await app.ledger.totals(CHANNEL)
    assert totals.gambled_in == 300 and totals.gambled_out > 0
    reply = await admin(app, "econ:gambling")
    paid = totals.gambled_out
    assert f"Wagered 300 Z · paid {paid:,} Z · house profit {300 - paid:+,}" in reply
    edge = round((300 - paid) / 300 * 100, 2)
    assert f"Actual edge {edge:g}%" in reply and "1 gambler(s)" in reply and "spin 3" in reply
    assert isinstance(app.plugin("gambling"), Gambling)
    stats = await admin(app, "econ:stats")
    assert "— Gambling —" in stats and "Wagered 300 Z" in stats
    assert await app.pm("alice", "econ:gambling", rank=1) == ["⛔ Admin only."]
