"""Public lines about games (SPEC §2.6): when an ordinary win is announced, the wording, and
the announcement kinds gambling declares (the core's announcer posts them: the operator's
``[announcements] disabled`` gate, display names for ``{user}``, merging, the chat budget).

**The win rule.** Jackpots are always announced. An ordinary win (spin, flip, free spin) is
announced when it is the channel's first of the day, or at least ``win_gap_minutes`` after the
last announced one, or when it beats the best payout seen today. The rule's memory (day, last
announcement, today's best) is a row written in the game's own transaction, so a restart neither
forgets it nor repeats an announcement.

Templates are operator text, validated at load and rendered tolerantly (a broken one logs a
warning and the line is skipped). ``{amount}`` is the payout that was credited (G3: one value
feeds the credit, the reply and the announcement). A line goes out when both gambling's own
switches (``announce_wins``, ``spin.announce_jackpots_public``, ``challenge.announce_public``,
``heist.announce_public``) and the core's gate for its kind allow it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from economy_core import Announcement, PluginContext

from . import tables
from .config import AnnouncementsConfig

JACKPOT = "gambling_jackpot"
WIN = "gambling_win"
DUEL = "challenge_result"
HEIST_CREW = "heist_crew"
HEIST_RESULT = "heist_result"

ANNOUNCEMENTS = (
    Announcement(JACKPOT, "a jackpot on the slots or the free spin", "jackpots"),
    Announcement(WIN, "an ordinary win of spin, flip or free spin (the day's first, then after "
                      "win_gap_minutes or a new best)", "wins"),
    Announcement(DUEL, "a duel's result", "duel results"),
    Announcement(HEIST_CREW, "a heist being planned, and who joins the crew", "heist calls"),
    Announcement(HEIST_RESULT, "how a heist went (or that it did not go)", "heist results"),
)
"""The public lines gambling posts, as its contract declares them."""


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


async def player_line(ctx: PluginContext[Any], channel: str, kind: str, template: str,
                      user: str, amount: int) -> None:
    """Announce a one-player line (``kind`` "jackpot" or "win"; templates jackpot, spin_win,
    flip_win, free_spin_win); a template that fails is skipped by the announcer."""
    await ctx.announcer.announce(channel, JACKPOT if kind == "jackpot" else WIN, template,
                                 user=user, amount=f"{amount:,}",
                                 currency=ctx.currency_word(amount))


async def duel_line(ctx: PluginContext[Any], channel: str, template: str, *, winner: str,
                    loser: str, prize: int, wager: int, rake: int) -> None:
    """Announce a duel's result (template challenge_win)."""
    await ctx.announcer.announce(channel, DUEL, template, people=("winner", "loser"),
                                 winner=winner, loser=loser, amount=f"{prize:,}",
                                 currency=ctx.currency_word(prize),
                                 wager=ctx.format_amount(wager), rake=ctx.format_amount(rake))
