"""The PM router: from a private message to a command's replies.

Order of checks for every PM (SPEC §2.5): empty → ignored; over-long → refused; per-user sliding
60 s rate limit (excess → "slow down", not run); a question the user was asked (an
:class:`~economy_core.commands.Ask`: pick a number, confirm with YES) takes the PM if it is an
answer, else the question is dropped; first word lower-cased is the command, the rest its
arguments (words are separated by any whitespace); unknown → hint at ``help``; admin gate
(CyTube rank ≥ ``owner_level``); economy ban gate (banned users keep only admin commands they are
entitled to); ``economy_before_command`` refusals; argument conversion (bad → reason + usage, not
run); run. A command that raises is logged and the user gets a short apology; the bot keeps
running.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import attrs

from .commands import (
    COMMAND_ATTR,
    ArgumentError,
    Ask,
    BoundCommand,
    CommandCall,
    bind,
    parse_arguments,
    shown,
)
from .events import PrivateMessage, user_key

MAX_PM_CHARS = 1000
RATE_WINDOW = timedelta(seconds=60)

Outcome = Callable[[str, str], None]
"""Called with (command name or "unknown", outcome) for metrics."""


class DuplicateCommandError(RuntimeError):
    """Two plugins declared the same command name or alias."""


@attrs.frozen
class _Pending:
    """A question waiting for one user's next PM."""

    ask: Ask
    command: BoundCommand
    expires: datetime


class CommandRouter:
    """Holds every registered command and answers PMs; see the module docstring."""

    def __init__(self, *, owner_level: int, rate_limit_per_minute: int,
                 is_banned: Callable[[str, str], bool],
                 before_command: Callable[[CommandCall], Awaitable[str | None]],
                 on_outcome: Outcome | None = None, log: logging.Logger | None = None) -> None:
        self.owner_level = owner_level
        self.rate_limit = rate_limit_per_minute
        self._is_banned = is_banned
        self._before = before_command
        self._on_outcome = on_outcome
        self._log = log or logging.getLogger("economy_core.router")
        self._commands: dict[str, BoundCommand] = {}
        self._aliases: dict[str, str] = {}
        self._recent: dict[tuple[str, str], deque[Any]] = defaultdict(deque)
        self._pending: dict[tuple[str, str], _Pending] = {}

    # -- registration -------------------------------------------------------------------------

    def register_plugin(self, plugin_name: str, instance: object) -> list[BoundCommand]:
        """Register every ``@command`` method of ``instance``; duplicate names fail naming both."""
        found: list[BoundCommand] = []
        for attr in dir(type(instance)):
            method = getattr(instance, attr, None)
            if method is None or not hasattr(method, COMMAND_ATTR):
                continue
            found.append(bind(plugin_name, method))
        for cmd in found:
            for word in (cmd.spec.name, *cmd.spec.aliases):
                owner = self._owner_of(word)
                if owner is not None:
                    raise DuplicateCommandError(
                        f"command {word!r} is declared by both plugin {owner!r} and plugin "
                        f"{plugin_name!r}")
            self._commands[cmd.spec.name] = cmd
            for alias in cmd.spec.aliases:
                self._aliases[alias] = cmd.spec.name
        return found

    def _owner_of(self, word: str) -> str | None:
        name = self._aliases.get(word, word)
        cmd = self._commands.get(name)
        return cmd.plugin if cmd else None

    def unregister_plugin(self, plugin_name: str) -> None:
        names = [n for n, c in self._commands.items() if c.plugin == plugin_name]
        for n in names:
            del self._commands[n]
        self._aliases = {a: n for a, n in self._aliases.items() if n in self._commands}

    def lookup(self, word: str) -> BoundCommand | None:
        return self._commands.get(self._aliases.get(word, word))

    def commands(self) -> list[BoundCommand]:
        return list(self._commands.values())

    # -- handling -----------------------------------------------------------------------------

    def _outcome(self, name: str, outcome: str) -> None:
        if self._on_outcome is not None:
            self._on_outcome(name, outcome)

    def _rate_limited(self, pm: PrivateMessage) -> bool:
        window = self._recent[(pm.channel, user_key(pm.username))]
        cutoff = pm.at - RATE_WINDOW
        while window and window[0] <= cutoff:
            window.popleft()
        if len(window) >= self.rate_limit:
            return True
        window.append(pm.at)
        return False

    async def handle(self, pm: PrivateMessage) -> list[str]:
        """Answer one PM; returns the replies to send to the sender (possibly none)."""
        text = pm.text.strip()
        if not text:
            return []
        if self._rate_limited(pm):
            self._outcome("any", "rate_limited")
            return ["⏳ Slow down: too many commands in the last minute. Try again shortly."]
        if len(text) > MAX_PM_CHARS:
            self._outcome("any", "too_long")
            return [f"That message is too long ({len(text):,} characters); commands are short, "
                    "try 'help'."]
        key = (pm.channel, user_key(pm.username))
        pending = self._pending.pop(key, None)
        prefix: list[str] = []
        if pending is not None and pm.at < pending.expires:
            if pending.ask.accepts(text):
                return await self._answer(pm, pending, text)
            if pending.ask.on_other:
                prefix = [pending.ask.on_other]
        parts = text.split(None, 1)
        word = parts[0].lower()
        args_text = parts[1] if len(parts) > 1 else ""
        cmd = self.lookup(word)
        if cmd is None:
            if prefix:
                return prefix
            self._outcome("unknown", "unknown")
            return [f"❓ Unknown command {shown(word)}. PM 'help' for the list."]
        return prefix + await self._dispatch(pm, cmd, args_text)

    async def _dispatch(self, pm: PrivateMessage, cmd: BoundCommand,
                        args_text: str) -> list[str]:
        name = cmd.spec.name
        is_admin = pm.rank >= self.owner_level
        if cmd.spec.admin and not is_admin:
            self._outcome(name, "denied")
            return ["⛔ Admin only."]
        if pm.rank < cmd.spec.min_rank:
            self._outcome(name, "denied")
            return [f"⛔ That needs channel rank {cmd.spec.min_rank} or higher."]
        if self._is_banned(pm.channel, pm.username) and not (cmd.spec.admin and is_admin):
            self._outcome(name, "banned")
            return ["⛔ Your economy access is suspended."]
        call = CommandCall(pm.channel, pm.username, pm.rank, name, args_text.strip(), pm.at,
                           is_admin)
        refusal = await self._before(call)
        if refusal:
            self._outcome(name, "refused")
            return [str(refusal)]
        try:
            kwargs = parse_arguments(cmd, args_text)
        except ArgumentError as exc:
            self._outcome(name, "bad_arguments")
            return [f"{exc}\n{cmd.usage()}"]
        return await self._run(pm, cmd, call, lambda: cmd.fn(call, **kwargs))

    async def _answer(self, pm: PrivateMessage, pending: _Pending, text: str) -> list[str]:
        """The user's next PM answers the question they were asked."""
        cmd = pending.command
        if self._is_banned(pm.channel, pm.username) and not (
                cmd.spec.admin and pm.rank >= self.owner_level):
            self._outcome(cmd.spec.name, "banned")
            return ["⛔ Your economy access is suspended."]
        call = CommandCall(pm.channel, pm.username, pm.rank, cmd.spec.name, text, pm.at,
                           pm.rank >= self.owner_level)
        return await self._run(pm, cmd, call, lambda: pending.ask.answer(call, text))

    async def _run(self, pm: PrivateMessage, cmd: BoundCommand, call: CommandCall,
                   invoke: Callable[[], Awaitable[Any]]) -> list[str]:
        """Run a command (or an answer to its question) and turn its result into replies."""
        name = cmd.spec.name
        try:
            result = await invoke()
        except ArgumentError as exc:  # a value the command itself found out of range
            self._outcome(name, "bad_arguments")
            return [f"{exc}\n{cmd.usage()}"]
        except Exception:
            self._log.exception("command %s from %s failed", name, pm.username)
            self._outcome(name, "error")
            return ["❌ Something went wrong with that command. It has been logged; "
                    "please try again later."]
        self._outcome(name, "ok")
        if isinstance(result, Ask):
            self._pending[(pm.channel, user_key(pm.username))] = _Pending(
                result, cmd, pm.at + timedelta(seconds=result.timeout_seconds))
            result = result.text
        if result is None:
            return []
        return [result] if isinstance(result, str) else [r for r in result if r]
