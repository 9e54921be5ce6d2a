"""The presence plugin's tables (all ``presence_*``) and their upgrade steps."""

from __future__ import annotations

import sqlalchemy as sa

from economy_core import NAMING, Schema, UserTable, UtcDateTime

metadata = sa.MetaData(naming_convention=NAMING)
schema = Schema(metadata)

users = sa.Table(
    "presence_users", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("first_seen", UtcDateTime, nullable=False),
    sa.Column("last_seen", UtcDateTime, nullable=False),
    sa.Column("wallet_pending", sa.Boolean, nullable=False, server_default=sa.false()),
)
"""Who has ever been seen, and when last (departure time, or the last tick while present);
``wallet_pending``: arrived, but the welcome wallet was withheld by the onboarding minimums (paid
on a later tick while present, also after a restart)."""


@schema.upgrade("presence_users.wallet_pending: welcome wallets withheld by the onboarding "
                "minimums (existing users: nothing pending)")
def add_wallet_pending(conn: sa.Connection) -> None:
    conn.execute(sa.text("ALTER TABLE presence_users "
                         "ADD COLUMN wallet_pending BOOLEAN NOT NULL DEFAULT FALSE"))


milestones = sa.Table(
    "presence_milestones", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("hours", sa.Integer, primary_key=True),
)
"""One row per dwell milestone paid: keyed by its hour value, so any configured hour pays once."""


PERSONAL = (
    UserTable(users, keys=("user_key",)),
    UserTable(milestones, keys=("user_key",)),
)
"""Where users are kept (``cytube-economy user export|forget``)."""
