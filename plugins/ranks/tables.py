"""The ranks plugin's tables (all ``ranks_*``)."""

from __future__ import annotations

import sqlalchemy as sa

from economy_core import NAMING, Schema, UserTable, UtcDateTime

metadata = sa.MetaData(naming_convention=NAMING)
schema = Schema(metadata)

users = sa.Table(
    "ranks_users", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("tier", sa.Integer, nullable=False),
    sa.Column("held", sa.Integer, nullable=True),
    sa.Column("set_by", sa.String(100), nullable=True),
    sa.Column("level_pending", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)
"""A user's stored rank (tier index; users without a row are at tier 0). ``held``: the tier
their earnings reached when an admin last set their rank (earnings promote only past it);
``set_by``: that admin. ``level_pending``: a CyTube channel level their rank gives that the
robot has not been asked for yet (asked when the user is next seen with a lower rank)."""

announcements = sa.Table(
    "ranks_announcements", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("last_at", UtcDateTime, nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("best", sa.Integer, nullable=False),
)
"""Per channel: when a promotion line was last claimed, and the highest tier announced on
``day`` (channel-local). Written in the transaction that stores the promotions it announces."""

purchases = sa.Table(
    "ranks_purchases", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("level", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("price", sa.BigInteger, nullable=False),
    sa.Column("escrow_id", sa.BigInteger, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)
"""A CyTube level bought (written with the escrow's release: paid and delivered)."""


PERSONAL = (
    UserTable(users, keys=("user_key",)),
    UserTable(users, names=("set_by",), delete=False),
    UserTable(purchases, keys=("user_key",)),
)
"""Where users are kept (``cytube-economy user export|forget``): their own rows go, an admin's
name in others' rows (``set_by``) is replaced."""
