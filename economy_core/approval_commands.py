"""The admins' side of approvals: ``approvals`` lists what waits, ``approve <id>`` and
``reject <id> [reason]`` resolve one (exactly once; see :mod:`economy_core.approvals`).

Registered with the router as part of the core (admin commands: CyTube rank ≥
``admin.owner_level``). Plugins may add shortcuts of their own for their kinds (e.g.
``approve_gif @user``) on the same service.

The same object declares the core's endpoints ``approval.list`` (what waits in the channel) and
``approval.resolve`` (``id``, ``approve``: true/false, ``note``?, ``by``?): registered with the
API server next to ``system.*``. A retried resolve of an approval already resolved the same way
by the same name answers as the first did (``replayed: true``) and moves nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .approvals import APPROVAL_CLOSED, NO_DELIVERY, UNKNOWN_APPROVAL, Approval, Approvals
from .clock import Clock
from .commands import CommandCall, Rest, command
from .endpoints import ApiError, ApiRequest, endpoint

MAX_LISTED = 15
"""Approvals one ``approvals`` reply lists (the oldest; the rest are counted)."""


def age(since: datetime, now: datetime) -> str:
    """How long ago, in whole minutes, hours or days."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


def describe(approval: Approval, label: str, fmt: Callable[[int], str], now: datetime) -> str:
    """One approval as admins read it."""
    return (f"#{approval.id} {label} · {approval.requester} · {fmt(approval.cost)} · "
            f"{age(approval.created_at, now)} ago · {approval.summary}")


def closed_text(approval: Approval | None, error: str | None, label: str) -> str:
    """Why an approval could not be resolved."""
    if error == UNKNOWN_APPROVAL or approval is None:
        return "No such approval."
    if error == APPROVAL_CLOSED:
        who = f" by {approval.resolver}" if approval.resolver else ""
        return f"#{approval.id} was already {approval.status}{who}."
    if error == NO_DELIVERY:
        return (f"#{approval.id} cannot be approved: the plugin that delivers {label} is not "
                "running (reject it to refund).")
    return f"#{approval.id} could not be resolved ({error})."


class ApprovalCommands:
    """``approvals``, ``approve``, ``reject``: registered as the core's."""

    name = "core"

    def __init__(self, approvals: Approvals, clock: Clock,
                 format_amount: Callable[[int], str]) -> None:
        self._approvals = approvals
        self._clock = clock
        self._fmt = format_amount

    @command("approvals", help="Purchases waiting for an admin's approval", admin=True)
    async def approvals(self, call: CommandCall) -> str:
        waiting = await self._approvals.pending(call.channel)
        if not waiting:
            return "📋 Nothing is waiting for approval."
        now = self._clock.now()
        lines = [f"📋 Waiting for approval ({len(waiting)}):"]
        lines += [describe(a, self._approvals.label(a.kind), self._fmt, now)
                  for a in waiting[:MAX_LISTED]]
        if len(waiting) > MAX_LISTED:
            lines.append(f"…and {len(waiting) - MAX_LISTED} more")
        lines.append("approve <id> · reject <id> [reason]")
        return "\n".join(lines)

    @command("approve", help="Approve a waiting purchase: approve <id>", admin=True)
    async def approve(self, call: CommandCall, id: int) -> str:
        return await self._resolve(call, id, True, "")

    @command("reject", help="Reject a waiting purchase (full refund): reject <id> [reason]",
             admin=True)
    async def reject(self, call: CommandCall, id: int, reason: Rest | None = None) -> str:
        return await self._resolve(call, id, False, str(reason or ""))

    async def _resolve(self, call: CommandCall, approval_id: int, approve: bool,
                       note: str) -> str:
        found = await self._approvals.get(approval_id)
        if found is None or found.channel != call.channel:
            return "No such approval."
        label = self._approvals.label(found.kind)
        done = await self._approvals.resolve(approval_id, approve=approve, by=call.username,
                                             note=note)
        if not done.ok or done.approval is None:
            return closed_text(done.approval, done.error, label)
        a = done.approval
        if approve:
            return f"✅ Approved #{a.id}: {a.requester}'s {label} ({a.summary})."
        return (f"↩️ Rejected #{a.id}: {a.requester}'s {label}; {self._fmt(a.cost)} refunded "
                "and they were told.")

    # -- endpoints ------------------------------------------------------------------------------

    def _data(self, a: Approval) -> dict[str, Any]:
        return {"id": a.id, "kind": a.kind, "label": self._approvals.label(a.kind),
                "requester": a.requester, "cost": a.cost, "summary": a.summary,
                "status": a.status, "created_at": a.created_at.isoformat(),
                "resolver": a.resolver, "note": a.note}

    @endpoint("approval.list", help="Purchases waiting for an admin's approval in the channel")
    async def api_list(self, request: ApiRequest) -> dict[str, Any]:
        waiting = await self._approvals.pending(request.channel)
        return {"pending": [self._data(a) for a in waiting]}

    @endpoint("approval.resolve", help="Approve or reject (full refund) one waiting purchase: "
                                       "id, approve (true/false), note?, by?")
    async def api_resolve(self, request: ApiRequest) -> dict[str, Any]:
        args = request.args
        approval_id, approve = args.get("id"), args.get("approve")
        if isinstance(approval_id, bool) or not isinstance(approval_id, int):
            raise ApiError("id (a whole number) is required")
        if not isinstance(approve, bool):
            raise ApiError("approve (true or false) is required")
        note, by = args.get("note", ""), args.get("by")
        if not isinstance(note, str):
            raise ApiError("note must be text")
        resolver = by if isinstance(by, str) and by.strip() else f"api:{request.caller}"
        found = await self._approvals.get(approval_id)
        if found is None or found.channel != request.channel:
            raise ApiError("No such approval.")
        wanted = "approved" if approve else "rejected"
        if found.status == wanted and found.resolver == resolver:
            return {"approval": self._data(found), "replayed": True}
        done = await self._approvals.resolve(approval_id, approve=approve, by=resolver,
                                             note=note)
        if not done.ok or done.approval is None:
            raise ApiError(closed_text(done.approval, done.error,
                                       self._approvals.label(found.kind)))
        return {"approval": self._data(done.approval), "replayed": False}
