"""Commands every economy has, whatever plugins are enabled: help, about, quiet, unquiet."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version

from .clock import Clock
from .commands import CommandCall, command, shown
from .config import CurrencyConfig
from .identity import Identity
from .router import CommandRouter


def package_version() -> str:
    """The installed distribution's version (single source: package metadata)."""
    try:
        return version("cytube-economy")
    except PackageNotFoundError:
        return "0+unknown"


def _format_uptime(seconds: float) -> str:
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


class CoreCommands:
    """The core's own PM commands; registered with the router under the name ``core``."""

    name = "core"

    def __init__(self, router: CommandRouter, identity: Identity, clock: Clock,
                 currency: Callable[[], CurrencyConfig],
                 plugin_names: Callable[[], list[str]]) -> None:
        """``currency`` is read at use (it follows a config reload)."""
        self._router = router
        self._identity = identity
        self._clock = clock
        self._currency = currency
        self._plugin_names = plugin_names
        self._started: datetime = clock.now()

    @command("help", help="List commands, or explain one: help <command>", aliases=("commands",))
    async def help(self, call: CommandCall, topic: str | None = None) -> list[str]:
        """Without a topic: the commands you can use, one line each. With one: its usage."""
        if topic:
            cmd = self._router.lookup(topic.lower())
            if cmd is None or (cmd.spec.admin and not call.is_admin):
                return [f"No command called {shown(topic)}. PM 'help' for the list."]
            lines = [cmd.usage(), cmd.spec.help]
            if cmd.spec.aliases:
                lines.append("Also: " + ", ".join(cmd.spec.aliases))
            if cmd.spec.long_help and cmd.spec.long_help != cmd.spec.help:
                lines.append(cmd.spec.long_help)
            return ["\n".join(lines)]
        groups: dict[str, list[str]] = {}
        for cmd in self._router.commands():
            if (cmd.spec.admin and not call.is_admin) or not cmd.listed():
                continue
            groups.setdefault(cmd.plugin, []).append(cmd.spec.name)
        order = sorted(groups, key=lambda plugin: (plugin == "core", plugin))
        lines = [f"💰 Earn {self._currency().plural} by hanging out and chatting. PM me:"]
        lines += [f"• {', '.join(sorted(groups[plugin]))}" for plugin in order]
        lines.append("'help <command>' explains one. There may be a few surprises…")
        return ["\n".join(lines)]

    @command("about", help="Version and uptime of this bot")
    async def about(self, call: CommandCall) -> str:
        uptime = (self._clock.now() - self._started).total_seconds()
        plugins = ", ".join(self._plugin_names()) or "none"
        return (f"cytube-economy {package_version()} · up {_format_uptime(uptime)} · "
                f"plugins: {plugins}")

    @command("quiet", help="Mute automated notices (replies still come)", aliases=("mute",))
    async def quiet(self, call: CommandCall) -> str:
        changed = await self._identity.set_quiet(call.channel, call.username, True)
        if not changed:
            return "🔕 Quiet mode is already on. 'unquiet' turns notices back on."
        return "🔕 Quiet mode on: no more automated notices. 'unquiet' turns them back on."

    @command("unquiet", help="Turn automated notices back on", aliases=("unmute",))
    async def unquiet(self, call: CommandCall) -> str:
        changed = await self._identity.set_quiet(call.channel, call.username, False)
        if not changed:
            return "🔔 Notices are already on."
        return "🔔 Notices are back on."
