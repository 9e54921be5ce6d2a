"""The chat_triggers plugin's tables (all ``chat_triggers_*``): trigger analytics and each
user's last chat line (``last_active``)."""

from __future__ import annotations

import sqlalchemy as sa

from economy_core import NAMING, Schema, UserTable, UtcDateTime

metadata = sa.MetaData(naming_convention=NAMING)
schema = Schema(metadata)

analytics = sa.Table(
    "chat_triggers_analytics", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("trigger_id", sa.String(100), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("hits", sa.BigInteger, nullable=False),
    sa.Column("unique_users", sa.BigInteger, nullable=False),
    sa.Column("z", sa.BigInteger, nullable=False),
)
"""Per trigger and channel day: paid hits (past their caps), distinct paid users, Z credited."""

analytics_users = sa.Table(
    "chat_triggers_analytics_users", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("trigger_id", sa.String(100), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
)
"""Who was counted in ``unique_users`` (exact counts); rows of closed days are deleted."""

last_active = sa.Table(
    "chat_triggers_last_active", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)
"""When each user last sent a chat line that went through the pipeline (SPEC §3.3 counters)."""


@schema.upgrade("chat_triggers_last_active: when each user last chatted")
def add_last_active(conn: sa.Connection) -> None:
    """The ``last_active`` table (empty: it fills with the next lines)."""
    last_active.create(conn, checkfirst=True)


PERSONAL = (
    UserTable(analytics_users, keys=("user_key",)),
    UserTable(last_active, keys=("user_key",)),
)
"""Where users are kept (``cytube-economy user export|forget``); the daily totals
(``analytics``) name nobody."""
