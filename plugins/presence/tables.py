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
)
"""Who has ever been seen, and when last (departure time, or the last tick while present)."""

milestones = sa.Table(
    "presence_milestones", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("hours", sa.Integer, primary_key=True),
)
"""One row per dwell milestone paid: keyed by its hour value, so any configured hour pays once."""
