"""Per-user game statistics: written with each game's money, read by ``gambling``/``stats``.

:func:`record` runs inside the ledger transaction that settles the game (so a statistic exists
exactly when the money moved). Net of one game = payout − wager; a positive net is a win.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import sqlalchemy as sa

from economy_core import PluginDatabase, user_key

from . import tables


@attrs.frozen
class GameStats:
    plays: int = 0
    wins: int = 0
    biggest_win: int = 0
    biggest_loss: int = 0
    net: int = 0


async def record(conn: Any, channel: str, username: str, game: str, wager: int,
                 payout: int) -> None:
    """Add one played game (through the settling transaction's connection)."""
    s = tables.stats
    net = payout - wager
    where = (s.c.channel == channel, s.c.user_key == user_key(username), s.c.game == game)
    row = (await conn.execute(sa.select(s).where(*where))).first()
    if row is None:
        await conn.execute(s.insert().values(
            channel=channel, user_key=user_key(username), game=game, username=username,
            plays=1, wins=int(net > 0), biggest_win=max(net, 0), biggest_loss=max(-net, 0),
            net=net))
        return
    await conn.execute(s.update().where(*where).values(
        username=username, plays=s.c.plays + 1, wins=s.c.wins + int(net > 0),
        biggest_win=max(int(row.biggest_win), net), biggest_loss=max(int(row.biggest_loss), -net),
        net=s.c.net + net))


async def read(db: PluginDatabase, channel: str, username: str) -> dict[str, GameStats]:
    """game → statistics of one user (games never played are absent)."""
    s = tables.stats
    async with db.connect() as conn:
        rows = await conn.execute(sa.select(s).where(s.c.channel == channel,
                                                     s.c.user_key == user_key(username)))
        return {r.game: GameStats(int(r.plays), int(r.wins), int(r.biggest_win),
                                  int(r.biggest_loss), int(r.net)) for r in rows}


def summary(found: dict[str, GameStats], fmt: Callable[[int], str]) -> str:
    """The ``stats`` reply."""
    if not found:
        return ("🎲 No games yet. Try your free daily `spin` — it costs nothing!")
    def plays(game: str) -> int:
        return found.get(game, GameStats()).plays
    net = sum(g.net for g in found.values())
    biggest_win = max(g.biggest_win for g in found.values())
    biggest_loss = max(g.biggest_loss for g in found.values())
    sign = "+" if net > 0 else "−" if net < 0 else "±"
    return (f"🎲 Your games: spins {plays('spin')} (+{plays('free_spin')} free) · "
            f"flips {plays('flip')} · challenges {plays('challenge')} · "
            f"heists {plays('heist')}\n"
            f"Biggest win +{fmt(biggest_win)} · biggest loss −{fmt(biggest_loss)} · "
            f"net {sign}{fmt(abs(net))}")


async def channel_plays(db: PluginDatabase, channel: str) -> tuple[int, dict[str, int]]:
    """(how many users ever played, game → games played) in one channel."""
    s = tables.stats
    async with db.connect() as conn:
        gamblers = await conn.scalar(sa.select(sa.func.count(sa.distinct(s.c.user_key)))
                                     .where(s.c.channel == channel))
        rows = await conn.execute(sa.select(s.c.game, sa.func.sum(s.c.plays).label("plays"))
                                  .where(s.c.channel == channel).group_by(s.c.game)
                                  .order_by(s.c.game))
        return int(gamblers or 0), {r.game: int(r.plays) for r in rows}


async def house_report(db: PluginDatabase, ledger: Any, channel: str,
                       configured_slot_return: float,
                       fmt: Callable[[int], str]) -> tuple[list[str], dict[str, Any]]:
    """The house's figures (``econ:gambling`` and the ``economy_stats`` section): wagered and
    paid (the ledger's gamble-class totals, which only games write), profit, the actual edge
    (in − out) / in × 100, the configured slot edge (1 − Σ m·p) × 100, gamblers and games."""
    totals = await ledger.totals(channel)
    wagered, paid = int(totals.gambled_in), int(totals.gambled_out)
    gamblers, games = await channel_plays(db, channel)
    edge = round((wagered - paid) / wagered * 100, 2) if wagered else None
    slot_edge = round((1 - configured_slot_return) * 100, 2)
    shown_edge = "n/a" if edge is None else f"{edge:g}%"
    lines = [f"Wagered {fmt(wagered)} · paid {fmt(paid)} · house profit {wagered - paid:+,}",
             f"Actual edge {shown_edge} · configured slot edge {slot_edge:g}%",
             f"{gamblers} gambler(s) · games: "
             + (", ".join(f"{g} {n:,}" for g, n in games.items()) or "none yet")]
    figures: dict[str, Any] = {"wagered": wagered, "paid": paid, "profit": wagered - paid,
                               "actual_edge_percent": edge if edge is not None else "n/a",
                               "slot_edge_percent": slot_edge, "gamblers": gamblers,
                               **{f"games.{g}": n for g, n in games.items()}}
    return lines, figures
