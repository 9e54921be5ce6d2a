"""Approvals: a purchase that waits for an admin, its charge held in the ledger's escrow.

Any plugin that sells something an admin must allow (a channel GIF, a force-played video) uses
this one core service through ``ctx.approvals``; an approval is generic: a ``kind`` the plugin
registered, the requester, the cost, a short ``summary`` for admins and ``data`` (JSON) for the
plugin. Contracts:

- **Register** each kind at start-up (``ctx.approvals.register(kind, label=..., deliver=...)``,
  from the plugin's ``__init__``): one plugin per kind; only that plugin opens approvals of it.
- **Request** (``ctx.approvals.request``): ONE ledger transaction takes the cost into an escrow
  (debit-or-fail: "insufficient_funds" and nothing written when short; purpose
  ``approval.<kind>``, stamped with the owning plugin as source and the posting type it names)
  and stores the approval as ``pending`` in ``core_approvals``. Both survive restarts: a pending
  approval always has its open escrow. A plugin that sweeps its own open escrows at start-up
  must leave those with purpose ``approval.*`` alone (they belong to their approval).
- **Resolve** (``ctx.approvals.resolve`` or an admin's ``approve``/``reject``): ONE ledger
  transaction claims the row (``UPDATE ... WHERE status='pending'``: of two racing resolutions
  exactly one wins, the other gets "approval_closed" and moves nothing), then
    * approve: calls the kind's ``deliver(tx, approval)`` inside that same transaction (the
      plugin writes what the buyer gets into its own tables there) and releases the escrow (the
      charge becomes final);
    * reject: refunds the escrow in full (the escrow's spend counter reversed) and calls the
      kind's ``on_reject(tx, approval)`` when it has one.
  Delivery is therefore part of the resolution's committed state: a crash before the commit
  leaves the approval pending with its escrow, a crash after it leaves it resolved, delivered
  and settled — never half of it. A plugin whose delivery is an outside action (asking the
  robot) records it in its own table in ``deliver`` and performs it after the commit (re-driving
  it at start-up from that table). Approving a kind whose plugin is not running is refused
  ("no_delivery"); rejecting it still refunds. After the commit the requester gets a PM
  (transactional: quiet mode does not mute it): approved, or rejected with the refund and the
  balance.
- **Listing** (``pending``): the open approvals, oldest first; admins see them with the core's
  ``approvals`` command and resolve them with ``approve <id>`` / ``reject <id> [reason]``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Literal

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .db import NAMING, UtcDateTime, migrate
from .events import user_key
from .ledger import Kind, Ledger, LedgerTx
from .ledger.tx import core_connection
from .storage import inserted_id

approvals_metadata = sa.MetaData(naming_convention=NAMING)

core_approvals = sa.Table(
    "core_approvals", approvals_metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(60), nullable=False),
    sa.Column("owner", sa.String(100), nullable=False),
    sa.Column("requester", sa.String(100), nullable=False),
    sa.Column("requester_key", sa.String(100), nullable=False),
    sa.Column("cost", sa.BigInteger, nullable=False),
    sa.Column("escrow_id", sa.BigInteger, nullable=False),
    sa.Column("summary", sa.String(300), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("resolved_at", UtcDateTime, nullable=True),
    sa.Column("resolver", sa.String(100), nullable=True),
    sa.Column("note", sa.Text, nullable=False),
    sa.Index("ix_core_approvals_open", "channel", "status", "kind"),
)

APPROVALS_COMPONENT = "core_approvals"
APPROVALS_SCHEMA_VERSION = 1

UNKNOWN_APPROVAL = "unknown_approval"
APPROVAL_CLOSED = "approval_closed"
NO_DELIVERY = "no_delivery"
MAX_SUMMARY = 300

Status = Literal["pending", "approved", "rejected"]


@attrs.frozen
class Approval:
    """One approval as stored (``status``: pending, approved or rejected)."""

    id: int
    channel: str
    kind: str
    owner: str
    requester: str
    cost: int
    escrow_id: int
    summary: str
    data: dict[str, Any]
    status: Status
    created_at: datetime
    resolved_at: datetime | None = None
    resolver: str | None = None
    note: str = ""


Delivery = Callable[[LedgerTx, Approval], Awaitable[None]]
"""Called inside the resolving transaction (``tx.conn`` writes the plugin's own tables)."""


@attrs.frozen
class ApprovalKind:
    """What a plugin registered for one kind of approval."""

    kind: str
    owner: str
    label: str
    deliver: Delivery
    on_reject: Delivery | None = None


@attrs.frozen
class ApprovalRequested:
    """What ``request`` did: ``ok`` with the stored ``approval`` and the requester's balance
    after the hold, or ``error`` "insufficient_funds" (nothing held; ``balance`` is the
    current balance)."""

    ok: bool
    balance: int
    approval: Approval | None = None
    error: str | None = None


@attrs.frozen
class ApprovalResolved:
    """What ``resolve`` did: ``ok`` with the approval as now stored and the requester's balance
    after it (their refund included), or ``error``: "unknown_approval", "approval_closed"
    (``approval`` shows who resolved it), "no_delivery" (approving a kind no running plugin
    delivers)."""

    ok: bool
    approval: Approval | None = None
    balance: int | None = None
    error: str | None = None


class _Closed(Exception):
    """The approval was resolved by someone else first (the transaction rolls back)."""


def _approval(row: Any) -> Approval:
    m = row._mapping
    try:
        data = json.loads(m["data"])
    except ValueError:
        data = {}
    return Approval(int(m["id"]), m["channel"], m["kind"], m["owner"], m["requester"],
                    int(m["cost"]), int(m["escrow_id"]), m["summary"],
                    data if isinstance(data, dict) else {}, m["status"], m["created_at"],
                    m["resolved_at"], m["resolver"], m["note"] or "")


def _check_kind(kind: str) -> None:
    if not kind or len(kind) > 60 or not all(c.islower() or c.isdigit() or c in "_."
                                             for c in kind):
        raise ValueError(f"approval kind {kind!r}: lower-case letters, digits, _ and . "
                         "(at most 60)")


class Approvals:
    """The approvals service (see the module docstring); :meth:`start` before use."""

    def __init__(self, engine: AsyncEngine, ledger: Ledger, *,
                 notify: Callable[[str, str, str], None], format_amount: Callable[[int], str],
                 log: logging.Logger | None = None) -> None:
        """``notify(channel, user, text)`` queues a transactional PM."""
        self._engine = engine
        self._ledger = ledger
        self._notify = notify
        self._fmt = format_amount
        self._log = log or logging.getLogger("economy_core.approvals")
        self._kinds: dict[str, ApprovalKind] = {}

    async def start(self) -> None:
        await migrate(self._engine, APPROVALS_COMPONENT, approvals_metadata,
                      APPROVALS_SCHEMA_VERSION)

    # -- registration ---------------------------------------------------------------------------

    def register(self, kind: ApprovalKind) -> None:
        """Claim a kind for its plugin; a kind claimed by another plugin raises ValueError."""
        _check_kind(kind.kind)
        found = self._kinds.get(kind.kind)
        if found is not None and found.owner != kind.owner:
            raise ValueError(f"approval kind {kind.kind!r} is registered by both plugin "
                             f"{found.owner!r} and plugin {kind.owner!r}")
        self._kinds[kind.kind] = kind

    def label(self, kind: str) -> str:
        """How users read a kind (its registered label, else the name with spaces)."""
        found = self._kinds.get(kind)
        return found.label if found is not None else kind.replace("_", " ")

    # -- requesting -----------------------------------------------------------------------------

    async def request(self, owner: str, channel: str, username: str, kind: str, cost: int, *,
                      summary: str, data: Mapping[str, Any] | None = None,
                      posting_type: str = "escrow", reason: str = "") -> ApprovalRequested:
        """Hold ``cost`` in escrow and store a pending approval, in one transaction."""
        registered = self._kinds.get(kind)
        if registered is None or registered.owner != owner:
            raise ValueError(f"plugin {owner!r} requests an approval of kind {kind!r}, which it "
                             "did not register (ctx.approvals.register)")
        payload = json.dumps(dict(data or {}), sort_keys=True)  # ValueError/TypeError: not JSON
        short = summary.strip()[:MAX_SUMMARY] or registered.label

        async def run(tx: LedgerTx) -> ApprovalRequested:
            held = await tx.escrow(channel, username, cost, purpose=f"approval.{kind}",
                                   type=posting_type, kind=Kind.SPEND,
                                   reason=reason or f"{registered.label} (awaiting approval)",
                                   metadata={"approval": kind})
            if not held.ok:
                return ApprovalRequested(False, held.balance, error=held.error)
            result = await core_connection(tx).execute(core_approvals.insert().values(
                channel=channel, kind=kind, owner=owner, requester=username,
                requester_key=user_key(username), cost=cost, escrow_id=held.escrow_id,
                summary=short, data=payload, status="pending", created_at=tx.now, note=""))
            approval = Approval(inserted_id(result), channel, kind, owner, username, cost,
                                held.escrow_id, short, json.loads(payload), "pending", tx.now)
            return ApprovalRequested(True, held.balance, approval)

        done: ApprovalRequested = await self._ledger.for_source(owner).atomic(run)
        return done

    # -- resolving ------------------------------------------------------------------------------

    async def resolve(self, approval_id: int, *, approve: bool, by: str,
                      note: str = "") -> ApprovalResolved:
        """Approve (deliver, release) or reject (refund, PM) one pending approval, exactly
        once (see the module docstring)."""
        found = await self.get(approval_id)
        if found is None:
            return ApprovalResolved(False, error=UNKNOWN_APPROVAL)
        if found.status != "pending":
            return ApprovalResolved(False, found, error=APPROVAL_CLOSED)
        handler = self._kinds.get(found.kind)
        if approve and handler is None:
            return ApprovalResolved(False, found, error=NO_DELIVERY)
        status: Status = "approved" if approve else "rejected"
        label = self.label(found.kind)
        note = note.strip()[:MAX_SUMMARY]

        async def run(tx: LedgerTx) -> tuple[Approval, int]:
            claimed = await core_connection(tx).execute(
                core_approvals.update().where(core_approvals.c.id == found.id,
                                              core_approvals.c.status == "pending")
                .values(status=status, resolved_at=tx.now, resolver=by, note=note))
            if claimed.rowcount != 1:
                raise _Closed()
            approval = attrs.evolve(found, status=status, resolved_at=tx.now, resolver=by,
                                    note=note)
            if approve:
                assert handler is not None
                await handler.deliver(tx, approval)
                money = await tx.release(found.escrow_id, reason=f"{label} approved")
            else:
                money = await tx.refund(found.escrow_id, reason=f"{label} not approved")
                if handler is not None and handler.on_reject is not None:
                    await handler.on_reject(tx, approval)
            if not money.ok:  # its escrow was settled elsewhere: change nothing
                raise RuntimeError(f"approval {found.id}: escrow {found.escrow_id} could not be "
                                   f"settled ({money.error})")
            balance = (money.balance if not approve
                       else await tx.balance(found.channel, found.requester))
            return approval, balance

        try:
            approval, balance = await self._ledger.for_source(found.owner).atomic(run)
        except _Closed:
            return ApprovalResolved(False, await self.get(approval_id), error=APPROVAL_CLOSED)
        self._log.info("approval %d (%s of %s, %d) %s by %s", approval.id, approval.kind,
                       approval.requester, approval.cost, status, by)
        self._tell(approval, balance, label)
        return ApprovalResolved(True, approval, balance)

    def _tell(self, approval: Approval, balance: int, label: str) -> None:
        if approval.status == "approved":
            text = f"✅ Your {label} was approved: {approval.summary}"
        else:
            why = f" ({approval.note})" if approval.note else ""
            text = (f"↩️ Your {label} was not approved{why}: {self._fmt(approval.cost)} "
                    f"refunded. Balance: {self._fmt(balance)}")
        self._notify(approval.channel, approval.requester, text)

    # -- reading --------------------------------------------------------------------------------

    async def get(self, approval_id: int) -> Approval | None:
        """One approval in any state, or None."""
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(sqlite_begin="DEFERRED")
            row = (await conn.execute(sa.select(core_approvals).where(
                core_approvals.c.id == approval_id))).first()
        return None if row is None else _approval(row)

    async def pending(self, channel: str | None = None, *, kind: str | None = None,
                      requester: str | None = None) -> list[Approval]:
        """Pending approvals, oldest first (optionally of one channel, kind or requester)."""
        a = core_approvals
        stmt = sa.select(a).where(a.c.status == "pending")
        if channel is not None:
            stmt = stmt.where(a.c.channel == channel)
        if kind is not None:
            stmt = stmt.where(a.c.kind == kind)
        if requester is not None:
            stmt = stmt.where(a.c.requester_key == user_key(requester))
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(sqlite_begin="DEFERRED")
            rows = (await conn.execute(stmt.order_by(a.c.id))).all()
        return [_approval(row) for row in rows]


class PluginApprovals:
    """``ctx.approvals``: the approvals service for one plugin (its own kinds to request)."""

    def __init__(self, service: Approvals, plugin: str) -> None:
        self._service = service
        self._plugin = plugin

    def register(self, kind: str, *, label: str, deliver: Delivery,
                 on_reject: Delivery | None = None) -> None:
        """Claim ``kind`` (call from ``__init__``): ``label`` is how users read it ("channel
        GIF"); ``deliver(tx, approval)`` runs inside the approving transaction and gives the
        buyer the item (write it to the plugin's own tables through ``tx.conn``);
        ``on_reject(tx, approval)``, if given, runs inside the rejecting one."""
        self._service.register(ApprovalKind(kind, self._plugin, label, deliver, on_reject))

    async def request(self, channel: str, username: str, kind: str, cost: int, *,
                      summary: str, data: Mapping[str, Any] | None = None,
                      posting_type: str = "escrow", reason: str = "") -> ApprovalRequested:
        """Hold ``cost`` (a price from ``ctx.pricing``) and open a pending approval of one of
        this plugin's kinds: ``summary`` is what admins read (≤ 300 characters), ``data`` what
        ``deliver`` needs (JSON-able), ``posting_type`` the plugin's declared SPEND type the
        hold is written as."""
        return await self._service.request(self._plugin, channel, username, kind, cost,
                                           summary=summary, data=data,
                                           posting_type=posting_type, reason=reason)

    async def resolve(self, approval_id: int, *, approve: bool, by: str,
                      note: str = "") -> ApprovalResolved:
        """Approve or reject one pending approval (any kind: the caller checks that ``by`` is
        an admin), exactly once."""
        return await self._service.resolve(approval_id, approve=approve, by=by, note=note)

    async def get(self, approval_id: int) -> Approval | None:
        return await self._service.get(approval_id)

    async def pending(self, channel: str | None = None, *, kind: str | None = None,
                      requester: str | None = None) -> list[Approval]:
        """Pending approvals, oldest first."""
        return await self._service.pending(channel, kind=kind, requester=requester)

    def label(self, kind: str) -> str:
        return self._service.label(kind)


__all__ = ["APPROVAL_CLOSED", "NO_DELIVERY", "UNKNOWN_APPROVAL",
           "Approval", "ApprovalKind", "ApprovalRequested", "ApprovalResolved", "Approvals",
           "PluginApprovals"]
