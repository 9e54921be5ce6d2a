"""The composition root: builds the kernel's services, loads the enabled plugins, runs events.

:class:`EconomyApp` owns every long-lived object (engine, ledger, identity, metrics, outbox,
scheduler, plugin manager, router) and is the only place that knows them all. Plugins never see it:
each receives a :class:`~economy_core.context.PluginContext`.

Events reach :meth:`EconomyApp.handle_event` in order (the bus queues them; the test kit awaits each
one). A PM goes through the router and its replies into the outbox; every other event updates the
room registry and is broadcast to the plugins' hooks. Ledger commits are observed through a second
in-order queue, so a hook that itself moves money never waits on the ledger writer that
called it.

Start-up order: database and core tables → plugins (tables, construction, registration) → stored
metric counters restored → ``economy_startup`` → day-close job → counter saves and (endpoint on)
gauge refreshes on the scheduler, one refresh now → metrics endpoint → outbox → bus (which seeds the
room from the robot's state, paying no arrival rewards). Shutdown reverses it: stop taking events
(the one in flight finishes), ``economy_shutdown``, drain commit observers, flush the outbox, save
the metric counters, close the bus, the ledger and the database.
"""

from __future__ import annotations

import asyncio
import logging
import time as wall
from collections.abc import Awaitable, Callable, Sequence
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import attrs
from sqlalchemy.ext.asyncio import AsyncEngine

from .aliases import Aliases
from .announcer import Announcer, PluginAnnouncer, unknown_kinds
from .api import ApiServer, database_ping
from .approval_commands import ApprovalCommands
from .approvals import Approvals, PluginApprovals
from .awards import Awards
from .channel_gauges import ChannelGauges
from .clock import Clock, SystemClock
from .config import AppConfig, ConfigError
from .context import (
    IdentityView,
    LiveSettings,
    Moderation,
    PluginContext,
    PluginHooks,
    PluginMembers,
    PluginOutbox,
    PluginScheduler,
    ReloadResult,
)
from .contract import CONFIG_RELOAD, MODERATION, Catalogue, CataloguePolicy, contract_of
from .core_commands import CoreCommands
from .db import check_table_prefix, make_engine, migrate
from .dispatch import Dispatcher
from .events import (
    ChatMessage,
    Event,
    MediaChanged,
    PrivateMessage,
    RelayedChat,
    RoomSnapshot,
    UserJoined,
    UserLeft,
)
from .health import Health, check_health
from .hookspecs import PROJECT
from .identity import Identity
from .ledger import Ledger, Posting
from .manager import (
    PluginInfo,
    PluginLoadError,
    check_plugins,
    installed_entry_points,
    load_app_config,
    new_plugin_manager,
    refuse_errors,
    review_config,
)
from .manager import register as register_plugin
from .members import Members
from .metrics import Metrics
from .metrics_store import CounterStore
from .outbox import Outbox, Transport
from .pricing import Pricing
from .robot_api import PluginRobot, RobotTransport
from .room import Rooms
from .router import CommandRouter
from .scheduler import Scheduler
from .storage import PluginDatabase, schema_of

log = logging.getLogger("economy_core.app")

EVENT_HOOKS: dict[type, tuple[str, str]] = {
    UserJoined: ("economy_user_joined", "event"),
    UserLeft: ("economy_user_left", "event"),
    ChatMessage: ("economy_chat_message", "event"),
    RelayedChat: ("economy_relayed_chat", "event"),
    MediaChanged: ("economy_media_changed", "event"),
    RoomSnapshot: ("economy_room_seeded", "snapshot"),
}
"""Which hook each inbound event type is broadcast to (PMs go to the router instead)."""

Requester = Callable[[str, dict[str, Any], float], Awaitable[dict[str, Any]]]


def _event_type(event: Event) -> str:
    return type(event).__name__


RESTART_ONLY = ("nats", "channels", "database", "metrics", "bot", "clock", "outbox",
                "ignored_users")
"""Core sections a running bot cannot switch: a reload that changes one is refused whole."""


@attrs.define
class LoadedPlugin:
    """A constructed, registered plugin and what the core knows about it."""

    info: PluginInfo
    instance: Any
    context: PluginContext[Any]


class _NoTransport:
    """The transport of an offline app (operator tools): nothing is ever sent."""

    async def send_pm(self, channel: str, username: str, text: str) -> None:
        raise ConnectionError("offline: nothing is sent")

    async def send_chat(self, channel: str, text: str) -> None:
        raise ConnectionError("offline: nothing is sent")


class EconomyApp:
    """One running economy: every channel of one config. See the module docstring."""

    def __init__(self, config: AppConfig, plugins: Sequence[PluginInfo], *,
                 clock: Clock | None = None, transport: Transport | None = None,
                 requester: Requester | None = None, strict_hooks: bool = False) -> None:
        """``transport`` replaces the NATS bus (tests); without it :meth:`start` connects the bus.
        ``strict_hooks`` re-raises plugin errors instead of isolating them (test kit option)."""
        self.config = config
        self.core = config.core
        self.clock: Clock = clock or SystemClock()
        self.tz = config.core.clock.tz
        self.plugin_infos = list(plugins)
        self.rooms = Rooms(c.channel for c in config.core.channels)
        self.metrics = Metrics()
        self.plugin_manager = new_plugin_manager()
        self.dispatcher = Dispatcher(self.plugin_manager, strict=strict_hooks,
                                     on_error=self._count_error, log=log)
        self.scheduler = Scheduler(self.clock, self.tz, on_error=self._count_error,
                                   log=logging.getLogger("economy_core.scheduler"))
        self.plugins: dict[str, LoadedPlugin] = {}
        self.accumulators: dict[tuple[str, str, str], float] = {}
        self._transport = transport
        self._requester = requester
        self.robot = PluginRobot(self._robot_transport, lambda ch: self.rooms[ch].bot_rank)
        self.pricing = Pricing(self.dispatcher.collect)
        self._bus: Any = None
        self._natsd: Any = None
        self._commit_queue: asyncio.Queue[Sequence[Posting]] = asyncio.Queue()
        self._commit_task: asyncio.Task[None] | None = None
        self._event_lock = asyncio.Lock()
        self._accepting = False
        self._started = False
        self.engine: AsyncEngine
        self.catalogue: Catalogue
        self.ledger: Ledger
        self.identity: Identity
        self.members: Members
        self.aliases: Aliases
        self.outbox: Outbox
        self.announcer: Announcer
        self.approvals: Approvals
        self.router: CommandRouter
        self.counter_store: CounterStore

    # -- errors and metrics -------------------------------------------------------------------

    def _count_error(self, plugin: str, where: str, exc: BaseException) -> None:
        self.metrics.handler_errors.inc({"plugin": plugin, "where": where})

    def _count_command(self, name: str, outcome: str) -> None:
        self.metrics.commands.inc({"command": name, "outcome": outcome})
        if outcome == "error":  # the command raised: an error of the plugin that owns it
            cmd = self.router.lookup(name)
            self.metrics.handler_errors.inc({"plugin": cmd.plugin if cmd else "core",
                                             "where": "command"})

    async def refresh_metrics(self) -> None:
        """Recompute the gauges that need the database (core's and plugins' refreshers)."""
        await self.metrics.refresh(
            on_error=lambda owner, exc: self._count_error(owner, "metrics", exc))

    async def save_counters(self) -> None:
        """Write the counter series that changed since the last save (one transaction)."""
        values = self.metrics.unsaved()
        await self.counter_store.save(values)
        self.metrics.saved(values)

    # -- start-up -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bring everything up in the documented order; raises on any start-up failure."""
        await self._open(offline=False)
        core = self.core
        self.metrics.restore(await self.counter_store.load())  # before anything counts again
        await self.dispatcher.broadcast("economy_startup")
        self.scheduler.daily(time(0, 0), self._close_day, name="day_close", owner="core")

        if core.metrics.persist_seconds:
            self.scheduler.every(core.metrics.persist_seconds, self.save_counters,
                                 name="metrics_persist", owner="core")
        if core.metrics.port:  # nobody scrapes otherwise: no need to recompute gauges
            await self.refresh_metrics()
            self.scheduler.every(core.metrics.refresh_seconds, self.refresh_metrics,
                                 name="metrics_refresh", owner="core")
        await self.metrics.start_server(core.metrics.host, core.metrics.port, self.health)
        await self.outbox.start()
        await self.scheduler.start()
        self._accepting = True
        self._started = True
        if self._bus is not None:
            await self._bus.start()
        log.info("economy started: channels %s, plugins %s",
                 ", ".join(self.rooms.channels) or "none", ", ".join(self.plugins) or "none")

    async def open_offline(self) -> None:
        """Open the database, the core's services and the plugins (constructed, their tables
        migrated) for an operator's tool, without the bus, the scheduler, the metrics server,
        ``economy_startup`` or the commit observers (``economy_transaction_committed``): nothing
        runs by itself and nothing is sent. Close with :meth:`close_offline`."""
        await self._open(offline=True)

    async def close_offline(self) -> None:
        """Close what :meth:`open_offline` opened (queued commit observers are dropped)."""
        if self._commit_task is not None:
            self._commit_task.cancel()
        await self.ledger.close()
        await self.engine.dispose()

    async def _open(self, *, offline: bool) -> None:
        """Config checks, database, core services and plugins: the part of start-up that
        :meth:`open_offline` shares."""
        core = self.core
        self.catalogue = check_plugins(self.plugin_infos, self.plugin_manager)
        self._review(self.config)
        self.engine = make_engine(core.database.url)
        self.ledger = Ledger(self.engine, self.clock, tz=self.tz, on_commit=self._on_commit)
        await self.ledger.start()
        self.identity = Identity(self.engine)
        await self.identity.start()
        self.members = Members(self.engine, self.clock, lambda: self.core.onboarding,
                               self.catalogue.exempt_types)
        await self.members.start()
        self.ledger.set_earn_gate(self.members)
        self.ledger.set_write_policy(CataloguePolicy(self.catalogue))
        self.aliases = Aliases(self.request, self.clock)
        if not offline:  # a tool's writes are not events for the plugins
            self._commit_task = asyncio.create_task(self._observe_commits(),
                                                    name="economy-commits")

        if self._transport is not None:
            transport = self._transport
        elif offline:
            transport = _NoTransport()
        else:
            transport = await self._make_bus()
        from .outbox_store import OutboxStore
        from .ratelimit import Limits

        pacing, antiflood = core.outbox, core.outbox.chat_antiflood
        outbox_store = OutboxStore(self.engine, self.clock)  # money PMs kept across a restart
        await outbox_store.start()
        self.counter_store = CounterStore(self.engine, self.clock)
        await self.counter_store.start()
        self.metrics.add_refresher("core", ChannelGauges(
            self.engine, self.rooms, self.metrics, lambda: self.core.bot.username).refresh)
        self.outbox = Outbox(
            transport, pm_limits=Limits(pacing.pm_burst, pacing.pm_per_second),
            chat_antiflood=Limits(antiflood.burst, antiflood.per_second,
                                  antiflood.cooldown_seconds) if antiflood.enabled else None,
            margin_seconds=pacing.margin_seconds,
            cooldown_margin_seconds=pacing.cooldown_margin_seconds,
            bot_rank=lambda channel: self.rooms[channel].bot_rank,  # the chat limits it gets
            chat_per_minute=pacing.chat_per_minute, max_chars=pacing.max_chars,
            merge_window_seconds=pacing.merge_window_seconds,
            shutdown_seconds=pacing.shutdown_seconds, store=outbox_store,
            is_quiet=self.identity.is_quiet,
            on_depth=lambda n: self.metrics.queue_depth.set({}, n),
            log=logging.getLogger("economy_core.outbox"), clock=self.clock)
        self.announcer = Announcer(
            self.outbox, self.scheduler, self.clock, self.catalogue,
            lambda: self.core.announcements, self._display_name,
            log=logging.getLogger("economy_core.announcer"))
        self.approvals = Approvals(
            self.engine, self.ledger, format_amount=self.format_amount,
            notify=lambda channel, user, text: self.outbox.notify(channel, user, text,
                                                                  transactional=True),
            log=logging.getLogger("economy_core.approvals"))
        await self.approvals.start()
        self.router = CommandRouter(
            owner_level=core.admin.owner_level,
            rate_limit_per_minute=core.commands.rate_limit_per_minute,
            is_banned=self.identity.is_banned, before_command=self._before_command,
            on_outcome=self._count_command, log=logging.getLogger("economy_core.router"))
        self.router.register_plugin("core", CoreCommands(
            self.router, self.identity, self.clock, lambda: self.core.currency,
            lambda: list(self.plugins)))
        approval_commands = ApprovalCommands(self.approvals, self.clock, self.format_amount)
        self.router.register_plugin("core", approval_commands)
        self.api = ApiServer(
            lambda: self.core.api, channels=lambda: [c.channel for c in self.core.channels],
            clock=self.clock, database_up=lambda: database_ping(self.engine),
            bus_up=self._bus_up,
            on_outcome=lambda command, outcome: self.metrics.api_requests.inc(
                {"command": command, "outcome": outcome}),
            log=logging.getLogger("economy_core.api"))
        self.api.register_plugin("core", approval_commands)  # approval.list, approval.resolve

        self._block_disabled_plugins()
        for info in self.plugin_infos:
            await self._load_plugin(info)

    async def _make_bus(self) -> Transport:
        from .bus import KrytenBus

        servers = list(self.core.nats.servers)
        if not servers:
            from .natsd import NatsServer

            self._natsd = NatsServer(log=logging.getLogger("economy_core.natsd"))
            await self._natsd.start()
            servers = [self._natsd.url]
            log.info("no nats.servers configured: started a local nats-server at %s",
                     self._natsd.url)
        self._bus = KrytenBus(
            servers=servers, channels=[(c.domain, c.channel) for c in self.core.channels],
            bot_username=self.core.bot.username, ignored_users=self.core.ignored_users,
            sink=self.handle_event, clock=self.clock, user=self.core.nats.user or None,
            password=self.core.nats.password or None, log=logging.getLogger("economy_core.bus"))
        if self.core.api.enabled:
            self._bus.serve(self.core.api.subject, lambda raw: self.api.handle(raw))
        self._requester = self._requester or self._bus.request
        transport: Transport = self._bus
        return transport

    def _robot_transport(self) -> RobotTransport | None:
        """Whatever carries commands to the robot: the bus, or a test transport that can."""
        carrier: Any = self._bus if self._bus is not None else self._transport
        return carrier if hasattr(carrier, "add_media") else None

    def _block_disabled_plugins(self) -> None:
        enabled = {info.name for info in self.plugin_infos}
        for name in installed_entry_points():
            if name not in enabled:
                self.plugin_manager.set_blocked(name)

    async def _load_plugin(self, info: PluginInfo) -> None:
        name = info.name
        if name in self.plugins or name == "core":
            raise PluginLoadError(f"plugin name {name!r} is used twice")
        schema = schema_of(info.cls)
        if schema is not None:
            check_table_prefix(schema.metadata, f"{name}_")
            await migrate(self.engine, name, schema.metadata, schema.version, schema.steps)
        ledger = self.ledger.for_source(name)
        contract = contract_of(info.cls)
        ctx: PluginContext[Any] = PluginContext(
            name=name, settings=LiveSettings(self.config.plugins.get(name), self.core),
            ledger=ledger,
            awards=Awards(ledger, name, self._collect_multipliers, self.accumulators),
            clock=self.clock, scheduler=PluginScheduler(self.scheduler, name),
            outbox=PluginOutbox(self.outbox), rooms=self.rooms,
            identity=IdentityView(self.identity), members=PluginMembers(self.members),
            aliases=self.aliases, db=PluginDatabase(self.engine, name),
            log=logging.getLogger(f"economy_plugins.{name}"),
            metrics=self.metrics.for_plugin(name), format_amount=self.format_amount,
            request=self.request, hooks=PluginHooks(self.dispatcher, PROJECT),
            catalogue=self.catalogue, robot=self.robot, pricing=self.pricing,
            announcer=PluginAnnouncer(self.announcer, name),
            approvals=PluginApprovals(self.approvals, name),
            moderation=(Moderation(self.identity) if MODERATION in contract.capabilities
                        else None),
            reload=(self.reload_from_file if CONFIG_RELOAD in contract.capabilities else None),
            health=self.health)
        instance = info.cls(ctx)
        register_plugin(self.plugin_manager, name, instance)
        self.router.register_plugin(name, instance)
        self.api.register_plugin(name, instance)
        self.plugins[name] = LoadedPlugin(info, instance, ctx)

    async def until_serving(self, status: Callable[[str], None] = lambda text: None) -> None:
        """Return once the bot can answer: started (database open), the bus connected and every
        channel's room read from the robot's state. ``status`` hears what is being waited for
        (systemd's STATUS line). Without a bus (tests) it returns at once."""
        bus = self._bus
        if bus is None:
            return
        if not bus.connected:
            status(f"waiting for NATS at {', '.join(bus.servers)}")
            while not await bus.wait_connected(3600.0):
                pass
        for channel in self.rooms.channels:
            room = self.rooms[channel]
            if not room.seeded:
                status(f"waiting for kryten-robot's room state of {channel}")
                await room.wait_seeded()

    @property
    def started(self) -> bool:
        """True between a completed :meth:`start` and :meth:`stop`."""
        return self._started

    # -- reload -------------------------------------------------------------------------------

    async def reload_config(self, new: AppConfig) -> list[str]:
        """Switch to ``new`` (an already validated config) while running.

        Returns the core sections (and ``plugins.enabled``) that differ but only take effect at
        a restart — then nothing is applied (all or nothing). Otherwise every plugin's
        ``ctx.config`` and ``ctx.core`` hold the new values, the router's admin level and rate
        limit, the onboarding minimums, the currency and the log level follow, and each plugin's
        ``economy_config_reloaded`` hook is called with its own new section. Returns ``[]``."""
        needs_restart = [name for name in RESTART_ONLY
                         if getattr(new.core, name) != getattr(self.core, name)]
        if new.enabled != self.config.enabled:
            needs_restart.append("plugins.enabled")
        for key in ("enabled", "subject"):  # the API's subscription is made at start
            if getattr(new.core.api, key) != getattr(self.core.api, key):
                needs_restart.append(f"api.{key}")
        if needs_restart:
            return needs_restart
        self._review(new)
        self.config, self.core = new, new.core
        for name, loaded in self.plugins.items():
            loaded.context.settings.config = new.plugins.get(name)
            loaded.context.settings.core = new.core
        self.router.owner_level = new.core.admin.owner_level
        self.router.rate_limit = new.core.commands.rate_limit_per_minute
        self.members.reconfigured()
        logging.getLogger().setLevel(new.core.log.level)
        await self.dispatcher.broadcast_each(
            "economy_config_reloaded", lambda plugin: {"config": new.plugins.get(plugin)})
        log.info("configuration reloaded from %s", new.source)
        return []

    async def reload_from_file(self, path: str | None = None) -> ReloadResult:
        """Read ``path`` (default: the file the running config came from), validate it and
        :meth:`reload_config` it. Never raises for a bad file: the result says what happened,
        and on any problem the running configuration stays as it was."""
        source = Path(path or self.config.source)
        try:
            new, _ = load_app_config(source)
        except (ConfigError, PluginLoadError, OSError) as exc:
            message = f"reload failed, still running the previous configuration:\n{exc}"
            log.error("%s", message)
            return ReloadResult(False, message)
        needs_restart = await self.reload_config(new)
        if needs_restart:
            message = (f"reload refused: {', '.join(needs_restart)} changed, which needs a "
                       "restart; nothing was applied")
            log.error("%s", message)
            return ReloadResult(False, message)
        return ReloadResult(True, f"configuration reloaded from {source}")

    def _review(self, config: AppConfig) -> None:
        """The plugins' config reviews: warnings logged under each plugin's logger; errors
        refuse the config (ConfigError) before anything changes."""
        kinds = unknown_kinds(config.core, self.catalogue)
        if kinds:
            raise ConfigError(kinds)
        notes = review_config(config, self.plugin_infos)
        refuse_errors(notes, config.source)
        for note in notes:
            logging.getLogger(f"economy_plugins.{note.path.split('.')[1]}"
                              if note.path.startswith("plugins.") else "economy_core.config"
                              ).warning("%s", note)

    # -- services handed to plugins -----------------------------------------------------------

    async def health(self) -> Health:
        """The health check every front-end shares (``system.health``, ``ctx.health()``, an
        HTTP ``/health``): the database answers ``SELECT 1`` and the bus is connected (no bus:
        tests without NATS count as connected)."""
        return await check_health(lambda: database_ping(self.engine), self._bus_up, self.clock)

    def _bus_up(self) -> bool:
        return self._bus is None or bool(self._bus.connected)

    def format_amount(self, amount: int) -> str:
        """An amount of the currency as users see it (a plugin may override the format)."""
        custom = self.plugin_manager.hook.economy_format_amount(amount=amount)
        if isinstance(custom, str):
            return custom
        return f"{amount:,} {self.core.currency.symbol}"

    async def request(self, subject: str, payload: dict[str, Any],
                      timeout: float) -> dict[str, Any]:
        """A request/reply to another kryten service; raises when no bus is connected."""
        if self._requester is None:
            raise ConnectionError("no message bus: requests to other services are unavailable")
        return await self._requester(subject, payload, timeout)

    async def _display_name(self, channel: str, username: str) -> str | None:
        answer = await self.dispatcher.first("economy_display_name", channel=channel,
                                             username=username)
        return answer if isinstance(answer, str) else None

    async def _collect_multipliers(self, award: Any) -> list[Any]:
        return await self.dispatcher.collect("economy_award_multiplier", award=award)

    async def _before_command(self, call: Any) -> str | None:
        answer = await self.dispatcher.first("economy_before_command", call=call)
        return None if answer is None else str(answer)

    async def _close_day(self) -> None:
        day = (self.clock.now().astimezone(self.tz) - timedelta(hours=1)).date()
        for channel in self.rooms.channels:
            await self.dispatcher.broadcast("economy_day_closed", channel=channel, day=day)

    # -- ledger observers ---------------------------------------------------------------------

    async def _on_commit(self, postings: Sequence[Posting]) -> None:
        credited: dict[tuple[str, str, str], int] = {}
        debited: dict[tuple[str, str, str], int] = {}
        for p in postings:  # sum first: a tick commits thousands of postings
            key = (p.source, p.type, str(p.kind))
            if p.amount > 0:
                credited[key] = credited.get(key, 0) + p.amount
            elif p.amount < 0:
                debited[key] = debited.get(key, 0) - p.amount
        for (source, type_, kind), total in credited.items():
            self.metrics.z_credited.add({"source": source, "type": type_, "kind": kind}, total)
        for (source, type_, kind), total in debited.items():
            self.metrics.z_debited.add({"source": source, "type": type_, "kind": kind}, total)
        self._commit_queue.put_nowait(postings)

    async def _observe_commits(self) -> None:
        while True:
            postings = await self._commit_queue.get()
            try:
                await self.dispatcher.broadcast("economy_transaction_committed",
                                                postings=postings)
            finally:
                self._commit_queue.task_done()

    # -- events -------------------------------------------------------------------------------

    async def handle_event(self, event: Event) -> list[str]:
        """Handle one inbound event; for a PM, returns the replies (also queued to the outbox).

        Events are handled one at a time, in the order they are awaited.
        """
        if not self._accepting:
            return []
        async with self._event_lock:
            self.metrics.events_in.inc({"type": _event_type(event)})
            await self._note_members(event)
            if isinstance(event, PrivateMessage):
                return await self._handle_pm(event)
            self.rooms.apply(event)
            hook = EVENT_HOOKS.get(type(event))
            if hook is not None:
                name, arg = hook
                kwargs: dict[str, Any] = {arg: event}
                await self.dispatcher.broadcast(name, **kwargs)
            return []

    async def _note_members(self, event: Event) -> None:
        """First sightings and (while a message minimum is set) chat line counts."""
        if event.channel not in self.rooms.channels:
            return
        if isinstance(event, ChatMessage):
            await self.members.count_message(event.channel, event.username)
        elif isinstance(event, UserJoined | PrivateMessage):
            await self.members.seen(event.channel, [event.username])
        elif isinstance(event, RoomSnapshot):
            await self.members.seen(event.channel, [u.username for u in event.users])

    async def _handle_pm(self, pm: PrivateMessage) -> list[str]:
        if pm.channel not in self.rooms.channels:
            return []
        started = wall.perf_counter()  # measured time, not the economy's clock
        rank = max(pm.rank, self.rooms[pm.channel].rank_of(pm.username))
        if rank != pm.rank:
            pm = attrs.evolve(pm, rank=rank)
        replies = await self.router.handle(pm)
        if replies:
            self.outbox.reply(pm.channel, pm.username, replies)
        self.metrics.pm_seconds.observe({}, wall.perf_counter() - started)
        return replies

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until plugins' background work is done, commit observers have run and the
        outbox is empty (tests, shutdown)."""
        if self._started:
            await asyncio.wait_for(self.dispatcher.broadcast("economy_settle"), timeout)
        await asyncio.wait_for(self._commit_queue.join(), timeout)
        if self._started:
            self.announcer.flush()  # lines held for merging go now
        await self.outbox.flush(timeout)

    # -- shutdown -----------------------------------------------------------------------------

    async def stop(self) -> None:
        """Clean shutdown: finish the event in flight, tell plugins, flush, close everything."""
        if not self._started:
            return
        self._started = False
        self._accepting = False
        async with self._event_lock:  # the event in flight finishes first
            pass
        if self._bus is not None:
            await self._bus.pause()
        await self.scheduler.stop()
        await self.dispatcher.broadcast("economy_shutdown", reverse=True)
        for name in reversed(list(self.plugins)):
            self.scheduler.cancel_owner(name)
        try:  # commit observers may still queue messages
            await asyncio.wait_for(self._commit_queue.join(), 10.0)
        except TimeoutError:
            log.warning("shutdown: commit observers still busy after 10 s")
        self.announcer.flush()  # lines held for merging get the outbox's shutdown grace
        await self.outbox.close()  # sends for outbox.shutdown_seconds; keeps unsent money PMs
        try:
            await self.save_counters()
        except Exception:  # a dead database must not stop the shutdown
            log.exception("shutdown: saving the metric counters failed")
        if self._commit_task is not None:
            self._commit_task.cancel()
        await self.ledger.close()
        await self.engine.dispose()
        await self.metrics.stop_server()
        if self._bus is not None:
            await self._bus.stop()
        if self._natsd is not None:
            await self._natsd.stop()
        log.info("economy stopped")
