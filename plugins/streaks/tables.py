"""The streaks plugin's table (``streaks_*``)."""

from __future__ import annotations

import sqlalchemy as sa

from economy_core import NAMING, Schema, UserTable, UtcDateTime

metadata = sa.MetaData(naming_convention=NAMING)
schema = Schema(metadata)

users = sa.Table(
    "streaks_users", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("current", sa.Integer, nullable=False),
    sa.Column("longest", sa.Integer, nullable=False),
    sa.Column("last_date", sa.Date, nullable=False),
    sa.Column("iso_week", sa.String(10), nullable=False),
    sa.Column("weekday_seen", sa.Boolean, nullable=False),
    sa.Column("weekend_seen", sa.Boolean, nullable=False),
    sa.Column("bridge_claimed", sa.Boolean, nullable=False),
    sa.Column("reminder_week", sa.String(10), nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_streaks_users_day", "channel", "last_date"),
)
"""One row per user who ever qualified a day. ``last_date`` is the last qualifying
(channel-local) day: the once-a-day claim moves it forward only, in the same ledger transaction
as that day's rewards. ``iso_week`` (``YYYY-Www``) is the week the bridge flags belong to;
``reminder_week`` the last week the weekend reminder was sent."""


PERSONAL = (UserTable(users, keys=("user_key",)),)
"""Where users are kept (``cytube-economy user export|forget``)."""
