"""The maintenance plugin's table (``maintenance_*``)."""

from __future__ import annotations

import sqlalchemy as sa

from economy_core import NAMING, Schema, UtcDateTime

metadata = sa.MetaData(naming_convention=NAMING)
schema = Schema(metadata)

runs = sa.Table(
    "maintenance_runs", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("mode", sa.String(20), nullable=False),
    sa.Column("accounts", sa.Integer, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)
"""One row per (channel, local date) whose nightly rule ran: the claim that makes the run
happen once. Written in the same ledger transaction as the run's postings."""
