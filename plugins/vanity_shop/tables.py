"""The shop's tables (all ``vanity_shop_*``), written in the ledger transaction that charges for
them (``LedgerTx.conn``): an item is never stored without its charge, nor charged without being
stored (RELIABILITY 19)."""

from __future__ import annotations

import sqlalchemy as sa

from economy_core import NAMING, Schema, UserTable, UtcDateTime

metadata = sa.MetaData(naming_convention=NAMING)
schema = Schema(metadata)

items = sa.Table(
    "vanity_shop_items", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("item", sa.String(20), primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("price", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)
"""What each user owns: one row per item (greeting, title, color, gif, rename); a rebuy
replaces the row."""

shoutouts = sa.Table(
    "vanity_shop_shoutouts", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("last_at", UtcDateTime, nullable=False),
)
"""When each user last paid for a shoutout (the cooldown)."""

fortunes = sa.Table(
    "vanity_shop_fortunes", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("price", sa.BigInteger, nullable=False),
)
"""The days a user had their fortune (once a day; ``price`` 0 = a free one)."""


PERSONAL = (
    UserTable(items, keys=("user_key",)),
    UserTable(shoutouts, keys=("user_key",)),
    UserTable(fortunes, keys=("user_key",)),
)
"""Where users are kept (``cytube-economy user export|forget``)."""
