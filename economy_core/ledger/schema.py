"""The ledger's tables."""

from __future__ import annotations

import sqlalchemy as sa

from ..db import NAMING, UtcDateTime

# -- tables -----------------------------------------------------------------------------------

ledger_metadata = sa.MetaData(naming_convention=NAMING)

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Money = sa.BigInteger

accounts = sa.Table(
    "core_accounts", ledger_metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("user_key", sa.String(100), nullable=False),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("balance", _Money, nullable=False),
    sa.Column("lifetime_earned", _Money, nullable=False),
    sa.Column("lifetime_spent", _Money, nullable=False),
    sa.Column("gambled_in", _Money, nullable=False),
    sa.Column("gambled_out", _Money, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("channel", "user_key"),
    sa.CheckConstraint("balance >= 0", name="balance_not_negative"),
)

transactions = sa.Table(
    "core_transactions", ledger_metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("tx_id", sa.String(32), nullable=False, index=True),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("user_key", sa.String(100), nullable=False),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("amount", _Money, nullable=False),
    sa.Column("balance_after", _Money, nullable=False),
    sa.Column("type", sa.String(50), nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("trigger_id", sa.String(200), nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("related_user", sa.String(100), nullable=True),
    sa.Column("metadata", sa.JSON, nullable=False, key="meta"),
    sa.Column("at", UtcDateTime, nullable=False, index=True),
    sa.Index("ix_core_transactions_account", "channel", "user_key", "id"),
)

daily_counters = sa.Table(
    "core_daily", ledger_metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("counter", sa.String(100), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

caps = sa.Table(
    "core_caps", ledger_metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("cap_key", sa.String(200), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("window_start", UtcDateTime, nullable=False),
)

escrows = sa.Table(
    "core_escrows", ledger_metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("user_key", sa.String(100), nullable=False),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("amount", _Money, nullable=False),
    sa.Column("purpose", sa.String(100), nullable=False),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("type", sa.String(50), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("resolved_at", UtcDateTime, nullable=True),
    sa.Column("metadata", sa.JSON, nullable=False, key="meta"),
    sa.CheckConstraint("status IN ('open', 'released', 'refunded')", name="status_known"),
    sa.Index("ix_core_escrows_open", "status", "channel", "purpose"),
)

idempotency = sa.Table(
    "core_idempotency", ledger_metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)
