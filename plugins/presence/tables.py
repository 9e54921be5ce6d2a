"""The presence plugin's tables (all ``presence_*``)."""

from __future__ import annotations

import sqlalchemy as sa

from economy_core.db import NAMING

metadata = sa.MetaData(naming_convention=NAMING)

users = sa.Table(
    "presence_users", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("wallet_pending", sa.Boolean, nullable=False, server_default=sa.false()),
)
"""Who has ever been seen, and when last (departure time, or the last tick while present);
``wallet_pending``: arrived, but the welcome wallet was withheld by the onboarding minimums (paid
on a later tick while present, also after a restart)."""


def add_wallet_pending(conn: sa.Connection) -> None:
    """Schema 1 → 2: the ``wallet_pending`` flag (existing users: nothing pending)."""
    conn.execute(sa.text("ALTER TABLE presence_users "
                         "ADD COLUMN wallet_pending BOOLEAN NOT NULL DEFAULT FALSE"))


UPGRADES = {2: add_wallet_pending}
SCHEMA_VERSION = 2

milestones = sa.Table(
    "presence_milestones", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("hours", sa.Integer, primary_key=True),
)
"""One row per dwell milestone paid: keyed by its hour value, so any configured hour pays once."""
