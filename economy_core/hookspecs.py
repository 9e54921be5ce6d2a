"""Every hook a plugin may implement. Each docstring is the contract.

Hooks take event data only; services (ledger, clock, outbox, scheduler, db, config) are on the
plugin's ``self.ctx``. These are the hooks of the core; hooks that only particular plugins share
are published by the plugin that calls them (``economy_addhooks``) and listed by ``cytube-economy
plugins``. Implementations may be ``async def`` or plain ``def``, and may accept fewer
arguments than the spec names. Async hooks are awaited by :mod:`economy_core.dispatch`, never by
pluggy itself, so none of them uses ``firstresult`` or ``wrapper``; an implementation's exception is
logged and counted against its plugin and never reaches the other plugins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pluggy

from .events import (
    ChatMessage,
    MediaChanged,
    RelayedChat,
    RoomSnapshot,
    UserJoined,
    UserLeft,
)

if TYPE_CHECKING:
    from .commands import CommandCall
    from .hooktypes import (
        AwardRequest,
        Multiplier,
        PriceAdjustment,
        PriceQuote,
        ProfileField,
        StatsSection,
    )
    from .ledger import Posting
    from .storage import PluginConnection

PROJECT = "cytube_economy"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec(historic=True)
def economy_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Sync. A plugin publishes hook specs of its own for other plugins to implement:
    ``pluginmanager.add_hookspecs(its_spec_module)``. It must be a ``@staticmethod`` on the
    plugin class: the manager runs it before any plugin is constructed, records which hooks each
    plugin publishes (one publisher per hook) and refuses a clash. Implementations of a published
    hook are marked ``@hookimpl(optionalhook=True)``, so a hook whose publisher is switched off
    is simply never called."""


@hookspec
def economy_startup() -> None:
    """Async broadcast, once, after every enabled plugin is constructed and its tables exist,
    before the bus delivers events. Register scheduler jobs and restore state here."""


@hookspec
def economy_shutdown() -> None:
    """Async broadcast at clean shutdown, in reverse registration order, after the last event was
    handled and before the outbox is flushed and the database closed."""


@hookspec
def economy_settle() -> None:
    """Async broadcast. Finish work the plugin queued in the background (e.g. batched ledger
    writes) so that its effects are visible when this returns. Called by ``settle()`` (tests,
    demos); shutdown still calls ``economy_shutdown``."""


@hookspec
def economy_room_seeded(snapshot: RoomSnapshot) -> None:
    """Async broadcast. The room's current occupants (start-up, or the robot restarted). Seed
    state from it; pay no arrival rewards for these users."""


@hookspec
def economy_user_joined(event: UserJoined) -> None:
    """Async broadcast. A user entered the room (never the bot or an ignored user)."""


@hookspec
def economy_user_left(event: UserLeft) -> None:
    """Async broadcast. A user left the room."""


@hookspec
def economy_chat_message(event: ChatMessage) -> None:
    """Async broadcast. A public chat line from a human (not the bot, not ignored, not shadowed)."""


@hookspec
def economy_relayed_chat(event: RelayedChat) -> None:
    """Async broadcast. A public line from the bot's own account that the economy did not send
    (another service talking through the same robot, e.g. an LLM chat bot). Never a human's line:
    it earns nothing by itself."""


@hookspec
def economy_media_changed(event: MediaChanged) -> None:
    """Async broadcast. The playing media changed."""


@hookspec
def economy_transaction_committed(postings: Sequence[Posting]) -> None:
    """Async broadcast after a ledger transaction committed, with its postings. Read-only
    observers (metrics, rank checks); never called for rolled-back work."""


@hookspec
def economy_award_multiplier(award: AwardRequest) -> list[Multiplier] | Multiplier | None:
    """Async collect. Factors for an activity earning that is about to be paid; the core
    multiplies them (clamped to the range the core allows) and records them in the posting's
    metadata. Must be read-only."""


@hookspec
def economy_price_adjustments(quote: PriceQuote) -> list[PriceAdjustment] | PriceAdjustment | None:
    """Async collect. Adjustments to what a user pays at a spend sink (see
    :class:`~economy_core.hooktypes.PriceAdjustment`); the core combines them in
    ``ctx.pricing.quote``, which every plugin that sells something asks (one quote function for
    every front-end: a PM command and an API call get the same price). Must be read-only."""


@hookspec
def economy_allowance_bonus(channel: str, username: str, allowance: str) -> int | None:
    """Async collect, summed by ``ctx.pricing.allowance``. Extra units of a per-user daily
    allowance beyond what its owner configured: ``allowance`` is the asking plugin's name for
    it (by convention ``"queue"``: paid playlist slots a day; ``"free_fortune"``: free fortunes
    a day). Must be read-only."""


@hookspec
def economy_before_command(call: CommandCall) -> str | None:
    """Async first. Return a refusal text to stop the command (the text is replied); None lets
    it run. The first non-None answer wins."""


@hookspec
def economy_profile_fields(channel: str, username: str) -> list[ProfileField] | None:
    """Async collect. Lines about a user for ``profile`` (and well-known keys such as ``rank``
    that other commands show)."""


@hookspec
def economy_display_name(channel: str, username: str) -> str | None:
    """Async first. How public lines show a user: the whole name as it should appear, e.g.
    ``"alice [Night Owl]"`` for a user who owns a title; None when the plugin has nothing to
    add. The announcer asks it for every ``{user}`` it renders (``ctx.display_name`` asks it
    for a plugin). Must be read-only and cheap (it may run inside a ledger transaction)."""


@hookspec
def economy_stats(channel: str) -> list[StatsSection] | StatsSection | None:
    """Async collect. The plugin's figures for the channel statistics an admin inspects (and the
    API's statistics endpoint returns): titled sections of lines plus the same numbers as
    figures, computed from the plugin's own data. Must be read-only; may be slower than a
    profile field (asked on demand only)."""


@hookspec
def economy_health_sections(channel: str) -> list[StatsSection] | StatsSection | None:
    """Async collect. What the plugin adds to an admin's economic health report (``econ:health``
    and the API's health endpoint): titled sections of lines plus the same numbers as figures,
    e.g. how circulation changed since a stored snapshot. Read-only, asked on demand."""


@hookspec
def economy_reward_lines(channel: str) -> list[str] | None:
    """Async collect. Human-readable "what earns what" lines for the ``rewards`` command."""


@hookspec
def economy_day_closed(channel: str, day: date) -> None:
    """Async broadcast at the channel's local midnight with the day that just ended."""


@hookspec
def economy_config_reloaded(config: Any) -> None:
    """Async broadcast after a successful reload; ``config`` is the plugin's new section.
    The plugin's ``ctx.config`` already holds the new value."""


@hookspec(firstresult=True)
def economy_format_amount(amount: int) -> str | None:
    """Sync, first result wins: how to render an amount of the currency (default ``"N Z"``)."""


@hookspec
def economy_user_export(channel: str, user_key: str, username: str,
                        conn: PluginConnection) -> dict[str, Any] | None:
    """Async; each plugin is called on its own, with ``conn`` reading the database (fenced to
    its own tables, in the export's read transaction). Everything the plugin keeps about the
    user in ``channel``, JSON-serialisable (e.g. table name → rows as dicts); None: nothing.
    Plugins whose contract declares ``personal_data`` must answer it
    (``economy_core.userdata`` has helpers: :class:`~economy_core.userdata.UserTable`)."""


@hookspec
def economy_user_forget(channel: str, user_key: str, username: str, pseudonym: str,
                        conn: PluginConnection) -> None:
    """Async; each plugin is called on its own, inside the ONE ledger transaction that
    forgets the user (``conn`` fenced to its own tables). Delete the user's personal rows; in
    rows kept for others (history, a game between users), replace the user's key and name by
    ``pseudonym``. Money is not the plugin's business here: the core refuses to forget a user
    with open escrows and removes the balance itself. Raising aborts the whole forget."""


@hookspec
def economy_prune_veto(channel: str, user_key: str, username: str,
                       inactive_since: datetime) -> str | None:
    """Async collect, read-only. A reason why the account must not be pruned (``cytube-economy
    prune``), e.g. "owns items", or "seen 2026-03-01" when the plugin saw the user on or
    after ``inactive_since``; None: no objection."""


@hookspec
def economy_import_legacy(channel: str, source: Any, users: Mapping[str, str], now: datetime,
                          hold: Any, used_key: Any,
                          conn: PluginConnection) -> list[str] | None:
    """Async; each plugin is called on its own inside the ONE transaction that imports a
    channel from kryten-economy (``cytube-economy import kryten-economy``), with ``conn`` fenced
    to its own tables. ``source`` is kryten-economy's database (a read-only ``sqlite3``
    connection, rows as ``sqlite3.Row``); ``users`` maps each of its user names imported in this
    run to the user key here (users skipped by the core are absent: leave their rows). Bring the
    plugin's own data over and return summary lines (what came over, what was skipped and why).
    ``await hold(username, amount, purpose, reason)`` puts money kryten-economy held for a user
    (already out of their imported balance) into an open ledger escrow here and returns its id
    (a credit and the escrow, both corrections: no counter moves, the sums stay exact).
    ``await used_key(key)`` records a ledger idempotency key as used (a one-shot reward
    kryten-economy already paid: a later write with that key here moves nothing).
    Raising aborts the channel's import."""
