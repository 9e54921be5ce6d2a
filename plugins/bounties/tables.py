"""The bounties plugin's table (``bounties_*``)."""

from __future__ import annotations

import sqlalchemy as sa

from economy_core import NAMING, Schema, UserTable, UtcDateTime

metadata = sa.MetaData(naming_convention=NAMING)
schema = Schema(metadata)

bounties = sa.Table(
    "bounties_bounties", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("creator", sa.String(100), nullable=False),
    sa.Column("creator_key", sa.String(100), nullable=False),
    sa.Column("description", sa.String(500), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("escrow_id", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("winner", sa.String(100), nullable=True),
    sa.Column("resolver", sa.String(100), nullable=True),
    sa.Column("resolved_at", UtcDateTime, nullable=True),
    sa.Column("refunded", sa.BigInteger, nullable=True),
    sa.Index("ix_bounties_bounties_open", "channel", "status", "expires_at"),
    sa.Index("ix_bounties_bounties_creator", "channel", "creator_key", "status"),
)
"""One row per bounty; its amount is held in the ledger escrow ``escrow_id``. ``status``:
``open``, then ``claimed`` (``winner`` paid, ``resolver`` the admin) or ``expired`` (``refunded``
back to the creator, the rest burned). The row and the escrow change together: each move is ONE
ledger transaction that first claims the row with ``WHERE status='open'``."""


PERSONAL = (
    UserTable(bounties, keys=("creator_key",)),
    UserTable(bounties, names=("winner", "resolver"), delete=False),
)
"""Where users are kept (``cytube-economy user export|forget``): the bounties a user posted go
(their text is theirs; open ones hold an escrow, so the core refuses to forget before they are
resolved), a winner's or resolving admin's name in others' bounties is replaced."""
