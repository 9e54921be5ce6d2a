"""Tipping (SPEC §3.9, scenario 35): every rule before the money moves, one transaction, the
recipient's transactional PM, the daily cap from ledger state, races, the API endpoint."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from economy_plugins.tipping import Tipping

from economy_core import ApiRequest, hookimpl
from economy_core.ledger import Kind
from economy_core.testing import MakeApp

from .test_social_kit import CHANNEL, fund, moved, social_app, total_money


def plugin(app: Any) -> Tipping:
    found: Tipping = app.plugin("tipping")
    return found


async def test_scenario_35(make_app: MakeApp) -> None:
    app = await social_app(make_app, balance=1000, plugins=[Tipping])
    [reply] = await app.pm("alice", "tip @bob 250")
    assert "You tipped bob 250 Z" in reply and "Balance: 750 Z" in reply
    assert await app.balance("alice") == 750 and await app.balance("bob") == 1250
    [note] = app.pms_to("bob")
    assert "alice" in note and "250" in note
    assert await moved(app, "alice") == [("tip_send", -250)]
    assert await moved(app, "bob") == [("tip_receive", 250)]

    assert "can't tip yourself" in (await app.pm("alice", "tip @alice 5"))[0]

    await fund(app, "carol", 10_000)
    await app.pm("carol", "tip @alice 4900")
    [capped] = await app.pm("carol", "tip @bob 200")
    assert "100 Z more today" in capped
    assert await app.balance("carol") == 11_000 - 4900

    await app.app.members.seen(CHANNEL, ["dave"])
    await fund(app, "dave", 1000)
    await app.advance(minutes=10)
    [young] = await app.pm("dave", "tip @bob 5")
    assert "30 minutes" in young and "20 to go" in young
    assert await app.balance("dave") == 1000
    assert await app.ledger.verify() == []


async def test_the_reply_says_what_is_left_and_counts_only_committed_tips(
        make_app: MakeApp) -> None:
    app = await social_app(make_app, {"plugins": {"tipping": {"max_per_day": 300}}},
                           plugins=[Tipping])
    [reply] = await app.pm("alice", "tip @bob 100")
    assert "200 Z left to tip today" in reply
    [refused] = await app.pm("alice", "tip @bob 250")  # over the cap: nothing moves
    assert "200 Z more today" in refused
    await fund(app, "dave", 50)
    await app.app.members.seen(CHANNEL, ["dave"])
    await app.advance(minutes=31)
    [poor] = await app.pm("dave", "tip @bob 300")  # not enough coins: nothing moves
    assert "Not enough coins: you have 50 Z" in poor
    await fund(app, "dave", 250)
    [reply] = await app.pm("dave", "tip @bob 300")  # the refusal did not use dave's cap
    assert "Balance: 0 Z · 0 Z left to tip today" in reply
    await app.advance(hours=5)  # past midnight: a new day
    [reply] = await app.pm("alice", "tip @bob 300")
    assert "You tipped bob 300 Z" in reply


async def test_recipient_rules(make_app: MakeApp) -> None:
    app = await social_app(make_app, {"ignored_users": ["NepBot"], "bot": {"username": "ZBot"}},
                           plugins=[Tipping], users=("alice", "bob", "nepbot", "zbot", "eve"))
    await app.app.identity.ban(CHANNEL, "eve", by="admin", reason="test", at=app.clock.now())
    for target in ("NepBot", "zbot", "eve"):
        [reply] = await app.pm("alice", f"tip @{target} 5")
        assert "can't receive tips" in reply, target
    assert "no account here" in (await app.pm("alice", "tip @ghost 5"))[0]
    assert "can't tip yourself" in (await app.pm("alice", "tip @ALICE 5"))[0]
    assert await app.balance("alice") == 10_000


async def test_aliases_count_as_oneself(make_app: MakeApp) -> None:
    app = await social_app(make_app, plugins=[Tipping], users=("alice", "alice2", "bob"))

    async def userstats(subject: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        if payload["username"].casefold() in ("alice", "alice2"):
            return {"success": True, "data": {"canonical": "alice", "aliases": ["alice2"]}}
        return {"success": True, "data": {"aliases": []}}

    app.app._requester = userstats
    assert "one of your names" in (await app.pm("alice", "tip @alice2 5"))[0]
    assert "You tipped bob" in (await app.pm("alice", "tip @bob 5"))[0]
    lenient = await social_app(make_app, {"plugins": {"tipping": {"self_tip_blocked": False}}},
                               plugins=[Tipping], users=("alice", "alice2"), db="b.db")
    lenient.app._requester = userstats
    assert "You tipped alice2" in (await lenient.pm("alice", "tip @alice2 5"))[0]


async def test_quiet_recipients_still_get_the_pm(make_app: MakeApp) -> None:
    app = await social_app(make_app, plugins=[Tipping])
    await app.pm("bob", "quiet")
    app.clear()
    await app.pm("alice", "tip @bob 10")
    [note] = app.pms_to("bob")
    assert "alice tipped you 10 Z-Coins" in note and "quiet" not in note


async def test_settings(make_app: MakeApp) -> None:
    app = await social_app(make_app, {"plugins": {"tipping": {
        "min_amount": 10, "max_per_day": 0, "min_account_age_minutes": 0,
        "received_message": "{sender}>{amount} {currency} [{balance}]"}}}, plugins=[Tipping])
    assert "from 10 Z up" in (await app.pm("alice", "tip @bob 9"))[0]
    [reply] = await app.pm("alice", "tip @bob 9000")  # no daily limit
    assert "left to tip" not in reply and "Balance: 1,000 Z" in reply
    assert app.pms_to("bob") == ["alice>9,000 Z-Coins [19,000 Z]"]
    off = await social_app(make_app, {"plugins": {"tipping": {"enabled": False}}},
                           plugins=[Tipping], db="b.db")
    assert "switched off" in (await off.pm("alice", "tip @bob 5"))[0]
    assert "tip" not in (await off.pm("alice", "help"))[0].split("PM me:")[1].split("'help")[0]


async def test_concurrent_tips_never_overspend_or_pass_the_cap(make_app: MakeApp) -> None:
    """Race: twenty tips of one sender at once, through the plugin (checks and all)."""
    app = await social_app(make_app, {"plugins": {"tipping": {"max_per_day": 500}}},
                           plugins=[Tipping], balance=10_000)
    tipping = plugin(app)
    results = await asyncio.gather(
        *(tipping.send(CHANNEL, "alice", "bob", 100) for _ in range(20)),
        return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 5
    assert await app.balance("alice") == 9500 and await app.balance("bob") == 10_500
    day = app.clock.now().date()
    assert (await app.ledger.daily(CHANNEL, "alice", day))["tipped"] == 500
    poor = await social_app(make_app, plugins=[Tipping], balance=0, db="b.db")
    await fund(poor, "alice", 300)
    await fund(poor, "bob", 1)
    results = await asyncio.gather(
        *(plugin(poor).send(CHANNEL, "alice", "bob", 100) for _ in range(10)),
        return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 3
    assert await poor.balance("alice") == 0 and await poor.balance("bob") == 301
    assert await poor.ledger.verify() == [] and await app.ledger.verify() == []


async def test_a_tip_moves_no_money_into_or_out_of_the_economy(make_app: MakeApp) -> None:
    app = await social_app(make_app, plugins=[Tipping])
    before = await total_money(app)
    await app.pm("alice", "tip @bob 1234")
    await app.pm("bob", "tip @carol 99")
    assert await total_money(app) == before
    account = await app.ledger.account(CHANNEL, "alice")
    assert account is not None and account.lifetime_spent == 0  # a transfer is not a spend
    history = await app.ledger.history(CHANNEL, "bob", limit=1)
    assert history[0].related_user == "carol" and history[0].kind is Kind.TRANSFER


async def test_tip_hook_is_broadcast_after_commit(make_app: MakeApp) -> None:
    seen: list[tuple[str, str, int]] = []

    class Counter:
        name = "counter"

        def __init__(self, ctx: Any) -> None:
            pass

        @hookimpl(optionalhook=True)
        def economy_tip_sent(self, channel: str, sender: str, recipient: str,
                             amount: int) -> None:
            seen.append((sender, recipient, amount))

    app = await social_app(make_app, plugins=[Tipping, Counter])
    await app.pm("alice", "tip @BOB 7")
    await app.pm("alice", "tip @bob 0")
    assert seen == [("alice", "bob", 7)]


async def test_spend_tip_endpoint_is_idempotent(make_app: MakeApp) -> None:
    app = await social_app(make_app, plugins=[Tipping])
    tipping = plugin(app)
    request = ApiRequest("spend.tip", CHANNEL, "web", {"username": "alice", "target": "@bob",
                                                       "amount": 40}, request_id="r-1")
    first = await tipping.spend_tip(request)
    again = await tipping.spend_tip(request)
    assert first["replayed"] is False and again["replayed"] is True
    assert first["balance"] == again["balance"] == 9960
    assert await app.balance("bob") == 10_040
    await app.settle()
    assert len(app.pms_to("bob")) == 1
    day = app.clock.now().date()
    assert (await app.ledger.daily(CHANNEL, "alice", day))["tipped"] == 40


async def test_age_is_counted_from_first_sight(make_app: MakeApp) -> None:
    app = await social_app(make_app, plugins=[Tipping], users=("alice",))
    await fund(app, "newbie", 100)
    [reply] = await app.pm("newbie", "tip @alice 5")  # the PM is the core's first sight
    assert "30 to go" in reply
    await app.advance(minutes=30)
    assert "You tipped alice" in (await app.pm("newbie", "tip @alice 5"))[0]
    assert app.clock.now() - await app.app.members.first_seen(CHANNEL, "newbie") == \
        timedelta(minutes=30)
