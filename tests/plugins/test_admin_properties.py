"""Property (issue 17): over random admin actions (by PM and by API, with and without a
``request_id``, ids reused on purpose), API tips retried with their ``request_id``, bans, clean
restarts and the process killed at random commits: every balance equals the sum of its
postings, the channel's circulation is the sum of all postings, and no ``request_id`` is ever
applied twice (at most one posting group carries it; each retried tip moved its coins once)."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from typing import Any

from economy_plugins.admin import Admin
from economy_plugins.tipping import Tipping
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from economy_core.testing import AppHarness, MakeApp

from .test_social_kit import ADMIN_RANK, CHANNEL, social_app

USERS = ["alice", "bob", "carol"]
TOKEN = "prop-token-0123456789"
CONFIG = {"api": {"clients": [{"name": "ops", "token": TOKEN, "endpoints": ["*"]}]},
          "plugins": {"tipping": {"max_per_day": 0, "min_account_age_minutes": 0}}}
DB = itertools.count()
IDS = 6
"""Request ids come from a small pool, so retries (and reuse by another command) happen."""
TIP_BASE = 10_000
"""An API tip with id i moves TIP_BASE + i: a tip applied twice would show its amount twice."""

user = st.sampled_from(USERS)
rid = st.one_of(st.none(), st.integers(0, IDS - 1), st.integers(0, 2))
steps = st.lists(st.one_of(
    st.tuples(st.sampled_from(["admin.grant", "admin.deduct", "admin.set_balance"]), user,
              st.integers(-3, 30_000), rid),
    st.tuples(st.sampled_from(["grant", "deduct", "set_balance"]), user,
              st.integers(-3, 30_000), st.none()),
    st.tuples(st.just("tip"), user, user, st.integers(0, IDS - 1)),
    st.tuples(st.sampled_from(["ban", "unban"]), user, st.none(), st.none()),
    st.tuples(st.just("retry"), st.none(), st.none(), st.none()),  # the last API call again
    st.tuples(st.just("retry"), st.none(), st.none(), st.none()),
    st.tuples(st.just("restart"), st.none(), st.none(), st.none()),
    st.tuples(st.just("crash"), st.integers(0, 4), st.none(), st.none()),
), min_size=3, max_size=25)


async def api(app: AppHarness, command: str, **fields: Any) -> tuple[bytes, dict[str, Any]]:
    raw = json.dumps({"command": command, "token": TOKEN, **fields}).encode()
    reply: dict[str, Any] = await app.app.api.handle(raw)
    return raw, reply


async def all_postings(app: AppHarness) -> list[Any]:
    found = []
    for name in USERS:
        found += await app.ledger.history(CHANNEL, name, limit=100_000)
    return found


async def check(app: AppHarness) -> None:
    assert await app.ledger.verify() == []
    postings = await all_postings(app)
    assert await app.ledger.circulation(CHANNEL) == sum(p.amount for p in postings)
    # one request_id, one posting group (admin postings carry it in their metadata)
    groups: dict[str, set[str]] = {}
    for p in postings:
        key = p.metadata.get("request_id")
        if key is not None:
            groups.setdefault(key, set()).add(p.tx_id)
    assert all(len(tx_ids) == 1 for tx_ids in groups.values()), groups
    # each API tip id moves its own amount at most once
    sent = Counter(-p.amount for p in postings if p.type == "tip_send")
    assert all(n == 1 for amount, n in sent.items() if amount >= TIP_BASE), sent


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
async def test_admin_and_api_money_hold_across_restarts_and_kills(
        make_app: MakeApp, plan: list[tuple[Any, ...]]) -> None:
    app = await social_app(make_app, CONFIG, users=USERS, balance=20_000,
                           db=f"admin-prop-{next(DB)}.db", plugins=(Admin, Tipping))
    replayed = 0
    last: bytes | None = None
    for action, a, b, c in plan:
        if action.startswith("admin."):
            last, reply = await api(app, action, username=a, amount=b,
                                    **({} if c is None else {"request_id": f"id-{c}"}))
            replayed += bool(reply.get("data", {}).get("replayed"))
        elif action == "retry":
            if last is not None:
                reply = await app.app.api.handle(last)
                replayed += bool(reply.get("data", {}).get("replayed"))
        elif action in ("grant", "deduct", "set_balance"):
            await app.pm("boss", f"{action} @{a} {b}", rank=ADMIN_RANK)
        elif action == "tip":
            last, reply = await api(app, "spend.tip", username=a, target=b,
                                    amount=TIP_BASE + c, request_id=f"tip-{c}")
            replayed += bool(reply.get("data", {}).get("replayed"))
        elif action in ("ban", "unban"):
            await app.pm("boss", f"{action} @{a}", rank=ADMIN_RANK)
        elif action == "crash":
            if app.breaker is None:
                app.arm_crash(a)
        else:
            app = await app.restart()
        if app.breaker is not None and app.breaker.tripped:  # died: its supervisor restarts it
            app = await app.restart()
        if app.breaker is None:
            await check(app)
    if app.breaker is not None:
        app = await app.restart()
    await check(app)
    event(f"replayed: {min(replayed, 3)}+")
