"""Public lines about games (SPEC §2.6): when an ordinary win is announced, and the wording.

**The win rule.** Jackpots are always announced. An ordinary win (spin, flip, free spin) is
announced when it is the channel's first of the day, or at least ``win_gap_minutes`` after the
last announced one, or when it beats the best payout seen today. The rule's memory (day, last
announcement, today's best) is a row written in the game's own transaction, so a restart neither
forgets it nor repeats an announcement.

Templates are operator text, validated at load and rendered tolerantly (a broken one logs a
warning and the line is skipped). ``{amount}`` is the payout that was credited (G3: one value
feeds the credit, the reply and the announcement).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from economy_core import PluginContext, render

from . import tables
from .config import AnnouncementsConfig


async def win_gate(conn: Any, channel: str, day: date, now: datetime, amount: int, *,
                   jackpot: bool, cfg: AnnouncementsConfig) -> bool:
    """Inside the game's transaction: should this win be announced? Updates the rule's memory."""
    a = tables.announce_state
    row = (await conn.execute(sa.select(a).where(a.c.channel == channel))).first()
    fresh = row is None or row.day != day
    best = 0 if fresh else int(row.best)
    last = None if fresh else row.last_at
    if jackpot:
        announce = True
    else:
        announce = cfg.announce_wins and (
            last is None or now - last >= timedelta(minutes=cfg.win_gap_minutes)
            or amount > best)
    values = {"day": day, "best": max(best, amount), "last_at": now if announce else last}
    if row is None:
        await conn.execute(a.insert().values(channel=channel, **values))
    else:
        await conn.execute(a.update().where(a.c.channel == channel).values(**values))
    return announce


def player_line(ctx: PluginContext[Any], template: str, user: str, amount: int) -> str:
    """A one-player line (jackpot, spin_win, flip_win, free_spin_win); "" if it fails."""
    return render(template, "", user=user, amount=f"{amount:,}",
                  currency=ctx.currency_word(amount))


def duel_line(ctx: PluginContext[Any], template: str, *, winner: str, loser: str, prize: int,
              wager: int, rake: int) -> str:
    return render(template, "", winner=winner, loser=loser, amount=f"{prize:,}",
                  currency=ctx.currency_word(prize), wager=ctx.format_amount(wager),
                  rake=ctx.format_amount(rake))
