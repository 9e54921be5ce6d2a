"""The gambling plugin's tables (all ``gambling_*``).

Game state rows are written through the ledger transaction that moves the money they describe
(``LedgerTx.conn``), so a row's status and the escrows it names always agree. A multi-player
game's row is *claimed* by a conditional update (``WHERE status = 'pending'`` / ``'open'``) in
that transaction before any money moves: of two racing resolutions exactly one finds the row.
"""

from __future__ import annotations

import sqlalchemy as sa

from economy_core import NAMING, Schema, UserTable, UtcDateTime

metadata = sa.MetaData(naming_convention=NAMING)
schema = Schema(metadata)

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

challenges = sa.Table(
    "gambling_challenges", metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("challenger", sa.String(100), nullable=False),
    sa.Column("challenger_key", sa.String(100), nullable=False),
    sa.Column("target", sa.String(100), nullable=False),
    sa.Column("target_key", sa.String(100), nullable=False),
    sa.Column("wager", sa.BigInteger, nullable=False),
    sa.Column("challenger_escrow", sa.BigInteger, nullable=False),
    sa.Column("target_escrow", sa.BigInteger, nullable=True),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("resolved_at", UtcDateTime, nullable=True),
    sa.Column("winner_key", sa.String(100), nullable=True),
    sa.Column("prize", sa.BigInteger, nullable=True),
    sa.Column("rake", sa.BigInteger, nullable=True),
    sa.CheckConstraint("status IN ('pending', 'settled', 'declined', 'expired')",
                       name="status_known"),
    sa.Index("ix_gambling_challenges_open", "channel", "status", "target_key"),
)
"""One duel: pending (challenger's stake escrowed) → settled | declined | expired."""

heists = sa.Table(
    "gambling_heists", metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("initiator", sa.String(100), nullable=False),
    sa.Column("wager", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("crew_size", sa.Integer, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("window_ends", UtcDateTime, nullable=False),
    sa.Column("ended_at", UtcDateTime, nullable=True),
    sa.Column("outcome", sa.String(10), nullable=True),
    sa.Column("told_at", UtcDateTime, nullable=True),
    sa.CheckConstraint("status IN ('open', 'settled', 'short', 'aborted')", name="status_known"),
    sa.Index("ix_gambling_heists_channel", "channel", "status"),
)
"""One heist: open (crew gathering) → settled (rolled) | short (too few, refunded) | aborted
(the bot restarted while it was open, refunded). ``told_at``: when the outcome was handed to the
outbox (claimed ``WHERE told_at IS NULL`` just before), NULL while nobody has been told yet —
start-up tells each ended heist still NULL (a restart inside the suspense pause)."""


@schema.upgrade("gambling_heists.told_at: when a heist's outcome was told")
def add_told_at(conn: sa.Connection) -> None:
    """``gambling_heists.told_at``. Heists that had already ended are taken as told (the old
    code told them unless a restart hit its pause; which ones is not recorded, and re-sending
    every old result would be worse)."""
    column = UtcDateTime().compile(dialect=conn.dialect)
    conn.execute(sa.text(f"ALTER TABLE gambling_heists ADD COLUMN told_at {column}"))
    conn.execute(sa.text("UPDATE gambling_heists SET told_at = ended_at "
                         "WHERE status <> 'open'"))


heist_crew = sa.Table(
    "gambling_heist_crew", metadata,
    sa.Column("heist_id", sa.BigInteger, primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("escrow_id", sa.BigInteger, nullable=False),
    sa.Column("joined_at", UtcDateTime, nullable=False),
    sa.Column("payout", sa.BigInteger, nullable=True),
)
"""Who is in a heist and which escrow holds their buy-in."""

stats = sa.Table(
    "gambling_stats", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("game", sa.String(20), primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("plays", sa.BigInteger, nullable=False),
    sa.Column("wins", sa.BigInteger, nullable=False),
    sa.Column("biggest_win", sa.BigInteger, nullable=False),
    sa.Column("biggest_loss", sa.BigInteger, nullable=False),
    sa.Column("net", sa.BigInteger, nullable=False),
)
"""Per user and game: plays, wins, biggest net win and loss of one game, net result."""

cooldowns = sa.Table(
    "gambling_cooldowns", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("game", sa.String(20), primary_key=True),
    sa.Column("until", UtcDateTime, nullable=False),
)
"""A user may play ``game`` again from ``until`` on (set with the stake, in its transaction)."""

announce_state = sa.Table(
    "gambling_announce", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("last_at", UtcDateTime, nullable=True),
    sa.Column("best", sa.BigInteger, nullable=False),
)
"""The win-announcement rule's memory for the channel's current day (SPEC §2.6)."""


PERSONAL = (
    UserTable(challenges, keys=("challenger_key", "target_key", "winner_key"),
              names=("challenger", "target"), delete=False),
    UserTable(heists, names=("initiator",), delete=False),
    UserTable(stats, keys=("user_key",)),
    UserTable(cooldowns, keys=("user_key",)),
)
"""Where users are kept (``cytube-economy user export|forget``): duels and heists are the other
players' history too (the user's name replaced), statistics and cooldowns go. Heist crews have
no channel column: see :func:`crew_of`."""


def crew_of(channel: str, user_key: str) -> sa.ColumnElement[bool]:
    """The user's crew rows in heists of ``channel``."""
    return sa.and_(heist_crew.c.user_key == user_key, heist_crew.c.heist_id.in_(
        sa.select(heists.c.id).where(heists.c.channel == channel)))
