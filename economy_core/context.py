"""What a plugin is given: :class:`PluginContext`, and the narrow facades inside it.

A plugin never receives the app, the plugin manager or a service's life cycle. It gets its own
config section, a ledger view that stamps its name as the source (money moves and reads; writes
checked against its declared contract), the award pipeline, the clock, a scheduler whose jobs it
owns, an outbox that can only send PMs and chat, read access to the rooms, read-only identity
flags (banning is the ``moderation`` capability, granted to plugins that declare it), users'
first-seen times and onboarding standing, alias-aware identity (``aliases.same_person``), a
database fenced to its own ``<name>_*`` tables, the read-only catalogue of what every enabled
plugin declared, a logger and prefixed metrics.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, time, tzinfo
from typing import Any, Generic, TypeVar

import attrs

from .aliases import Aliases
from .announcer import PluginAnnouncer
from .approvals import PluginApprovals
from .awards import Awards
from .clock import Clock
from .config import CoreConfig
from .contract import CONFIG_RELOAD, MODERATION, Catalogue
from .dispatch import Dispatcher
from .health import Health
from .hookspecs import economy_display_name
from .identity import Identity
from .ledger import LedgerView
from .members import Members, Standing
from .metrics import PluginMetrics
from .outbox import DEFAULT_SUMMARY, Outbox
from .pricing import Pricing
from .robot_api import PluginRobot
from .room import Rooms
from .scheduler import Job, JobFn, Scheduler
from .storage import PluginDatabase

C = TypeVar("C")


class PluginOutbox:
    """Sending for one plugin: replies are the router's job, so plugins notify and chat."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def notify(self, channel: str, username: str, text: str, *,
               transactional: bool = False) -> None:
        """An automated PM. Quiet users do not get it unless ``transactional`` (money moved
        because of someone else's action: a tip, an admin grant, a settled challenge)."""
        self._outbox.notify(channel, username, text, transactional=transactional)

    def chat(self, channel: str, text: str, *, summary: str = DEFAULT_SUMMARY) -> None:
        """A raw public chat line in the channel, for text an admin typed (``announce``).
        Everything a plugin announces by itself goes through ``ctx.announcer`` instead (declared
        kinds the operator can switch off, templates, display names, merging). When the room's
        chat budget is full, queued lines are folded into one "…and N more <summary>" line."""
        self._outbox.chat(channel, text, summary=summary)


class PluginScheduler:
    """The scheduler, with every job owned by one plugin (cancelled when it stops)."""

    def __init__(self, scheduler: Scheduler, owner: str) -> None:
        self._scheduler = scheduler
        self._owner = owner

    @property
    def tz(self) -> tzinfo:
        return self._scheduler.tz

    def every(self, seconds: float, fn: JobFn, *, name: str,
              jitter: Callable[[], float] | None = None, first_in: float | None = None) -> Job:
        return self._scheduler.every(seconds, fn, name=name, owner=self._owner, jitter=jitter,
                                     first_in=first_in)

    def once(self, delay_seconds: float, fn: JobFn, *, name: str) -> Job:
        return self._scheduler.once(delay_seconds, fn, name=name, owner=self._owner)

    def daily(self, at: time, fn: JobFn, *, name: str) -> Job:
        return self._scheduler.daily(at, fn, name=name, owner=self._owner)

    def cron(self, expression: str, fn: JobFn, *, name: str) -> Job:
        return self._scheduler.cron(expression, fn, name=name, owner=self._owner)


HookSpec = Callable[..., Any]
"""A hook spec function (from :mod:`economy_core.hookspecs` or a plugin's published specs)."""


class PluginHooks:
    """Asking the other plugins through hooks (the only way plugins meet, besides the ledger).

    Each method takes the hook's spec function itself (``hookspecs.economy_profile_fields``, or
    a function of a spec module a plugin publishes), never its name as a string, and checks the
    keyword arguments against the spec's parameters. ``collect`` gathers the non-None answers of
    every implementation (lists flattened); ``first`` returns the first non-None answer;
    ``broadcast`` only tells them. Failures are isolated and counted as usual; a hook nobody
    implements answers nothing."""

    def __init__(self, dispatcher: Dispatcher, project: str) -> None:
        self._dispatcher = dispatcher
        self._marker = f"{project}_spec"

    def _name(self, spec: HookSpec, kwargs: dict[str, Any]) -> str:
        if not callable(spec) or getattr(spec, self._marker, None) is None:
            raise TypeError(f"{spec!r} is not a hook spec: pass the spec function itself")
        allowed = set(inspect.signature(spec).parameters)
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise TypeError(f"hook {spec.__name__} takes {', '.join(sorted(allowed)) or 'nothing'}"
                            f", not {', '.join(unknown)}")
        return str(spec.__name__)

    async def collect(self, spec: HookSpec, **kwargs: Any) -> list[Any]:
        return await self._dispatcher.collect(self._name(spec, kwargs), **kwargs)

    async def first(self, spec: HookSpec, **kwargs: Any) -> Any:
        return await self._dispatcher.first(self._name(spec, kwargs), **kwargs)

    async def broadcast(self, spec: HookSpec, **kwargs: Any) -> None:
        """Tell every implementation (answers are ignored; failures isolated and counted)."""
        await self._dispatcher.broadcast(self._name(spec, kwargs), **kwargs)


class IdentityView:
    """The core's per-user flags, read-only: economy bans and quiet mode."""

    def __init__(self, identity: Identity) -> None:
        self._identity = identity

    def is_banned(self, channel: str, username: str) -> bool:
        return self._identity.is_banned(channel, username)

    def is_quiet(self, channel: str, username: str) -> bool:
        return self._identity.is_quiet(channel, username)


class Moderation:
    """The ``moderation`` capability: banning users from the economy (and lifting bans)."""

    def __init__(self, identity: Identity) -> None:
        self._identity = identity

    async def ban(self, channel: str, username: str, *, by: str, reason: str,
                  at: datetime) -> bool:
        """Ban a user from the economy (balance kept, earns nothing, commands refused);
        False when already banned."""
        return await self._identity.ban(channel, username, by=by, reason=reason, at=at)

    async def unban(self, channel: str, username: str) -> bool:
        """Lift a ban; False when the user was not banned."""
        return await self._identity.unban(channel, username)


@attrs.frozen
class ReloadResult:
    """What a configuration reload did: ``ok`` and a message for the operator."""

    ok: bool
    message: str


class CapabilityError(RuntimeError):
    """A plugin used a core power its contract does not declare."""


class PluginMembers:
    """What the core knows about users' history in a channel (read side of the members store)."""

    def __init__(self, members: Members) -> None:
        self._members = members

    async def first_seen(self, channel: str, username: str) -> datetime:
        """When the core first saw the user in ``channel`` (now, recorded, if never before).
        Use it for account-age rules."""
        return await self._members.first_seen(channel, username)

    async def standing(self, channel: str, username: str) -> Standing:
        """The user against the onboarding minimums (``may_earn``, minutes/messages left)."""
        return await self._members.standing(channel, username)


@attrs.define
class LiveSettings(Generic[C]):
    """The settings a config reload replaces in place: the plugin's section and the core's."""

    config: C
    core: CoreConfig


@attrs.frozen
class PluginContext(Generic[C]):
    """Everything a plugin may use; built by the core for each enabled plugin.

    ``config`` and ``core`` follow a config reload: read them when they are needed rather than
    copying values at start-up (the ``economy_config_reloaded`` hook says when they changed)."""

    name: str
    settings: LiveSettings[C]
    ledger: LedgerView
    awards: Awards
    clock: Clock
    scheduler: PluginScheduler
    outbox: PluginOutbox
    rooms: Rooms
    identity: IdentityView
    members: PluginMembers
    aliases: Aliases
    db: PluginDatabase
    log: logging.Logger
    metrics: PluginMetrics
    format_amount: Callable[[int], str]
    request: Callable[[str, dict[str, Any], float], Awaitable[dict[str, Any]]]
    hooks: PluginHooks
    catalogue: Catalogue
    """What every enabled plugin declared (read-only): posting-type labels, counters, hooks."""
    robot: PluginRobot
    """Room actions through kryten-robot (queue media, set a channel rank), the bot's rank."""
    pricing: Pricing
    """What a user pays for what a plugin sells (``quote``), and daily allowances."""
    announcer: PluginAnnouncer
    """Public chat lines of the kinds the plugin declared (``announce``, ``enabled``)."""
    approvals: PluginApprovals
    """Purchases that wait for an admin, their charge held in escrow (``register``,
    ``request``, ``resolve``, ``pending``)."""
    _moderation: Moderation | None = None
    _reload: Callable[[], Awaitable[ReloadResult]] | None = None
    _health: Callable[[], Awaitable[Health]] | None = None

    async def reload(self) -> ReloadResult:
        """Re-read the configuration file exactly as SIGHUP does (all or nothing; a bad file or
        a restart-only change leaves the running configuration as it was; never raises for a
        bad file). Only for a plugin whose contract declares the ``config_reload`` capability
        (anything else raises :class:`CapabilityError`)."""
        if self._reload is None:
            raise CapabilityError(f"plugin {self.name!r} did not declare the "
                                  f"{CONFIG_RELOAD!r} capability (Contract.capabilities)")
        return await self._reload()

    async def health(self) -> Health:
        """The core's health check (database answering, NATS connected), the same one
        ``system.health`` answers with."""
        if self._health is None:
            raise RuntimeError("no health check is wired into this context")
        return await self._health()

    @property
    def moderation(self) -> Moderation:
        """Ban and unban; only for a plugin whose contract declares the ``moderation``
        capability (anything else raises :class:`CapabilityError`)."""
        if self._moderation is None:
            raise CapabilityError(f"plugin {self.name!r} did not declare the "
                                  f"{MODERATION!r} capability (Contract.capabilities)")
        return self._moderation

    async def display_name(self, channel: str, username: str) -> str:
        """How public lines show a user: the ``economy_display_name`` hook's answer (``alice
        [Night Owl]``), else the name itself."""
        answer = await self.hooks.first(economy_display_name, channel=channel,
                                        username=username)
        return answer if isinstance(answer, str) and answer.strip() else username

    def currency_word(self, amount: int) -> str:
        """The currency's name for ``amount`` of it: singular for 1, else plural."""
        return self.core.currency.word(amount)

    @property
    def config(self) -> C:
        """This plugin's validated ``[plugins.<name>]`` section (None if it declares none)."""
        return self.settings.config

    @property
    def core(self) -> CoreConfig:
        """The core's sections (currency, admin level, onboarding …)."""
        return self.settings.core

    @property
    def tz(self) -> tzinfo:
        """The channel timezone (``[clock] timezone``; UTC by default)."""
        return self.scheduler.tz

    @property
    def channels(self) -> list[str]:
        return [c.channel for c in self.core.channels]
