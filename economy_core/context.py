"""What a plugin is given: :class:`PluginContext`, and the narrow facades inside it.

A plugin never receives the app or the plugin manager. It gets its own config section, a ledger
that stamps its name as the source, the award pipeline, the clock, a scheduler whose jobs it owns,
an outbox that can only send PMs and chat, read access to the rooms, the identity flags, users'
first-seen times and onboarding standing, alias-aware identity (``aliases.same_person``), the
database engine (for its own ``<name>_*`` tables), a logger and prefixed metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, time, tzinfo
from typing import Any, Generic, TypeVar

import attrs
from sqlalchemy.ext.asyncio import AsyncEngine

from .aliases import Aliases
from .awards import Awards
from .clock import Clock
from .config import CoreConfig
from .dispatch import Dispatcher
from .identity import Identity
from .ledger import Ledger
from .members import Members, Standing
from .metrics import PluginMetrics
from .outbox import Outbox
from .room import Rooms
from .scheduler import Job, JobFn, Scheduler

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

    def chat(self, channel: str, text: str) -> None:
        """A public chat line in the channel."""
        self._outbox.chat(channel, text)


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


class PluginHooks:
    """Asking the other plugins through hooks (the only way plugins meet, besides the ledger).

    ``collect`` gathers the non-None answers of every implementation (lists flattened);
    ``first`` returns the first non-None answer; ``broadcast`` only tells them. Failures are
    isolated and counted as usual.
    """

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    async def collect(self, hook_name: str, **kwargs: Any) -> list[Any]:
        return await self._dispatcher.collect(hook_name, **kwargs)

    async def first(self, hook_name: str, **kwargs: Any) -> Any:
        return await self._dispatcher.first(hook_name, **kwargs)

    async def broadcast(self, hook_name: str, **kwargs: Any) -> None:
        """Tell every implementation (answers are ignored; failures isolated and counted)."""
        await self._dispatcher.broadcast(hook_name, **kwargs)


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
    ledger: Ledger
    awards: Awards
    clock: Clock
    scheduler: PluginScheduler
    outbox: PluginOutbox
    rooms: Rooms
    identity: Identity
    members: PluginMembers
    aliases: Aliases
    db: AsyncEngine
    log: logging.Logger
    metrics: PluginMetrics
    format_amount: Callable[[int], str]
    request: Callable[[str, dict[str, Any], float], Awaitable[dict[str, Any]]]
    hooks: PluginHooks

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
