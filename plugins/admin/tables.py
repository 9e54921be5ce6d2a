"""The admin plugin's table (``admin_*``): the answers to API requests that carried a
``request_id``, so a retried request changes nothing and gets the first answer again."""

from __future__ import annotations

import sqlalchemy as sa

from economy_core import NAMING, Schema, UtcDateTime

metadata = sa.MetaData(naming_convention=NAMING)
schema = Schema(metadata)

requests = sa.Table(
    "admin_requests", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("request_id", sa.String(200), primary_key=True),
    sa.Column("command", sa.String(100), nullable=False),
    sa.Column("caller", sa.String(100), nullable=False),
    sa.Column("reply", sa.Text, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)
"""One row per applied API request with a ``request_id``: written in the same ledger
transaction as the money it moved (or right after a ban/unban), read before anything is done."""
