"""The competitions plugin's tables (``competitions_*``)."""

from __future__ import annotations

import sqlalchemy as sa

from economy_core import NAMING, Schema, UserTable, UtcDateTime

metadata = sa.MetaData(naming_convention=NAMING)
schema = Schema(metadata)

runs = sa.Table(
    "competitions_runs", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("competition", sa.String(40), primary_key=True),
    sa.Column("winners", sa.Integer, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)
"""One row per (channel, local day, competition) that was settled: the claim that makes it
happen once. Written, after checking none exists, in the same ledger transaction as its prizes."""

prizes = sa.Table(
    "competitions_prizes", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("competition", sa.String(40), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
)
"""Each prize paid (with its run's row). Judging earnings subtracts the day's prizes, so a
competition over ``z_earned`` reads the same figures whether it runs before or after the others,
or again after a crash."""


PERSONAL = (UserTable(prizes, keys=("user_key",), names=("username",), delete=False),)
"""Where users are kept (``cytube-economy user export|forget``): a prize stays in the day's
results under the pseudonym."""
