"""What the built-in triggers share: the live config, the channel states, the facts of the line
being checked, and the small base class that makes a built-in an :class:`EarningTrigger`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from economy_core import ChatContext, TriggerHit

from .config import ChatTriggersConfig
from .detect import LineFacts
from .state import ChannelState


class Shared:
    """Services and state the built-in triggers read (never write money)."""

    def __init__(self, config: Callable[[], ChatTriggersConfig],
                 states: dict[str, ChannelState], symbol: Callable[[], str],
                 has_account: Callable[[str, str], Awaitable[bool]]) -> None:
        self.config = config
        self.states = states
        self.symbol = symbol
        self.has_account = has_account
        self._facts: tuple[ChatContext, LineFacts] | None = None

    def facts(self, ctx: ChatContext) -> LineFacts:
        """The detected facts of the line ``ctx`` describes (computed once per line)."""
        cached = self._facts
        if cached is not None and cached[0] is ctx:
            return cached[1]
        facts = LineFacts.of(ctx.text)
        self._facts = (ctx, facts)
        return facts

    def state(self, ctx: ChatContext) -> ChannelState:
        return self.states[ctx.channel]

    def amount(self, value: float) -> str:
        return f"{value:g} {self.symbol()}"


async def one_per_person(ctx: ChatContext, names: Iterable[str]) -> list[str]:
    """``names`` without any that is the same person (alias-aware, ``ctx.same_person``) as an
    earlier one: the first name of each person is kept, in order."""
    kept: list[str] = []
    for name in names:
        for other in kept:
            if await ctx.same_person(other, name):
                break
        else:
            kept.append(name)
    return kept


class Builtin:
    """A built-in trigger: its config section is ``Config.<section>`` (with ``enabled`` and
    ``hidden``); subclasses implement :meth:`check`, :meth:`text` and maybe :meth:`after`."""

    trigger_id = ""
    section = ""

    def __init__(self, shared: Shared) -> None:
        self.shared = shared

    @property
    def cfg(self) -> Any:
        return getattr(self.shared.config(), self.section)

    @property
    def enabled(self) -> bool:
        return bool(self.cfg.enabled)

    @property
    def hidden(self) -> bool:
        return bool(self.cfg.hidden)

    def describe(self) -> str | None:
        if not self.enabled or self.hidden:
            return None
        return self.text()

    def text(self) -> str:
        raise NotImplementedError

    async def check(self, ctx: ChatContext) -> Sequence[TriggerHit]:
        raise NotImplementedError

    def after(self, ctx: ChatContext, hits: Sequence[TriggerHit]) -> None:
        """Record in the channel state what this trigger's surviving hits consumed (runs after
        every trigger has seen the line)."""
