"""The media_queue plugin's table (``media_queue_*``)."""

from __future__ import annotations

import sqlalchemy as sa

from economy_core import NAMING, Schema, UserTable, UtcDateTime

metadata = sa.MetaData(naming_convention=NAMING)
schema = Schema(metadata)

purchases = sa.Table(
    "media_queue_purchases", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("user_key", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("token", sa.String(64), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("duration_s", sa.Integer, nullable=False),
    sa.Column("media_type", sa.String(10), nullable=False),
    sa.Column("media_id", sa.String(1000), nullable=False),
    sa.Column("position", sa.String(10), nullable=False),
    sa.Column("cost", sa.BigInteger, nullable=False),
    sa.Column("escrow_id", sa.Integer, nullable=True),
    sa.Column("approval_id", sa.Integer, nullable=True),
    sa.Column("request_key", sa.String(200), nullable=True, unique=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("uid", sa.Integer, nullable=True),
    sa.Column("note", sa.String(300), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("settled_at", UtcDateTime, nullable=True),
    sa.Index("ix_media_queue_purchases_user", "channel", "user_key", "status"),
    sa.Index("ix_media_queue_purchases_status", "status"),
)
"""One row per purchase. ``kind``: ``queue``, ``playnext`` or ``forcenow``. ``status``:

- ``pending``: the price is held in escrow ``escrow_id`` (taken in the same transaction as the
  row); ``add_media`` has not gone out;
- ``sent``: committed just before ``add_media`` goes out; the robot's answer (or, when it is
  unconfirmed, missing, or the process died, the playlist) settles it;
- ``queued``: CyTube confirmed it (``uid``) or it was found on the playlist: the escrow was
  released (spent) in the same transaction; ``refunded``: refused, not on the playlist, never
  sent, or the playlist unknown: the escrow was refunded in the same transaction (``note`` says
  why);
- ``approval``: a ``forcenow`` waiting for an admin (``approval_id``; its escrow belongs to the
  core's approval); ``approved``: approved (written inside the approving transaction, the charge
  final), to be sent; ``sending``: claimed just before its ``add_media``; then ``queued``, or
  ``compensated`` (the robot refused an approved item, or it is not on the playlist: its price
  was given back as a ``media_refund`` posting).
"""


PERSONAL = (UserTable(purchases, keys=("user_key",)),)
"""Where users are kept (``cytube-economy user export|forget``): a user's purchases are theirs and
go with them (an open one holds an escrow, so the core refuses to forget before it is settled)."""
