"""The events plugin's tables (``events_*``)."""

from __future__ import annotations

import sqlalchemy as sa

from economy_core import NAMING, Schema, UserTable, UtcDateTime

metadata = sa.MetaData(naming_convention=NAMING)
schema = Schema(metadata)

occurrences = sa.Table(
    "events_occurrences", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("started_at", UtcDateTime, primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("multiplier", sa.Float, nullable=False),
    sa.Column("ends_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("announce", sa.Boolean, nullable=False),
    sa.Column("started_by", sa.String(100), nullable=True),
    sa.Column("pot", sa.BigInteger, nullable=False),
    sa.Column("paid_users", sa.Integer, nullable=False),
    sa.Column("ended_at", UtcDateTime, nullable=True),
    sa.Column("ended_by", sa.String(100), nullable=True),
    sa.Index("ix_events_occurrences_ends", "channel", "ends_at"),
)
"""One row per event start: a scheduled event's cron fire (``started_at`` = the fire) or an
admin's ``event start`` (``kind`` ``scheduled``/``adhoc``). The row is the start's claim: it is
inserted, after checking none exists, in the same ledger transaction as the presence pot, so a
fire starts (and pays) once, also across restarts. ``status``: ``running``, then ``ended`` (its
end was announced), ``stopped`` (an admin's ``event stop``) or ``replaced`` (a newer start of the
same event, or a new ad-hoc event, took over)."""

switches = sa.Table(
    "events_switches", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("source", sa.String(20), primary_key=True),
    sa.Column("state", sa.String(100), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)
"""The last announced state of the switching sources (``off_peak``: ``on``/``""``; ``holiday``:
its name or ``""``), so a restart neither repeats a switch-on line nor loses a switch-off."""


PERSONAL = (UserTable(occurrences, names=("started_by", "ended_by"), delete=False),)
"""Where users are kept (``cytube-economy user export|forget``): an admin's name is replaced."""
