"""Who the core has seen, since when, and whether they may earn yet (the onboarding gate).

The core records, per channel, when it first saw each user (a join, a room snapshot, a chat line
or a PM) and — while ``[onboarding] min_messages_to_earn`` is set — how many chat lines they sent.
Plugins read ``first_seen`` for account-age rules (``ctx.members``).

The **onboarding gate**: while a minimum is set, the ledger asks :meth:`Members.withheld` before
every earn-class credit; a user younger than ``min_account_age_minutes`` or with fewer than
``min_messages_to_earn`` lines gets nothing from that credit (it is dropped, never deferred or
half-written). Types in ``exempt_types`` (an admin's deliberate awards) always pass.

Costs: state is cached in memory per (channel, user). A user already seen costs no query when seen
again; a chat line costs a write only while its sender is still below the message minimum.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .clock import Clock
from .config import OnboardingConfig
from .db import NAMING, UtcDateTime, chunks, migrate
from .events import user_key
from .ledger import accounts

log = logging.getLogger(__name__)

members_metadata = sa.MetaData(naming_convention=NAMING)

core_members = sa.Table(
    "core_members", members_metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("first_seen", UtcDateTime, nullable=False),
    sa.Column("messages", sa.BigInteger, nullable=False, default=0),
)

MEMBERS_SCHEMA_VERSION = 1


@attrs.define
class _Member:
    first_seen: datetime
    messages: int
    stored: bool


@attrs.frozen
class Standing:
    """Where one user stands against the onboarding minimums."""

    first_seen: datetime
    messages: int
    minutes_left: int
    messages_left: int

    @property
    def may_earn(self) -> bool:
        return self.minutes_left == 0 and self.messages_left == 0


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Members:
    """First-seen times, message counts and the onboarding gate; :meth:`start` before use."""

    def __init__(self, engine: AsyncEngine, clock: Clock,
                 config: Callable[[], OnboardingConfig],
                 exempt_types: Callable[[], frozenset[str]] = frozenset) -> None:
        """``exempt_types`` gives the earn-class posting types the plugins declared exempt
        (read at each check, like ``config``)."""
        self._engine = engine
        self._clock = clock
        self._config = config
        self._exempt = exempt_types
        self._cache: dict[tuple[str, str], _Member] = {}
        self._qualified: set[tuple[str, str]] = set()

    async def start(self) -> None:
        await migrate(self._engine, "core_members", members_metadata, MEMBERS_SCHEMA_VERSION)

    # -- recording ------------------------------------------------------------------------------

    async def seen(self, channel: str, usernames: Iterable[str]) -> None:
        """Record that these users are around (first sight stores ``first_seen`` = now)."""
        names = {user_key(n): n for n in usernames if n.strip()}
        cache = self._cache
        if all((channel, k) in cache and cache[(channel, k)].stored for k in names):
            return
        # a user may be cached without a row (read by the gate before first sight): store it
        await self._load(channel, list(names))
        new = [k for k in names if not cache[(channel, k)].stored]
        if not new:
            return
        rows = [{"channel": channel, "user_key": k, "username": names[k][:100],
                 "first_seen": self._cache[(channel, k)].first_seen, "messages": 0} for k in new]
        async with self._engine.begin() as conn:
            existing: set[str] = set()
            for part in chunks(new):
                result = await conn.execute(sa.select(core_members.c.user_key).where(
                    core_members.c.channel == channel, core_members.c.user_key.in_(part)))
                existing.update(r.user_key for r in result)
            rows = [r for r in rows if r["user_key"] not in existing]
            if rows:
                await conn.execute(core_members.insert(), rows)
        for k in new:
            self._cache[(channel, k)].stored = True

    async def count_message(self, channel: str, username: str) -> None:
        """One chat line from ``username`` (counted only while below the message minimum)."""
        await self.seen(channel, [username])
        minimum = self._config().min_messages_to_earn
        member = self._cache[(channel, user_key(username))]
        if minimum <= 0 or member.messages >= minimum:
            return
        member.messages += 1
        async with self._engine.begin() as conn:
            await conn.execute(core_members.update().where(
                core_members.c.channel == channel,
                core_members.c.user_key == user_key(username)).values(messages=member.messages))

    # -- reading --------------------------------------------------------------------------------

    async def first_seen(self, channel: str, username: str) -> datetime:
        """When the core first saw this user in ``channel`` (recorded now if never seen)."""
        await self.seen(channel, [username])
        return self._cache[(channel, user_key(username))].first_seen

    async def standing(self, channel: str, username: str) -> Standing:
        """The user's position against the onboarding minimums (nothing is recorded)."""
        key = user_key(username)
        await self._load(channel, [key])
        return self._standing(self._cache[(channel, key)])

    def _standing(self, member: _Member) -> Standing:
        config = self._config()
        age = self._clock.now() - member.first_seen
        need = timedelta(minutes=config.min_account_age_minutes)
        minutes_left = 0 if age >= need else max(1, -(-int((need - age).total_seconds()) // 60))
        messages_left = max(0, config.min_messages_to_earn - member.messages)
        return Standing(member.first_seen, member.messages, minutes_left, messages_left)

    # -- the gate (the ledger calls these) ----------------------------------------------------

    def applies(self, type: str) -> bool:
        """True when credits of this earn-class ``type`` pass through the gate now."""
        config = self._config()
        return (config.active and type not in config.exempt_types
                and type not in self._exempt())

    async def withheld(self, channel: str, usernames: Sequence[str]) -> set[str]:
        """The user keys among ``usernames`` whose earnings are withheld now."""
        keys = list(dict.fromkeys(user_key(n) for n in usernames))
        todo = [k for k in keys if (channel, k) not in self._qualified]
        if not todo:
            return set()
        await self._load(channel, todo)
        out: set[str] = set()
        for k in todo:
            if self._standing(self._cache[(channel, k)]).may_earn:
                self._qualified.add((channel, k))
            else:
                out.add(k)
        return out

    def reconfigured(self) -> None:
        """Minimums changed: qualification is computed again from the stored facts."""
        self._qualified.clear()

    # -- cache ----------------------------------------------------------------------------------

    async def _load(self, channel: str, keys: Sequence[str]) -> None:
        """Fill the cache for ``keys``: stored rows, else the ledger account's creation time
        (accounts older than this table), else now (not stored until :meth:`seen`)."""
        missing = [k for k in keys if (channel, k) not in self._cache]
        if not missing:
            return
        found: dict[str, _Member] = {}
        async with self._engine.connect() as conn:
            for part in chunks(missing):
                result = await conn.execute(
                    sa.select(core_members.c.user_key, core_members.c.first_seen,
                              core_members.c.messages).where(
                        core_members.c.channel == channel, core_members.c.user_key.in_(part)))
                for row in result:
                    found[row.user_key] = _Member(_aware(row.first_seen), int(row.messages), True)
            unknown = [k for k in missing if k not in found]
            if unknown:
                for part in chunks(unknown):
                    result = await conn.execute(
                        sa.select(accounts.c.user_key, accounts.c.created_at).where(
                            accounts.c.channel == channel, accounts.c.user_key.in_(part)))
                    for row in result:
                        found[row.user_key] = _Member(_aware(row.created_at), 0, False)
        now = self._clock.now()
        for k in missing:
            self._cache[(channel, k)] = found.get(k) or _Member(now, 0, False)
