"""The maintenance plugin: the nightly balance rule (SPEC §3.5).

Every day at :data:`RUN_AT` channel time (``ctx.tz``), per channel, the configured ``mode`` runs
once for that local date:

- ``interest``: each account with balance ≥ ``min_balance_to_earn`` whose holder is not banned
  gets ``min(floor(balance × daily_rate), max_daily_interest)`` when that is > 0 (type
  ``interest``, kind EARN, trigger ``maintenance.interest``; the onboarding gate applies). All
  of it is ONE ``credit_many``.
- ``decay``: each account with balance ≥ ``exempt_below`` whose holder is not banned loses
  ``floor(balance × daily_rate)`` (type ``decay``, kind CORRECTION, reason ``label``, trigger
  ``maintenance.decay``), taken with debit-or-fail, so a balance never goes negative.
- ``none``: nothing runs and nothing is recorded.

Amounts use exact decimal arithmetic (0.29 × 100 is 29, not 28.999…).

**One transaction.** A run reads the balances it applies its rule to inside the same ledger
transaction as its postings (``LedgerTx.holders``), so a spend or grant committed while the job
starts is either wholly before the read or wholly after the run: interest and fees always follow
the balance the account has when the money moves.

**Once per day.** A run writes its claim row (``maintenance_runs``: channel, date, totals) in the
SAME ledger transaction as its postings, after checking no row exists for that date. A second
run for the date — a retry, the start-up catch-up, a restart — finds the row and moves nothing;
a run that fails rolls back its row with its money and may run again.

**Missed runs.** At start-up, if today's run time has passed, a job due at once runs today's
rule (a no-op when it already ran). Earlier missed days are not made up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from fractions import Fraction
from types import MappingProxyType
from typing import Any

import attrs
import sqlalchemy as sa

from economy_core import (
    Award,
    CommandCall,
    Contract,
    Job,
    Kind,
    LedgerTx,
    PluginContext,
    Posting,
    PostingType,
    command,
    hookimpl,
)

from . import tables
from .config import MaintenanceConfig

RUN_AT = time(3, 0)
"""Local time of the nightly run (SPEC §3.5)."""
INTEREST_TRIGGER = "maintenance.interest"
DECAY_TRIGGER = "maintenance.decay"
NO_METADATA: Mapping[str, Any] = MappingProxyType({})
"""Interest postings carry no metadata: at 100,000 accounts, per-posting dicts and their JSON
cost a tenth of the nightly job."""


@attrs.frozen
class Run:
    """One nightly run in one channel: what it moved."""

    channel: str
    day: date
    mode: str
    accounts: int
    """Accounts that got a posting."""
    total: int
    """Σ |amount| of the postings."""


Ratio = tuple[int, int]


def exact(rate: float) -> Ratio:
    """The rate as the decimal fraction the operator wrote: 0.29 is (29, 100), not the binary
    float 0.28999…"""
    return Fraction(repr(rate)).as_integer_ratio()


def share(balance: int, rate: Ratio) -> int:
    """floor(balance × rate), exactly."""
    return balance * rate[0] // rate[1]


def _percent(rate: float) -> str:
    return f"{float(Fraction(repr(rate)) * 100):g} %"


class Maintenance:
    """Runs the nightly balance rule; see the module docstring."""

    name = "maintenance"
    contract = Contract(posting_types=(
        PostingType("interest", "interest", Kind.EARN),
        PostingType("decay", "vault fee", Kind.CORRECTION),
    ))
    Config = MaintenanceConfig
    schema = tables.schema

    def __init__(self, ctx: PluginContext[MaintenanceConfig]) -> None:
        self.ctx = ctx
        self.job: Job | None = None

    @property
    def cfg(self) -> MaintenanceConfig:
        return self.ctx.config

    # -- schedule -------------------------------------------------------------------------------

    @hookimpl
    async def economy_startup(self) -> None:
        self.job = self.ctx.scheduler.daily(RUN_AT, self.run_all, name="nightly")
        if self.ctx.clock.now().astimezone(self.ctx.tz).time() >= RUN_AT:
            self.ctx.scheduler.once(0, self.run_all, name="catch_up")

    async def run_all(self) -> list[Run]:
        """Run today's rule in every channel (a failing channel does not stop the others)."""
        day = self.ctx.clock.local_date(self.ctx.tz)
        done = []
        for channel in self.ctx.channels:
            try:
                run = await self.run(channel, day)
            except Exception:
                self.ctx.log.exception("nightly %s in %s failed", self.cfg.mode, channel)
                continue
            if run is not None:
                done.append(run)
        return done

    async def run(self, channel: str, day: date) -> Run | None:
        """Apply the configured rule in ``channel`` for ``day``; None when the mode is ``none``
        or the rule already ran for that date (then nothing moves)."""
        mode = self.cfg.mode
        if mode == "interest":
            run = await self._interest(channel, day)
        elif mode == "decay":
            run = await self._decay(channel, day)
        else:
            return None
        if run is not None:
            self.ctx.log.info("nightly %s in %s for %s: %d account(s), %d moved", mode,
                              channel, day, run.accounts, run.total)
        return run

    # -- the rules ------------------------------------------------------------------------------

    async def _interest(self, channel: str, day: date) -> Run | None:
        cfg = self.cfg.interest
        rate, cap, minimum = exact(cfg.daily_rate), cfg.max_daily_interest, cfg.min_balance_to_earn
        banned = self.ctx.identity.is_banned

        async def write(tx: LedgerTx) -> Run | None:
            if await self._ran(tx.conn, channel, day):
                return None
            awards = []
            for account in await tx.holders(channel, minimum):  # read in this transaction
                amount = min(share(account.balance, rate), cap)
                if amount > 0 and not banned(channel, account.user_key):
                    awards.append(Award(username=account.username, amount=amount,
                                        type="interest", kind=Kind.EARN, reason="daily interest",
                                        trigger_id=INTEREST_TRIGGER, metadata=NO_METADATA))
            postings: Sequence[Posting] = ()
            if awards:
                postings = (await tx.credit_many(channel, awards)).postings
            return await self._record(tx, channel, day, "interest", postings)

        return await self.ctx.ledger.atomic(write)

    async def _decay(self, channel: str, day: date) -> Run | None:
        cfg = self.cfg.decay
        rate = exact(cfg.daily_rate)
        banned = self.ctx.identity.is_banned

        async def write(tx: LedgerTx) -> Run | None:
            if await self._ran(tx.conn, channel, day):
                return None
            postings: list[Posting] = []
            for account in await tx.holders(channel, cfg.exempt_below):  # read in this tx
                fee = share(account.balance, rate)
                if fee <= 0 or banned(channel, account.user_key):
                    continue
                result = await tx.debit(channel, account.username, fee, type="decay",
                                        kind=Kind.CORRECTION, reason=cfg.label,
                                        trigger_id=DECAY_TRIGGER,
                                        metadata={"balance": account.balance})
                if result.ok:
                    postings.extend(result.postings)
            return await self._record(tx, channel, day, "decay", postings)

        return await self.ctx.ledger.atomic(write)

    # -- the once-a-day claim ---------------------------------------------------------------------

    @staticmethod
    async def _ran(conn: Any, channel: str, day: date) -> bool:
        r = tables.runs
        found = await conn.execute(sa.select(r.c.day).where(r.c.channel == channel,
                                                            r.c.day == day))
        return found.first() is not None

    @staticmethod
    async def _record(tx: LedgerTx, channel: str, day: date, mode: str,
                      postings: Sequence[Posting]) -> Run:
        run = Run(channel, day, mode, len(postings), sum(abs(p.amount) for p in postings))
        await tx.conn.execute(tables.runs.insert().values(
            channel=channel, day=day, mode=mode, accounts=run.accounts, total=run.total,
            at=tx.now))
        return run

    async def last_run(self, channel: str) -> Run | None:
        """The most recent recorded run in ``channel``."""
        r = tables.runs
        async with self.ctx.db.connect() as conn:
            row = (await conn.execute(sa.select(r).where(r.c.channel == channel)
                                      .order_by(r.c.day.desc()).limit(1))).first()
        if row is None:
            return None
        return Run(channel, row.day, row.mode, int(row.accounts), int(row.total))

    # -- what users and admins can ask ------------------------------------------------------------

    def describe(self) -> str:
        """The active rule in one line."""
        cfg = self.cfg
        fmt = self.ctx.format_amount
        if cfg.mode == "interest":
            i = cfg.interest
            return (f"interest: {_percent(i.daily_rate)} a night on balances from "
                    f"{fmt(i.min_balance_to_earn)}, at most {fmt(i.max_daily_interest)}")
        if cfg.mode == "decay":
            d = cfg.decay
            return (f"decay ({d.label}): {_percent(d.daily_rate)} a night on balances from "
                    f"{fmt(d.exempt_below)}")
        return "off (mode none)"

    @command("maintenance", help="The nightly balance rule: mode, next and last run",
             admin=True)
    async def show(self, call: CommandCall) -> str:
        lines = [f"🏦 Nightly balance rule: {self.describe()}"]
        if self.cfg.mode != "none" and self.job is not None:
            lines.append(f"Next run: {self._when(self.job.next_due)}")
        last = await self.last_run(call.channel)
        if last is None:
            lines.append("Last run: none yet")
        else:
            sign = "+" if last.mode == "interest" else "−"
            lines.append(f"Last run: {last.day.isoformat()} ({last.mode}), "
                         f"{last.accounts} account(s), {sign}{self.ctx.format_amount(last.total)}")
        return "\n".join(lines)

    def _when(self, instant: datetime) -> str:
        local = instant.astimezone(self.ctx.tz)
        return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or str(self.ctx.tz))

    @hookimpl
    def economy_reward_lines(self, channel: str) -> list[str]:
        cfg = self.cfg
        fmt = self.ctx.format_amount
        if cfg.mode == "interest":
            i = cfg.interest
            if i.daily_rate <= 0 or i.max_daily_interest <= 0:
                return []
            return [f"Savings: {_percent(i.daily_rate)} interest each night on balances from "
                    f"{fmt(i.min_balance_to_earn)} (at most {fmt(i.max_daily_interest)})"]
        if cfg.mode == "decay" and cfg.decay.daily_rate > 0:
            d = cfg.decay
            return [f"Note: balances from {fmt(d.exempt_below)} pay a {_percent(d.daily_rate)} "
                    f"nightly {d.label}"]
        return []
