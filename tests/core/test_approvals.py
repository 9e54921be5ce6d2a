"""The approvals service: a charge held in escrow until an admin decides, resolved exactly once,
delivery inside the resolving transaction, restarts, races, the admins' commands."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from economy_core import (
    NAMING,
    Approval,
    CommandCall,
    Contract,
    Kind,
    LedgerTx,
    PostingType,
    Schema,
    UtcDateTime,
    command,
)
from economy_core.testing import AppHarness, MakeApp

CHANNEL = "testroom"
ADMIN = 4

metadata = sa.MetaData(naming_convention=NAMING)
delivered_t = sa.Table(
    "vault_delivered", metadata,
    sa.Column("approval_id", sa.BigInteger, primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)


class Vault:
    """Sells a "thing" that an admin must approve; delivery writes its own table."""

    name = "vault"
    schema = Schema(metadata)
    contract = Contract(posting_types=(PostingType("vault_buy", "vault purchase", Kind.SPEND),))
    fail_delivery = False

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.rejected: list[int] = []
        ctx.approvals.register("vault_thing", label="vault thing", deliver=self.deliver,
                               on_reject=self.on_reject)

    async def deliver(self, tx: LedgerTx, approval: Approval) -> None:
        await tx.conn.execute(delivered_t.insert().values(
            approval_id=approval.id, username=approval.requester, at=tx.now))
        if self.fail_delivery:
            raise RuntimeError("delivery failed")

    async def on_reject(self, tx: LedgerTx, approval: Approval) -> None:
        self.rejected.append(approval.id)

    @command("want", help="ask for a thing: want <cost>")
    async def want(self, call: CommandCall, cost: int) -> str:
        done = await self.ctx.approvals.request(call.channel, call.username, "vault_thing", cost,
                                                summary=f"a thing for {cost}",
                                                data={"cost": cost}, posting_type="vault_buy")
        if not done.ok:
            return f"no: {done.error}, balance {done.balance}"
        return f"#{done.approval.id} held, balance {done.balance}"


async def vault_app(make_app: MakeApp, db: str = "economy.db") -> AppHarness:
    app = await make_app(plugins=[Vault], db=db)
    for user in ("alice", "bob"):
        assert (await app.ledger.credit(CHANNEL, user, 1000, type="admin_grant",
                                        kind=Kind.EARN)).ok
    return app


async def delivered(app: AppHarness) -> list[tuple[int, str]]:
    async with app.app.engine.connect() as conn:
        rows = (await conn.execute(sa.select(delivered_t.c.approval_id,
                                             delivered_t.c.username))).all()
    return [(int(r.approval_id), r.username) for r in rows]


async def test_request_holds_the_charge_in_escrow(make_app: MakeApp) -> None:
    app = await vault_app(make_app)
    assert (await app.pm("alice", "want 300"))[0] == "#1 held, balance 700"
    assert (await app.pm("alice", "want 800"))[0] == "no: insufficient_funds, balance 700"
    [escrow] = await app.ledger.open_escrows(CHANNEL)
    assert (escrow.amount, escrow.source, escrow.purpose) == (300, "vault", "approval.vault_thing")
    [pending] = await app.app.approvals.pending(CHANNEL)
    assert (pending.requester, pending.cost, pending.status) == ("alice", 300, "pending")
    assert pending.data == {"cost": 300} and pending.escrow_id == escrow.id
    history = await app.ledger.history(CHANNEL, "alice", limit=1)
    assert history[0].type == "vault_buy" and history[0].amount == -300


async def test_approve_delivers_in_the_same_transaction_and_releases(
        make_app: MakeApp) -> None:
    app = await vault_app(make_app)
    await app.pm("alice", "want 300")
    [reply] = await app.pm("boss", "approve 1", rank=ADMIN)
    assert reply == "✅ Approved #1: alice's vault thing (a thing for 300)."
    assert await delivered(app) == [(1, "alice")]
    assert await app.ledger.open_escrows(CHANNEL) == [] and await app.balance("alice") == 700
    assert any("was approved" in m for m in app.pms_to("alice"))
    assert "already approved by boss" in (await app.pm("boss", "reject 1", rank=ADMIN))[0]
    assert await app.balance("alice") == 700


async def test_reject_refunds_in_full_with_a_pm(make_app: MakeApp) -> None:
    app = await vault_app(make_app)
    await app.pm("alice", "quiet")
    await app.pm("alice", "want 300")
    [reply] = await app.pm("boss", "reject 1 not today", rank=ADMIN)
    assert "Rejected #1" in reply and "300 Z refunded" in reply
    assert await app.balance("alice") == 1000 and await delivered(app) == []
    assert app.plugin("vault").rejected == [1]
    [note] = [m for m in app.pms_to("alice") if "not approved" in m]
    assert "(not today)" in note and "Balance: 1,000 Z" in note  # quiet: still told
    account = await app.ledger.account(CHANNEL, "alice")
    assert account is not None and account.lifetime_spent == 0


async def test_a_failing_delivery_changes_nothing(make_app: MakeApp) -> None:
    app = await vault_app(make_app)
    await app.pm("alice", "want 300")
    app.plugin("vault").fail_delivery = True
    with pytest.raises(RuntimeError, match="delivery failed"):
        await app.app.approvals.resolve(1, approve=True, by="boss")
    [still] = await app.app.approvals.pending(CHANNEL)
    assert still.id == 1 and await delivered(app) == []
    assert len(await app.ledger.open_escrows(CHANNEL)) == 1


async def test_racing_resolutions_resolve_once(make_app: MakeApp) -> None:
    app = await vault_app(make_app)
    for _ in range(3):
        await app.pm("alice", "want 100")
    service = app.app.approvals
    results = await asyncio.gather(*(service.resolve(i, approve=approve, by=f"admin{n}")
                                     for i in (1, 2, 3)
                                     for n, approve in enumerate((True, False, True, False))))
    assert sum(r.ok for r in results) == 3
    assert all(r.error == "approval_closed" for r in results if not r.ok)
    approved = [r.approval.id for r in results if r.ok and r.approval and
                r.approval.status == "approved"]
    assert sorted(i for i, _ in await delivered(app)) == sorted(approved)
    assert await app.balance("alice") == 1000 - 100 * len(approved)
    assert await app.ledger.open_escrows(CHANNEL) == [] and await app.ledger.verify() == []


async def test_pending_approvals_survive_a_restart(make_app: MakeApp) -> None:
    app = await vault_app(make_app)
    await app.pm("alice", "want 250")
    await app.pm("bob", "want 50")
    app = await app.restart()
    [listing] = await app.pm("boss", "approvals", rank=ADMIN)
    assert "#1 vault thing · alice · 250 Z" in listing and "#2 vault thing · bob · 50 Z" in listing
    await app.pm("boss", "approve 2", rank=ADMIN)
    await app.pm("boss", "reject 1", rank=ADMIN)
    assert await app.balance("alice") == 1000 and await app.balance("bob") == 950
    assert (await app.pm("boss", "approvals", rank=ADMIN))[0] == "📋 Nothing is waiting for " \
                                                                 "approval."


async def test_admin_commands_are_admin_only_and_check_their_input(make_app: MakeApp) -> None:
    app = await vault_app(make_app)
    await app.pm("alice", "want 10")
    assert (await app.pm("alice", "approve 1"))[0] == "⛔ Admin only."
    assert (await app.pm("alice", "approvals"))[0] == "⛔ Admin only."
    assert (await app.pm("boss", "approve 99", rank=ADMIN))[0] == "No such approval."
    assert "whole number" in (await app.pm("boss", "approve x", rank=ADMIN))[0]
    assert len(await app.app.approvals.pending(CHANNEL)) == 1


async def test_a_kind_without_its_plugin_can_only_be_rejected(make_app: MakeApp) -> None:
    app = await vault_app(make_app)
    await app.pm("alice", "want 100")
    await app.app.stop()
    bare = await make_app(plugins=[], db="economy.db")  # the vault is switched off
    [reply] = await bare.pm("boss", "approve 1", rank=ADMIN)
    assert "not running" in reply
    [reply] = await bare.pm("boss", "reject 1", rank=ADMIN)
    assert "100 Z refunded" in reply
    assert await bare.balance("alice") == 1000


async def test_kinds_belong_to_one_plugin(make_app: MakeApp) -> None:
    class Thief:
        name = "thief"

        def __init__(self, ctx: Any) -> None:
            ctx.approvals.register("vault_thing", label="stolen", deliver=Vault.deliver)

    with pytest.raises(ValueError, match="registered by both plugin 'vault' and plugin 'thief'"):
        await make_app(plugins=[Vault, Thief])
    app = await vault_app(make_app, db="b.db")
    other = app.app.plugins["vault"].context.approvals
    with pytest.raises(ValueError, match="did not register"):
        await other.request(CHANNEL, "alice", "nope", 5, summary="x")
