"""Pruning abandoned accounts (SPEC §6): ``cytube-economy prune``.

A **target** is an account of the channel that

- is not banned and has never spent (``lifetime_spent`` = 0);
- has a balance in ``balance_min`` … ``balance_max`` (no maximum when None) and, when
  ``max_lifetime_earned`` is given, earned at most that much;
- was inactive for ``inactive_days``: its balance last changed before the cutoff and it has no
  daily counter on or after the cutoff's day;
- holds no money in an open escrow;
- and no plugin objects through ``economy_prune_veto`` (e.g. "owns items", or "seen since
  the cutoff"). A plugin that fails to answer counts as an objection.

:func:`find_targets` is the dry run; :func:`prune` removes each target in its own transaction
through :func:`~economy_core.userdata.forget_user` (its rows deleted or pseudonymised through the
plugins' forget hooks, its balance out through one visible posting, so ``ledger verify`` stays
clean), re-checking the ledger criteria inside that transaction: an account that changed since
the dry run is skipped, not removed. Both return one :class:`PruneRow` per account considered,
written to the audit CSV by :func:`write_csv`.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import sqlalchemy as sa

from .identity import core_bans
from .ledger import Account, LedgerTx, accounts, daily_counters, escrows
from .userdata import ForgetRefused, UnknownUser, call_each, forget_user

if TYPE_CHECKING:
    from .app import EconomyApp


@attrs.frozen
class Criteria:
    """The command line's filters."""

    inactive_days: int = 30
    balance_min: int = 0
    balance_max: int | None = None
    max_lifetime_earned: int | None = None

    def cutoff(self, now: datetime) -> datetime:
        return now - timedelta(days=self.inactive_days)

    def ledger_reason(self, account: Account, cutoff: datetime) -> str | None:
        """Why the account is no target by its ledger figures (None: it is one)."""
        if account.lifetime_spent > 0:
            return "has spent"
        if account.balance < self.balance_min:
            return f"balance {account.balance} below {self.balance_min}"
        if self.balance_max is not None and account.balance > self.balance_max:
            return f"balance {account.balance} above {self.balance_max}"
        if (self.max_lifetime_earned is not None
                and account.lifetime_earned > self.max_lifetime_earned):
            return f"earned {account.lifetime_earned} above {self.max_lifetime_earned}"
        if account.updated_at >= cutoff:
            return f"active {account.updated_at:%Y-%m-%d}"
        return None


@attrs.frozen
class PruneRow:
    """One account considered: ``action`` is ``target`` (dry run), ``removed`` or ``skipped``
    (``reason`` says why)."""

    channel: str
    username: str
    user_key: str
    balance: int
    lifetime_earned: int
    last_change: datetime
    action: str
    reason: str = ""
    pseudonym: str = ""


async def find_targets(app: EconomyApp, channel: str, criteria: Criteria,
                       now: datetime) -> tuple[list[PruneRow], list[PruneRow]]:
    """(targets, vetoed): accounts meeting the ledger criteria, split by the plugins' veto."""
    cutoff = criteria.cutoff(now)
    a = accounts
    stmt = sa.select(a).where(
        a.c.channel == channel, a.c.lifetime_spent == 0, a.c.balance >= criteria.balance_min,
        a.c.updated_at < cutoff,
        ~sa.exists().where(core_bans.c.channel == channel, core_bans.c.user_key == a.c.user_key),
        ~sa.exists().where(daily_counters.c.channel == channel,
                           daily_counters.c.user_key == a.c.user_key,
                           daily_counters.c.day >= cutoff.date()),
        ~sa.exists().where(escrows.c.channel == channel, escrows.c.user_key == a.c.user_key,
                           escrows.c.status == "open"))
    if criteria.balance_max is not None:
        stmt = stmt.where(a.c.balance <= criteria.balance_max)
    if criteria.max_lifetime_earned is not None:
        stmt = stmt.where(a.c.lifetime_earned <= criteria.max_lifetime_earned)
    async with app.engine.connect() as conn:
        rows = (await conn.execute(stmt.order_by(a.c.user_key))).mappings().all()
    targets: list[PruneRow] = []
    vetoed: list[PruneRow] = []
    for row in rows:
        reasons = []
        try:
            answers = await call_each(app, "economy_prune_veto", {
                "channel": channel, "user_key": row["user_key"], "username": row["username"],
                "inactive_since": cutoff})
        except Exception as exc:  # a plugin that cannot answer objects
            answers = {"?": f"a plugin failed to answer: {exc}"}
        reasons = [f"{plugin}: {reason}" for plugin, reason in sorted(answers.items())
                   if reason]
        entry = PruneRow(channel, row["username"], row["user_key"], int(row["balance"]),
                         int(row["lifetime_earned"]), row["updated_at"],
                         "skipped" if reasons else "target", "; ".join(reasons))
        (vetoed if reasons else targets).append(entry)
    return targets, vetoed


async def prune(app: EconomyApp, channel: str, criteria: Criteria, targets: Sequence[PruneRow],
                now: datetime) -> list[PruneRow]:
    """Remove each target (one transaction each); a row per target, ``removed`` or
    ``skipped`` with the reason."""
    cutoff = criteria.cutoff(now)
    done: list[PruneRow] = []

    async def still_a_target(tx: LedgerTx, account: Account) -> None:
        reason = criteria.ledger_reason(account, cutoff)
        if reason is not None:
            raise ForgetRefused(f"changed since the dry run: {reason}")

    for target in targets:
        try:
            forgotten = await forget_user(app, channel, target.username, check=still_a_target)
        except (ForgetRefused, UnknownUser) as exc:
            done.append(attrs.evolve(target, action="skipped", reason=str(exc)))
            continue
        done.append(attrs.evolve(target, action="removed", balance=forgotten.balance_removed,
                                 pseudonym=forgotten.pseudonym))
    return done


CSV_FIELDS = ("channel", "username", "user_key", "balance", "lifetime_earned", "last_change",
              "action", "reason", "pseudonym")


def write_csv(path: Path, rows: Sequence[PruneRow]) -> None:
    """The audit CSV: one line per account considered."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_FIELDS)
        for row in rows:
            writer.writerow([row.channel, row.username, row.user_key, row.balance,
                             row.lifetime_earned, row.last_change.isoformat(), row.action,
                             row.reason, row.pseudonym])
