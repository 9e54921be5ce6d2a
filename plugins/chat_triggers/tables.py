"""The chat_triggers plugin's tables (all ``chat_triggers_*``): trigger analytics."""

from __future__ import annotations

import sqlalchemy as sa

from economy_core.db import NAMING

metadata = sa.MetaData(naming_convention=NAMING)

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
