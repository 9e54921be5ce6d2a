"""Validation of ledger inputs, counter effects of postings, row and result codecs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from ..events import user_key
from .model import MAX_AMOUNT, Account, Escrow, Kind, Posting, TxResult

T = TypeVar("T")


# -- validation and small helpers -------------------------------------------------------------


def check_amount(amount: object) -> int:
    """``amount`` if it is an int (not bool) in 1..MAX_AMOUNT, else ValueError."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError(f"amount must be an int, not {type(amount).__name__} ({amount!r})")
    if not 0 < amount <= MAX_AMOUNT:
        raise ValueError(f"amount must be between 1 and {MAX_AMOUNT}, not {amount}")
    return amount


def _check_user(username: str) -> tuple[str, str]:
    """(user key, display name) of a username; ValueError when empty or too long."""
    if not isinstance(username, str):
        raise ValueError(f"username must be a str, not {type(username).__name__}")
    key = user_key(username)
    if not key:
        raise ValueError("username must not be empty")
    if len(key) > 100:
        raise ValueError("username is longer than 100 characters")
    return key, username.strip()


def _check_text(what: str, value: object, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValueError(f"{what} must be a non-empty str of at most {limit} chars: {value!r}")
    return value


def _check_key(key: str | None) -> str | None:
    return None if key is None else _check_text("idempotency key", key, 200)


def _check_channel(channel: str) -> str:
    return _check_text("channel", channel, 100)


def _check_escrow_id(escrow_id: int) -> int:
    if isinstance(escrow_id, bool) or not isinstance(escrow_id, int):
        raise ValueError(f"escrow id must be an int, not {escrow_id!r}")
    return escrow_id


def _effects(kind: Kind, amount: int) -> tuple[str | None, str | None]:
    """(account counter column, daily counter) moved by a posting of signed ``amount``."""
    if kind is Kind.EARN and amount > 0:
        return "lifetime_earned", "z_earned"
    if kind is Kind.SPEND and amount < 0:
        return "lifetime_spent", "z_spent"
    if kind is Kind.GAMBLE:
        return ("gambled_in", "z_gambled_in") if amount < 0 else ("gambled_out", "z_gambled_out")
    return None, None


_KIND_VALUES = {k: k.value for k in Kind}  # Enum.value is a slow descriptor in bulk loops

_COUNTER_COLUMNS = ("lifetime_earned", "lifetime_spent", "gambled_in", "gambled_out")


def _deltas(kind: Kind, amount: int) -> tuple[int, int, int, int]:
    """Account counter increments (earned, spent, gambled in, gambled out) of one posting."""
    column, _ = _effects(kind, amount)
    return tuple(abs(amount) if c == column else 0  # type: ignore[return-value]
                 for c in _COUNTER_COLUMNS)


def _check_move(channel: str, username: str, amount: int, kind: Kind, key: str | None,
                type: str) -> tuple[str, str, Kind, str | None]:
    """The inputs of one user's money move, checked before the database is touched:
    (user key, display name, kind, idempotency key)."""
    _check_channel(channel)
    check_amount(amount)
    ukey, name = _check_user(username)
    kind, key = Kind(kind), _check_key(key)
    _check_text("posting type", type, 50)
    return ukey, name, kind, key


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":")) if value else "{}"


def _account(row: Any) -> Account:
    return Account(channel=row.channel, user_key=row.user_key, username=row.username,
                   balance=int(row.balance), lifetime_earned=int(row.lifetime_earned),
                   lifetime_spent=int(row.lifetime_spent), gambled_in=int(row.gambled_in),
                   gambled_out=int(row.gambled_out), created_at=row.created_at,
                   updated_at=row.updated_at)


def _posting(row: Any) -> Posting:
    return Posting(id=int(row.id), tx_id=row.tx_id, channel=row.channel, user_key=row.user_key,
                   username=row.username, amount=int(row.amount),
                   balance_after=int(row.balance_after), type=row.type, kind=Kind(row.kind),
                   source=row.source, trigger_id=row.trigger_id, reason=row.reason,
                   related_user=row.related_user, metadata=dict(row.meta or {}), at=row.at)


def _escrow(row: Any) -> Escrow:
    return Escrow(id=int(row.id), channel=row.channel, user_key=row.user_key,
                  username=row.username, amount=int(row.amount), purpose=row.purpose,
                  source=row.source, status=row.status, type=row.type, kind=Kind(row.kind),
                  created_at=row.created_at, resolved_at=row.resolved_at,
                  metadata=dict(row.meta or {}))


# -- stored results (idempotency) -------------------------------------------------------------


def _result_to_json(result: TxResult) -> dict[str, Any]:
    escrow = result.escrow
    return {
        "ok": result.ok,
        "error": result.error,
        "balances": [[k, v] for k, v in result.balances.items()],
        "postings": [
            {"id": p.id, "tx_id": p.tx_id, "channel": p.channel, "user_key": p.user_key,
             "username": p.username, "amount": p.amount, "balance_after": p.balance_after,
             "type": p.type, "kind": p.kind.value, "source": p.source,
             "trigger_id": p.trigger_id, "reason": p.reason, "related_user": p.related_user,
             "metadata": p.metadata, "at": p.at.isoformat()}
            for p in result.postings],
        "escrow": None if escrow is None else {
            "id": escrow.id, "channel": escrow.channel, "user_key": escrow.user_key,
            "username": escrow.username, "amount": escrow.amount, "purpose": escrow.purpose,
            "source": escrow.source, "status": escrow.status, "type": escrow.type,
            "kind": escrow.kind.value, "created_at": escrow.created_at.isoformat(),
            "resolved_at": (None if escrow.resolved_at is None
                            else escrow.resolved_at.isoformat()),
            "metadata": escrow.metadata},
    }


def _result_from_json(data: Mapping[str, Any]) -> TxResult:
    postings = tuple(
        Posting(id=p["id"], tx_id=p["tx_id"], channel=p["channel"], user_key=p["user_key"],
                username=p["username"], amount=p["amount"], balance_after=p["balance_after"],
                type=p["type"], kind=Kind(p["kind"]), source=p["source"],
                trigger_id=p["trigger_id"], reason=p["reason"], related_user=p["related_user"],
                metadata=dict(p["metadata"]), at=datetime.fromisoformat(p["at"]))
        for p in data["postings"])
    e = data.get("escrow")
    escrow = None if e is None else Escrow(
        id=e["id"], channel=e["channel"], user_key=e["user_key"], username=e["username"],
        amount=e["amount"], purpose=e["purpose"], source=e["source"], status=e["status"],
        type=e["type"], kind=Kind(e["kind"]), created_at=datetime.fromisoformat(e["created_at"]),
        resolved_at=(None if e["resolved_at"] is None
                     else datetime.fromisoformat(e["resolved_at"])),
        metadata=dict(e["metadata"]))
    return TxResult(ok=bool(data["ok"]), postings=postings,
                    balances={k: int(v) for k, v in data["balances"]}, error=data["error"],
                    replayed=True, escrow=escrow)
