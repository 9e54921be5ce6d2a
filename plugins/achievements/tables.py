"""The achievements plugin's tables (all ``achievements_*``)."""

from __future__ import annotations

import sqlalchemy as sa

from economy_core import NAMING, Schema, UserTable, UtcDateTime

metadata = sa.MetaData(naming_convention=NAMING)
schema = Schema(metadata)

earned = sa.Table(
    "achievements_earned", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("achievement", sa.String(60), primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("reward", sa.BigInteger, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)
"""One row per achievement earned: written in the ledger transaction that pays it (the credit
also carries the idempotency key ``achievements:<id>:<user>``), so it is paid once, ever."""

emotes = sa.Table(
    "achievements_emotes", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("emote", sa.String(100), primary_key=True),
)
"""The distinct channel emotes each user has written (``unique_emotes_used_lifetime``)."""


PERSONAL = (
    UserTable(earned, keys=("user_key",)),
    UserTable(emotes, keys=("user_key",)),
)
"""Where users are kept (``cytube-economy user export|forget``)."""
