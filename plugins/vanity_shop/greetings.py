"""Custom greetings on arrival (SPEC §3.8).

An owned greeting is queued when presence reports a genuine arrival after at least
``greeting_absence_minutes`` away (a first visit counts); each queued greeting (re)starts the
channel's timer, and ``greeting_flush_seconds`` (3 s) after the last one the channel's queue is
posted as ONE line through the announcer (kind ``custom_greeting``): ``greeting_template`` with
``{greeting}`` = one greeting, or several joined by ``" | "`` (``👋 a | b | c``). A stop posts
what is queued; a crash loses it (greetings are courtesy, not money).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from economy_core import Job, PluginContext

JOINER = " | "

Post = Callable[[str, str], Awaitable[None]]
"""(channel, joined greetings) → post the line."""


class Greeter:
    """Per-channel queues of greetings waiting for their line (see the module docstring)."""

    def __init__(self, ctx: PluginContext[Any], post: Post) -> None:
        self._ctx = ctx
        self._post = post
        self._queued: dict[str, list[str]] = {}
        self._jobs: dict[str, Job] = {}

    def queue(self, channel: str, greeting: str) -> None:
        """Queue one greeting and restart the channel's timer."""
        self._queued.setdefault(channel, []).append(greeting)
        old = self._jobs.pop(channel, None)
        if old is not None:
            old.cancel()

        async def due() -> None:
            await self.flush(channel)

        self._jobs[channel] = self._ctx.scheduler.once(
            self._ctx.config.greeting_flush_seconds, due, name=f"greetings:{channel}")

    def waiting(self, channel: str) -> list[str]:
        return list(self._queued.get(channel, ()))

    async def flush(self, channel: str) -> None:
        """Post the channel's queued greetings as one line now."""
        job = self._jobs.pop(channel, None)
        if job is not None:
            job.cancel()
        greetings = self._queued.pop(channel, [])
        if greetings:
            await self._post(channel, JOINER.join(greetings))

    async def flush_all(self) -> None:
        for channel in list(self._queued):
            await self.flush(channel)
