"""Import the core's share of a kryten-economy database (issue 18, partly): ``cytube-economy
import kryten-economy --from PATH [--channel C] [--dry-run]``.

What comes over, per channel, from kryten-economy's SQLite file (opened read-only): each
account (balance, lifetime earned/spent/gambled in/out as that bot counted them, the name's
casing, first seen, last seen), its transaction history as postings (source ``import``, the old
type, its kind by SPEC §2.3's table, trigger, reason, related user, metadata with
``legacy_id``, the old timestamp; ``balance_after`` the running sum), quiet mode and economy
bans (its ban table and ban flag). A posting's kind is the one the enabled plugins declare for
that type name (the catalogue: kryten-economy and the built-in plugins share SPEC §2.3's type
names); a type no enabled plugin declares is imported as a correction. Each enabled plugin
brings its own data over through ``economy_import_legacy`` in the same transaction (its lines
in the summary).

**Exact sums.** Σ imported postings = imported balance for every account: where the old
history does not add up to the old balance (or the balance is negative), one correcting posting
(``import_correction``, kind correction) is added and listed in the summary. So ``ledger
verify`` holds right after the import.

**Atomic per channel, idempotent.** A channel's import is ONE ledger transaction that also
stores the marker ``import:kryten-economy:<channel>`` (with its summary) in the ledger's
idempotency table; a second run finds the marker and changes nothing. A user who already has
an account here is skipped (listed), never merged. ``--dry-run`` runs the same transaction
and rolls it back: the same summary, nothing written.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from .events import user_key
from .identity import core_bans, core_quiet
from .ledger import Kind, LedgerTx, TxResult, accounts, idempotency, transactions
from .ledger.checks import _result_to_json
from .ledger.tx import core_connection
from .members import core_members
from .userdata import call_each

if TYPE_CHECKING:
    from .app import EconomyApp

SOURCE = "import"
CORRECTION = "import_correction"
HELD = "import_held"
"""Money kryten-economy held for a user (e.g. a posted reward): credited back, then escrowed."""



class ImportError_(RuntimeError):
    """The source cannot be imported (the message says why)."""


@attrs.frozen
class Skipped:
    name: str
    why: str


@attrs.frozen
class Corrected:
    name: str
    balance: int
    history_sum: int


@attrs.define
class ChannelSummary:
    """What one channel's import did (or, dry, would do)."""

    channel: str
    accounts: int = 0
    z: int = 0
    postings: int = 0
    bans: int = 0
    quiet: int = 0
    skipped: list[Skipped] = attrs.field(factory=list)
    corrected: list[Corrected] = attrs.field(factory=list)
    plugins: dict[str, list[str]] = attrs.field(factory=dict)
    """What each plugin brought over (its ``economy_import_legacy`` lines)."""
    already: str | None = None
    """When the channel was imported before (the marker's time): nothing was done."""
    not_configured: bool = False
    """The source has the channel, this config does not: nothing was done."""

    def lines(self) -> list[str]:
        if self.not_configured:
            return [f"{self.channel}: not configured here; skipped (add it to channels to "
                    "import it)"]
        if self.already:
            return [f"{self.channel}: already imported at {self.already}; nothing changed"]
        out = [f"{self.channel}: {self.accounts} account(s), {self.z} Z, {self.postings} "
               f"posting(s), {self.bans} ban(s), {self.quiet} quiet"]
        out += [f"  corrected {c.name}: balance {c.balance}, history sums to {c.history_sum} "
                "(one import_correction posting)" for c in self.corrected]
        out += [f"  skipped {s.name}: {s.why}" for s in self.skipped]
        out += [f"  {plugin}: {line}" for plugin, lines in self.plugins.items()
                for line in lines]
        return out

    def as_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def legacy_time(value: Any) -> datetime | None:
    """A kryten-economy timestamp (SQLite text in UTC, ISO 8601, or epoch seconds) as an aware
    datetime; None when empty or unreadable. For plugins' ``economy_import_legacy``."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    text = str(value).replace("Z", "+00:00")
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def _meta(raw: Any, legacy_id: int) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if raw not in (None, ""):
        try:
            loaded = json.loads(raw)
            data = loaded if isinstance(loaded, dict) else {"value": loaded}
        except (TypeError, ValueError):
            data = {"raw": str(raw)}
    data["legacy_id"] = legacy_id
    return data


def open_source(path: Path) -> sqlite3.Connection:
    """kryten-economy's database, read-only; raises :class:`ImportError_` if it is not one."""
    if not path.is_file():
        raise ImportError_(f"{path}: no such file")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise ImportError_(f"{path}: not an SQLite database ({exc})") from None
    missing = {"accounts", "transactions"} - tables
    if missing:
        conn.close()
        raise ImportError_(f"{path}: not a kryten-economy database (no "
                           f"{', '.join(sorted(missing))} table)")
    return conn


def source_channels(source: sqlite3.Connection) -> list[str]:
    return [r[0] for r in source.execute("SELECT DISTINCT channel FROM accounts ORDER BY 1")]


@attrs.frozen
class _Plan:
    users: dict[str, str]
    """Source user name → user key here, of the accounts imported."""
    accounts: list[dict[str, Any]]
    postings: list[dict[str, Any]]
    bans: list[dict[str, Any]]
    quiet: list[dict[str, Any]]
    members: list[dict[str, Any]]


def _plan(source: sqlite3.Connection, channel: str, existing: set[str], now: datetime,
          summary: ChannelSummary, kinds: Mapping[str, Kind]) -> _Plan:
    """Every row to write for ``channel`` (pure reading; fills ``summary``)."""
    tables = {r[0] for r in source.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    columns = {r[1] for r in source.execute("PRAGMA table_info(accounts)")}
    history: dict[str, list[sqlite3.Row]] = {}
    orphans = 0
    names = {r["username"] for r in source.execute(
        "SELECT username FROM accounts WHERE channel = ?", (channel,))}
    for row in source.execute("SELECT * FROM transactions WHERE channel = ? ORDER BY id",
                              (channel,)):
        if row["username"] not in names:
            orphans += 1
            continue
        history.setdefault(row["username"], []).append(row)
    if orphans:
        summary.skipped.append(Skipped(f"{orphans} transaction(s)", "of users without an "
                                       "account (no balance to carry them)"))
    banned: dict[str, sqlite3.Row] = {}
    if "banned_users" in tables:
        banned = {user_key(r["username"]): r for r in source.execute(
            "SELECT * FROM banned_users WHERE channel = ?", (channel,))}
    plan = _Plan({}, [], [], [], [], [])
    seen: set[str] = set()
    for row in source.execute("SELECT * FROM accounts WHERE channel = ? ORDER BY rowid",
                              (channel,)):
        name = row["username"]
        key = user_key(name)
        if not key:
            summary.skipped.append(Skipped(repr(name), "empty name"))
            continue
        if key in existing:
            summary.skipped.append(Skipped(name, "already has an account here (not merged)"))
            continue
        if key in seen:
            summary.skipped.append(Skipped(name, "the same name in another case was imported "
                                           "first"))
            continue
        seen.add(key)
        first = legacy_time(row["first_seen"]) or now
        last = legacy_time(row["last_seen"]) or first
        balance = int(row["balance"] or 0)
        tx_id = uuid.uuid4().hex
        running = 0
        for t in history.get(name, []):
            amount = int(t["amount"] or 0)
            if amount == 0:
                continue
            running += amount
            kind = kinds.get(t["type"], Kind.CORRECTION)
            plan.postings.append({
                "tx_id": tx_id, "channel": channel, "user_key": key, "username": name,
                "amount": amount, "balance_after": running, "type": str(t["type"])[:50],
                "kind": kind.value, "source": SOURCE, "trigger_id": t["trigger_id"],
                "reason": t["reason"] or "", "related_user": t["related_user"],
                "meta": _meta(t["metadata"], int(t["id"])),
                "at": legacy_time(t["created_at"]) or first})
        target = max(0, balance)
        if running != target:
            summary.corrected.append(Corrected(name, balance, running))
            plan.postings.append({
                "tx_id": tx_id, "channel": channel, "user_key": key, "username": name,
                "amount": target - running, "balance_after": target, "type": CORRECTION,
                "kind": Kind.CORRECTION.value, "source": SOURCE, "trigger_id": "import.correction",
                "reason": "imported balance differs from its history", "related_user": None,
                "meta": {"legacy_balance": balance, "history_sum": running}, "at": now})
        plan.accounts.append({
            "channel": channel, "user_key": key, "username": name, "balance": target,
            "lifetime_earned": max(0, int(row["lifetime_earned"] or 0)),
            "lifetime_spent": max(0, int(row["lifetime_spent"] or 0)),
            "gambled_in": max(0, int(row["lifetime_gambled_in"] or 0)),
            "gambled_out": max(0, int(row["lifetime_gambled_out"] or 0)),
            "created_at": first, "updated_at": last})
        plan.users[name] = key
        plan.members.append({"channel": channel, "user_key": key, "username": name,
                             "first_seen": first, "messages": 0})
        if "quiet_mode" in columns and row["quiet_mode"]:
            plan.quiet.append({"channel": channel, "user_key": key})
        ban = banned.get(key)
        if ban is not None or ("economy_banned" in columns and row["economy_banned"]):
            plan.bans.append({
                "channel": channel, "user_key": key, "username": name,
                "banned_by": (ban["banned_by"] if ban is not None else None) or "kryten-economy",
                "reason": (ban["reason"] if ban is not None else None) or "",
                "banned_at": (legacy_time(ban["banned_at"]) if ban is not None else None) or now})
    summary.accounts = len(plan.accounts)
    summary.z = sum(a["balance"] for a in plan.accounts)
    summary.postings = len(plan.postings)
    summary.bans = len(plan.bans)
    summary.quiet = len(plan.quiet)
    return plan


def _marker(channel: str) -> str:
    return f"import:kryten-economy:{channel}"


async def _insert(conn: Any, table: sa.Table, rows: Sequence[dict[str, Any]],
                  size: int = 5000) -> None:
    for start in range(0, len(rows), size):
        await conn.execute(sa.insert(table), list(rows[start:start + size]))


async def import_channel(app: EconomyApp, source: sqlite3.Connection, channel: str, *,
                         dry_run: bool = False) -> ChannelSummary:
    """Import one channel (see the module docstring); its summary."""
    summary = ChannelSummary(channel)
    now = app.clock.now()

    async def run(tx: LedgerTx) -> ChannelSummary:
        conn = core_connection(tx)
        marker = (await conn.execute(sa.select(idempotency.c.at).where(
            idempotency.c.channel == channel, idempotency.c.key == _marker(channel)))).first()
        if marker is not None:
            summary.already = marker.at.isoformat()
            return summary
        existing = {r.user_key for r in await conn.execute(
            sa.select(accounts.c.user_key).where(accounts.c.channel == channel))}
        kinds = {n: t.kind for n, t in app.catalogue.posting_types.items()}
        plan = _plan(source, channel, existing, now, summary, kinds)
        await _insert(conn, accounts, plan.accounts)
        await _insert(conn, transactions, plan.postings)
        await _insert(conn, core_members, plan.members)
        await _insert(conn, core_quiet, plan.quiet)
        await _insert(conn, core_bans, plan.bans)
        async def hold(username: str, amount: int, purpose: str, reason: str = "") -> int:
            await tx.credit(channel, username, amount, type=HELD, kind=Kind.CORRECTION,
                            reason="held by kryten-economy", trigger_id="import.held")
            held = await tx.escrow(channel, username, amount, purpose=purpose, type=HELD,
                                   kind=Kind.CORRECTION, reason=reason[:200])
            if not held.ok:  # cannot happen: the credit above covers it
                raise ImportError_(f"could not hold {amount} for {username}")
            return held.escrow_id

        async def used_key(key: str) -> None:
            exists = (await conn.execute(sa.select(idempotency.c.key).where(
                idempotency.c.channel == channel, idempotency.c.key == key))).first()
            if exists is None:
                await conn.execute(sa.insert(idempotency).values(
                    channel=channel, key=key, result=_result_to_json(TxResult(True, (), {})),
                    at=now))

        answers = await call_each(app, "economy_import_legacy", {
            "channel": channel, "source": source, "users": plan.users, "now": now,
            "hold": hold, "used_key": used_key}, conn)
        summary.plugins = {name: list(lines) for name, lines in sorted(answers.items())
                           if lines}
        await conn.execute(sa.insert(idempotency).values(
            channel=channel, key=_marker(channel), result=summary.as_json(), at=now))
        if dry_run:
            raise _DryRun  # everything above rolls back
        return summary

    try:
        done: ChannelSummary = await app.ledger.atomic(run)
    except _DryRun:
        return summary
    return done


class _DryRun(Exception):
    """Raised at the end of a dry run's transaction so that all of it rolls back."""


async def import_database(app: EconomyApp, path: Path, channels: Iterable[str] | None = None,
                          *, dry_run: bool = False) -> list[ChannelSummary]:
    """Import every channel of the source that is configured here (the others are listed as
    skipped), or the channels named (each must be in the source and configured)."""
    source = open_source(path)
    try:
        found = source_channels(source)
        configured = [c.channel for c in app.core.channels]
        if channels is None:  # every channel of the source; those not configured are listed
            return [await import_channel(app, source, c, dry_run=dry_run) if c in configured
                    else ChannelSummary(c, not_configured=True) for c in found]
        wanted = list(channels)
        for channel in wanted:
            if channel not in found:
                raise ImportError_(f"{path} has no channel {channel!r} (it has: "
                                   f"{', '.join(found) or 'none'})")
            if channel not in configured:
                raise ImportError_(f"channel {channel!r} is not configured here (add it to "
                                   "channels first)")
        return [await import_channel(app, source, c, dry_run=dry_run) for c in wanted]
    finally:
        source.close()
