"""The request-reply endpoints of issue 17 through ``ApiServer.handle()`` on a real app (real
router, ledger and SQLite file): each endpoint's answer, ``request_id`` idempotency of the money
endpoints, refusals (no token, a read-only client calling ``admin.*``, malformed JSON, bad
arguments) with nothing moved."""

from __future__ import annotations

import json
from typing import Any

import pytest
from economy_plugins.achievements import Achievements
from economy_plugins.admin import Admin
from economy_plugins.ranks import Ranks
from economy_plugins.tipping import Tipping
from economy_plugins.vanity_shop import VanityShop
from economy_plugins.wallet import Wallet

from economy_core.testing import AppHarness, MakeApp

from .test_social_kit import CHANNEL, postings, social_app

ADMIN_TOKEN = "admin-token-0123456789"
READ_TOKEN = "read-token-0123456789"
CLIENTS = {"api": {"clients": [
    {"name": "ops", "token": ADMIN_TOKEN, "endpoints": ["*"]},
    {"name": "web", "token": READ_TOKEN,
     "endpoints": ["balance.get", "profile.get", "leaderboard.*", "economy.*"]},
]}}
ACHIEVEMENTS = {"plugins": {"achievements": {"achievements": [
    {"id": "earned_1m", "description": "Earn a million", "reward": 100, "hidden": False,
     "condition": {"type": "lifetime_earned", "threshold": 1_000_000}}]}}}
PLUGINS = (Admin, Wallet, Tipping, Ranks, Achievements, VanityShop)


async def api_app(make_app: MakeApp) -> AppHarness:
    return await social_app(make_app, {**CLIENTS, **ACHIEVEMENTS}, balance=1000,
                            plugins=PLUGINS)


async def call(app: AppHarness, command: str, token: str | None = ADMIN_TOKEN,
               **fields: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"command": command, **fields}
    if token is not None:
        request["token"] = token
    reply: dict[str, Any] = await app.app.api.handle(json.dumps(request).encode())
    return reply


async def ok(app: AppHarness, command: str, **fields: Any) -> dict[str, Any]:
    reply = await call(app, command, **fields)
    assert reply["success"] is True, reply
    data: dict[str, Any] = reply["data"]
    return data


async def refused(app: AppHarness, command: str, token: str | None = ADMIN_TOKEN,
                  **fields: Any) -> str:
    reply = await call(app, command, token, **fields)
    assert reply["success"] is False, reply
    error: str = reply["error"]
    return error


async def test_reads(make_app: MakeApp) -> None:
    app = await api_app(make_app)
    data = await ok(app, "balance.get", username="alice")
    assert data == {"found": True, "username": "alice", "balance": 1000,
                    "lifetime_earned": 1000, "rank_name": "Grip"}
    assert await ok(app, "balance.get", username="ghost") == {"found": False,
                                                              "username": "ghost"}
    profile = await ok(app, "profile.get", username="@alice")
    assert profile["balance"] == 1000 and "rank" in {f["key"] for f in profile["fields"]}
    await app.ledger.credit(CHANNEL, "bob", 500, type="admin_grant")
    top = await ok(app, "leaderboard.top", category="rich", limit=2)
    assert top["entries"] == [{"username": "bob", "value": 1500},
                              {"username": "alice", "value": 1000}]
    assert "category must be" in await refused(app, "leaderboard.top", category="nope")
    rank = await ok(app, "rank.get", username="alice")
    assert rank["rank"] == "Grip" and rank["next_rank"] == "Key Grip"
    listed = await ok(app, "achievement.list")
    assert listed["achievements"] == [{"id": "earned_1m", "description": "Earn a million",
                                       "reward": 100}]
    shop = await ok(app, "vanity.list", username="alice")
    assert {i["item"] for i in shop["items"]} >= {"title", "greeting"}
    assert await ok(app, "vanity.get", username="alice") == {
        "username": "alice", "items": {}, "gif_waiting_for_approval": []}
    stats = await ok(app, "economy.stats")
    assert stats["accounts"] == 3 and stats["circulation"] == 3500
    health = await ok(app, "economy.health")
    assert health["status"] == "ok" and health["database"] is True
    assert health["circulation"] == 3500 and health["median_balance"] == 1000


async def test_admin_grant_is_applied_once_per_request_id(make_app: MakeApp) -> None:
    app = await api_app(make_app)
    first = await ok(app, "admin.grant", username="alice", amount=250, reason="bug bounty",
                     request_id="r-1")
    assert first == {"username": "alice", "amount": 250, "balance": 1250,
                     "reason": "bug bounty", "by": "api:ops", "replayed": False}
    again = await ok(app, "admin.grant", username="alice", amount=250, reason="bug bounty",
                     request_id="r-1")
    assert again == {**first, "replayed": True}
    assert await app.balance("alice") == 1250
    assert [p.type for p in await postings(app, "alice")].count("admin_grant") == 2  # + funds
    assert len(app.pms_to("alice")) == 1
    assert "already used for admin.grant" in await refused(
        app, "admin.deduct", username="alice", amount=5, request_id="r-1")
    # without a request_id every call applies
    await ok(app, "admin.grant", username="alice", amount=1)
    await ok(app, "admin.grant", username="alice", amount=1)
    assert await app.balance("alice") == 1252


async def test_admin_deduct_set_balance_ban_unban(make_app: MakeApp) -> None:
    app = await api_app(make_app)
    assert "insufficient" in await refused(app, "admin.deduct", username="bob", amount=5000,
                                           request_id="d-1")
    done = await ok(app, "admin.deduct", username="bob", amount=300, request_id="d-1",
                    by="boss")
    assert done["balance"] == 700 and done["by"] == "boss"
    assert (await ok(app, "admin.deduct", username="bob", amount=300,
                     request_id="d-1"))["replayed"] is True
    assert await app.balance("bob") == 700
    done = await ok(app, "admin.set_balance", username="bob", amount=50, request_id="s-1")
    assert (done["old"], done["new"], done["difference"]) == (700, 50, -650)
    await ok(app, "admin.grant", username="bob", amount=10)  # the balance moves on …
    replay = await ok(app, "admin.set_balance", username="bob", amount=50, request_id="s-1")
    assert replay["replayed"] is True and await app.balance("bob") == 60  # … and stays moved
    assert "no account" in await refused(app, "admin.set_balance", username="ghost", amount=5)
    assert (await ok(app, "admin.ban", username="carol", reason="spam",
                     request_id="b-1"))["banned"] is True
    assert (await ok(app, "admin.ban", username="carol", request_id="b-1"))["replayed"]
    assert "already banned" in await refused(app, "admin.ban", username="carol")
    assert app.app.identity.is_banned(CHANNEL, "carol")
    assert (await ok(app, "admin.unban", username="carol"))["banned"] is False
    assert "not banned" in await refused(app, "admin.unban", username="carol")
    assert await app.ledger.verify() == []


@pytest.mark.parametrize(("fields", "expected"), [
    ({"username": "alice", "amount": -5}, "whole number from 1"),
    ({"username": "alice", "amount": 10**30}, "whole number from 1"),
    ({"username": "alice", "amount": "5"}, "whole number from 1"),
    ({"username": "alice", "amount": True}, "whole number from 1"),
    ({"amount": 5}, "user name is required"),
    ({"username": "not a name!", "amount": 5}, "is not a user name"),
    ({"username": "alice", "amount": 5, "by": 7}, "by:"),
])
async def test_bad_admin_arguments_move_nothing(make_app: MakeApp, fields: dict[str, Any],
                                                expected: str) -> None:
    app = await api_app(make_app)
    assert expected in await refused(app, "admin.grant", **fields)
    assert await app.ledger.circulation(CHANNEL) == 3000


async def test_refusals(make_app: MakeApp) -> None:
    app = await api_app(make_app)
    assert (await refused(app, "balance.get", token=None, username="alice")).startswith(
        "unauthorized")
    assert (await refused(app, "admin.grant", token=READ_TOKEN, username="alice",
                          amount=5)).startswith("forbidden")
    assert (await refused(app, "admin.reload", token=READ_TOKEN)).startswith("forbidden")
    reply = await app.app.api.handle(b'{"command": "admin.grant", "token": ')
    assert reply["success"] is False and reply["error"].startswith("bad request")
    assert await app.ledger.circulation(CHANNEL) == 3000


async def test_rank_and_achievement_and_approval_endpoints(make_app: MakeApp) -> None:
    app = await api_app(make_app)
    done = await ok(app, "rank.set", username="alice", rank="Key Grip")
    assert done["rank"] == "Key Grip" and done["was"] == "Grip" and done["by"] == "api:ops"
    assert (await ok(app, "admin.set_rank", username="bob", rank="key grip"))["rank"] == (
        "Key Grip")
    assert "No rank called" in await refused(app, "rank.set", username="alice", rank="Emperor")
    assert (await ok(app, "rank.get", username="alice"))["rank"] == "Key Grip"
    ident = (await ok(app, "achievement.list"))["achievements"][0]["id"]
    granted = await ok(app, "achievement.grant", username="alice", id=ident)
    assert granted["granted"] is True and granted["paid"] == 100
    again = await ok(app, "achievement.grant", username="alice", id=ident)
    assert again["already_earned"] is True and again["paid"] == 0
    earned = await ok(app, "achievement.list", username="alice")
    assert [e["id"] for e in earned["earned"]] == [ident]
    assert "no enabled achievement" in await refused(app, "achievement.grant",
                                                     username="alice", id="nope")
    await ok(app, "admin.grant", username="alice", amount=5000)
    assert "GIF request" in (await app.pm("alice", "buy gif https://x.test/a.gif"))[0]
    [waiting] = (await ok(app, "approval.list"))["pending"]
    assert waiting["requester"] == "alice"
    before = await app.balance("alice")
    first = await ok(app, "approval.resolve", id=waiting["id"], approve=False, note="no")
    assert first["approval"]["status"] == "rejected" and first["replayed"] is False
    refund = await app.balance("alice") - before
    assert refund == waiting["cost"]
    again = await ok(app, "approval.resolve", id=waiting["id"], approve=False, note="no")
    assert again["replayed"] is True and await app.balance("alice") - before == refund
    assert "already rejected" in await refused(app, "approval.resolve", id=waiting["id"],
                                               approve=True)
    assert (await ok(app, "approval.list"))["pending"] == []
