"""The digests plugin's tables: the snapshots and the record of digests sent."""

from __future__ import annotations

import sqlalchemy as sa

from economy_core import NAMING, Schema, UtcDateTime

metadata = sa.MetaData(naming_convention=NAMING)
schema = Schema(metadata)

snapshots = sa.Table(
    "digests_snapshots", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("slot", UtcDateTime, primary_key=True),
    sa.Column("taken_at", UtcDateTime, nullable=False),
    sa.Column("accounts", sa.BigInteger, nullable=False),
    sa.Column("circulation", sa.BigInteger, nullable=False),
    sa.Column("active_today", sa.BigInteger, nullable=False),
    sa.Column("earned_today", sa.BigInteger, nullable=False),
    sa.Column("spent_today", sa.BigInteger, nullable=False),
    sa.Column("gamble_net_today", sa.BigInteger, nullable=False),
    sa.Column("median_balance", sa.Float, nullable=False),
    sa.Column("participation", sa.Float, nullable=False),
    sa.Column("extra", sa.JSON, nullable=False),
)
"""One row per channel and 6-hour slot (its start, UTC): the slot is the claim, so a slot is
recorded once however often the job runs. ``extra``: what other plugins added
(``economy_snapshot_fields``). ``gamble_net_today``: what gamblers won back minus what they
staked today (negative: the house is ahead)."""

sent = sa.Table(
    "digests_sent", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("digest", sa.String(10), primary_key=True),
    sa.Column("period", sa.String(20), primary_key=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("recipients", sa.Integer, nullable=False),
)
"""A digest handed to the outbox: ``digest`` is ``user`` (``period`` the day it covers) or
``admin`` (``period`` the ISO week it was sent in). Inserted, after checking none exists, before
any of its PMs is queued: a digest goes out at most once per period, also across restarts (a
crash between the claim and the outbox loses that digest rather than sending it twice)."""
