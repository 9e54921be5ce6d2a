"""A user's data for operators: export it, forget it (SPEC §6, issue 18).

**Export** (:func:`export_user`): everything held about one user of one channel as a
JSON-serialisable dict — the core's rows (account, the user's postings and the postings naming
them as ``related_user``, daily counters, caps, escrows, ban, quiet mode, membership, approvals,
unsent PMs) and each plugin's answer to ``economy_user_export``.

**Forget** (:func:`forget_user`): ONE ledger transaction that

1. refuses an unknown user (no account) and a user with open escrows (money held for a game, a
   reward posted, an approval: resolve those first);
2. takes the balance out through one visible posting (type ``account_forgotten``, kind
   correction) — so Σ postings = balance holds for everyone and the circulation drops by exactly
   that amount;
3. replaces the user's key and name by a pseudonym in the history kept (postings, theirs and
   those naming them; closed escrows; approvals; bans they issued), including their name in
   posting reasons and metadata, and deletes the rest (account, daily counters, caps, ban,
   quiet flag, membership, unsent PMs, idempotency records naming them);
4. forgets every enabled plugin's declared ``user_tables`` rows and calls every plugin's
   ``economy_user_forget``, each with a connection fenced to its own tables.

The pseudonym is ``forgotten-`` and 8 random hex digits, the same in every row of that user (a
stable name in the history), never derived from the name (a hash of a name is reversed by
guessing names). Anything raising rolls everything back.

Plugins describe their user tables in their contract (``user_tables``, see
:mod:`economy_core.user_tables`): the core exports and forgets those rows itself, through a
connection fenced to the plugin's tables, before it calls the plugin's hooks (for what a table
description cannot express).
"""

from __future__ import annotations

import inspect
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .approvals import core_approvals
from .contract import Contract
from .identity import core_bans, core_quiet
from .ledger import Account, Kind, LedgerTx, accounts, caps, daily_counters, escrows, idempotency
from .ledger import transactions as postings
from .ledger.tx import core_connection
from .members import core_members
from .outbox_store import core_outbox_pending
from .storage import PluginConnection
from .user_tables import (
    UserTable,
    export_user_rows,
    forget_user_rows,
    jsonable,
)

if TYPE_CHECKING:
    from .app import EconomyApp

FORGET_TYPE = "account_forgotten"
"""The posting that takes a forgotten user's balance out of circulation."""
PSEUDONYM_PREFIX = "forgotten-"


class UnknownUser(LookupError):
    """No account of that name in that channel."""


class ForgetRefused(RuntimeError):
    """The user cannot be forgotten now; the message says why."""


# -- the core's own tables ----------------------------------------------------------------------

CORE_EXPORT = (
    UserTable(daily_counters, keys=("user_key",)),
    UserTable(caps, keys=("user_key",)),
    UserTable(escrows, keys=("user_key",)),
    UserTable(core_bans, keys=("user_key",), names=("banned_by",)),
    UserTable(core_quiet, keys=("user_key",)),
    UserTable(core_members, keys=("user_key",)),
    UserTable(core_approvals, keys=("requester_key",), names=("resolver",)),
    UserTable(core_outbox_pending, names=("username",)),
)
CORE_FORGET = (
    UserTable(daily_counters, keys=("user_key",)),
    UserTable(caps, keys=("user_key",)),
    UserTable(escrows, keys=("user_key",), names=("username",), delete=False),
    UserTable(core_bans, keys=("user_key",)),
    UserTable(core_bans, names=("banned_by",), delete=False),
    UserTable(core_quiet, keys=("user_key",)),
    UserTable(core_members, keys=("user_key",)),
    UserTable(core_approvals, keys=("requester_key",), names=("requester", "resolver"),
              delete=False),
    UserTable(core_outbox_pending, names=("username",)),
    UserTable(accounts, keys=("user_key",)),
)


def new_pseudonym() -> str:
    return PSEUDONYM_PREFIX + secrets.token_hex(4)


def _name_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])", re.IGNORECASE)


def _scrub(value: Any, pattern: re.Pattern[str], pseudonym: str) -> Any:
    if isinstance(value, str):
        return pattern.sub(pseudonym, value)
    if isinstance(value, Mapping):
        return {k: _scrub(v, pattern, pseudonym) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, pattern, pseudonym) for v in value]
    return value


async def call_each(app: EconomyApp, hook: str, kwargs: Mapping[str, Any],
                    conn: AsyncConnection | None = None) -> dict[str, Any]:
    """Call ``hook`` on every plugin implementing it (with ``conn``, fenced to each plugin's
    own tables, when given); plugin name → answer. Exceptions propagate (unlike the
    dispatcher's isolation: a tool must not carry on past a plugin that failed)."""
    answers: dict[str, Any] = {}
    caller = getattr(app.plugin_manager.hook, hook)
    for impl in caller.get_hookimpls():
        name = impl.plugin_name
        args = dict(kwargs)
        if conn is not None:
            args["conn"] = PluginConnection(conn, name)
        result = impl.function(**{a: args[a] for a in impl.argnames})
        if inspect.isawaitable(result):
            result = await result
        answers[name] = result
    return answers


def _described_tables(app: EconomyApp) -> list[tuple[str, tuple[UserTable, ...]]]:
    """Each enabled plugin's ``Contract.user_tables`` (plugins describing none left out)."""
    found = []
    for name, loaded in sorted(app.plugins.items()):
        contract = getattr(loaded.info.cls, "contract", None)
        if isinstance(contract, Contract) and contract.user_tables:
            found.append((name, contract.user_tables))
    return found


def _known(app: EconomyApp, channel: str) -> None:
    if channel not in [c.channel for c in app.core.channels]:
        raise UnknownUser(f"channel {channel!r} is not configured (configured: "
                          f"{', '.join(c.channel for c in app.core.channels)})")


# -- export ------------------------------------------------------------------------------------


async def export_user(app: EconomyApp, channel: str, name: str) -> dict[str, Any]:
    """Everything held about ``name`` in ``channel`` (see the module docstring); raises
    :class:`UnknownUser` when the channel has no account of that name."""
    _known(app, channel)
    account = await app.ledger.account(channel, name)
    if account is None:
        raise UnknownUser(f"no user {name!r} in channel {channel!r}")
    key = account.user_key
    async with app.engine.connect() as conn:
        own = (await conn.execute(sa.select(postings).where(
            postings.c.channel == channel, postings.c.user_key == key)
            .order_by(postings.c.id))).mappings().all()
        naming = (await conn.execute(sa.select(postings).where(
            postings.c.channel == channel, postings.c.user_key != key,
            sa.func.lower(postings.c.related_user) == key)
            .order_by(postings.c.id))).mappings().all()
        core = await export_user_rows(conn, channel, key, CORE_EXPORT)
        plugins: dict[str, Any] = {}
        for name, described in _described_tables(app):
            plugins[name] = await export_user_rows(PluginConnection(conn, name), channel, key,
                                                   described)
        answers = await call_each(app, "economy_user_export", {
            "channel": channel, "user_key": key, "username": account.username}, conn)
        for name, answer in answers.items():
            if answer:
                plugins[name] = {**plugins.get(name, {}), **answer}
    return {
        "channel": channel, "user": account.username, "user_key": key,
        "exported_at": app.clock.now().isoformat(),
        "account": jsonable(attrs.asdict(account)),
        "postings": [jsonable(dict(r)) for r in own],
        "postings_naming_user": [jsonable(dict(r)) for r in naming],
        "core": core,
        "plugins": {n: jsonable(a) for n, a in sorted(plugins.items()) if a},
    }


# -- forget ------------------------------------------------------------------------------------


@attrs.frozen
class Forgotten:
    """What :func:`forget_user` did."""

    username: str
    pseudonym: str
    balance_removed: int
    rows_changed: int


ForgetCheck = Callable[[LedgerTx, Account], Awaitable[None]]


async def forget_user(app: EconomyApp, channel: str, name: str, *,
                      pseudonym: str | None = None,
                      check: ForgetCheck | None = None) -> Forgotten:
    """Forget ``name`` in ``channel`` in one transaction (see the module docstring). ``check``:
    an optional async function ``(tx, account)`` run first inside the transaction that may
    raise :class:`ForgetRefused` (prune re-checks its criteria there)."""
    _known(app, channel)
    alias = pseudonym or new_pseudonym()

    async def run(tx: LedgerTx) -> Forgotten:
        account = await tx.account(channel, name)
        if account is None:
            raise UnknownUser(f"no user {name!r} in channel {channel!r}")
        if check is not None:
            await check(tx, account)
        key = account.user_key
        conn = core_connection(tx)
        held = (await conn.execute(sa.select(escrows.c.id, escrows.c.purpose, escrows.c.amount)
                                   .where(escrows.c.channel == channel,
                                          escrows.c.user_key == key,
                                          escrows.c.status == "open"))).all()
        if held:
            what = ", ".join(f"#{row.id} {row.purpose} ({row.amount})" for row in held)
            raise ForgetRefused(f"{account.username} has money held in open escrows ({what}); "
                                "resolve them first")
        removed = account.balance
        if removed > 0:
            result = await tx.debit(channel, account.username, removed, type=FORGET_TYPE,
                                    kind=Kind.CORRECTION, reason="account forgotten",
                                    trigger_id="core.forget")
            if not result.ok:
                raise ForgetRefused("the balance changed while forgetting; try again")
        changed = await _forget_postings(conn, channel, key, account.username, alias)
        changed += await _forget_idempotency(conn, channel, key, account.username, alias)
        changed += await forget_user_rows(conn, channel, key, alias, CORE_FORGET)
        for plugin, described in _described_tables(app):
            changed += await forget_user_rows(PluginConnection(conn, plugin), channel, key,
                                              alias, described)
        await call_each(app, "economy_user_forget", {
            "channel": channel, "user_key": key, "username": account.username,
            "pseudonym": alias}, conn)
        return Forgotten(account.username, alias, removed, changed)

    done: Forgotten = await app.ledger.atomic(run)
    return done


def _json_mentions(column: Any, key: str) -> sa.ColumnElement[bool]:
    """The JSON column's text contains the key, as written or JSON-escaped (a name with
    non-ASCII letters is stored as ``\\uXXXX`` escapes)."""
    text = sa.func.lower(sa.cast(column, sa.Text))
    escaped = json.dumps(key)[1:-1].lower()
    return sa.or_(text.like(f"%{key}%"), text.like(f"%{escaped}%"))


async def _forget_postings(conn: AsyncConnection, channel: str, key: str, name: str,
                           alias: str) -> int:
    """The user's postings and those naming them: key, name, related user, and the name in
    reasons and metadata, replaced by the pseudonym."""
    t = postings
    pattern = _name_pattern(name)
    like = f"%{key}%"
    rows = (await conn.execute(sa.select(t.c.id, t.c.reason, t.c.meta).where(
        t.c.channel == channel, sa.or_(
            t.c.user_key == key, sa.func.lower(t.c.related_user) == key,
            sa.func.lower(t.c.reason).like(like), _json_mentions(t.c.meta, key))))).all()
    changed = 0
    for row in rows:
        reason = _scrub(row.reason, pattern, alias)
        meta = _scrub(row.meta, pattern, alias)
        if reason != row.reason or meta != row.meta:
            await conn.execute(sa.update(t).where(t.c.id == row.id).values(
                reason=reason, meta=meta))
            changed += 1
    result = await conn.execute(sa.update(t).where(t.c.channel == channel, t.c.user_key == key)
                                .values(user_key=alias, username=alias))
    changed += int(result.rowcount or 0)
    result = await conn.execute(sa.update(t).where(
        t.c.channel == channel, sa.func.lower(t.c.related_user) == key).values(
        related_user=alias))
    return changed + int(result.rowcount or 0)


async def _forget_idempotency(conn: AsyncConnection, channel: str, key: str, name: str,
                              alias: str) -> int:
    """Idempotency records whose key names the user (one of its ``:``-separated parts) go;
    the name in other stored results is replaced by the pseudonym."""
    t = idempotency
    rows = (await conn.execute(sa.select(t.c.key).where(
        t.c.channel == channel, sa.func.lower(t.c.key).like(f"%{key}%")))).all()
    mine = [r.key for r in rows if key in re.split(r"[:/|.]", r.key.lower())]
    for part in _chunks(mine):
        await conn.execute(sa.delete(t).where(t.c.channel == channel, t.c.key.in_(part)))
    # stored results of other operations that name the user (a shared payout's balances)
    pattern = _name_pattern(name)
    naming = (await conn.execute(sa.select(t.c.key, t.c.result).where(
        t.c.channel == channel, _json_mentions(t.c.result, key)))).all()
    changed = len(mine)
    for row in naming:
        result = _scrub(row.result, pattern, alias)
        if result != row.result:
            await conn.execute(sa.update(t).where(t.c.channel == channel, t.c.key == row.key)
                               .values(result=result))
            changed += 1
    return changed


def _chunks(values: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]
