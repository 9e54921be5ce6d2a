"""Crash-point testing: play one room scenario with the bot's process killed at each of its
commits in turn (AppHarness.arm_crash), restarted by its "supervisor" at most a minute later,
and check after each run what must hold whatever the crash point.

A scenario is a list of steps:

- ``("join", user)``, ``("leave", user)``, ``("chat", user, text)``, ``("pm", user, text)``;
- ``("wait", minutes)``: the clock moves a minute at a time, so a dead process is noticed and
  restarted within a minute (the room keeps its users: the new process is seeded with them);
- ``("at", datetime)``: the clock jumps there (the bot ran the whole time).

A clean run (checked too) counts the scenario's commits (N); then each crash point 0 … N−1 gets
a run of its own on a fresh database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from economy_core.testing import AppHarness

Step = tuple[Any, ...]
Build = Callable[[str], Awaitable[AppHarness]]
Check = Callable[[AppHarness, int | None], Awaitable[None]]

UNLIMITED = 10**9


async def play(app: AppHarness, steps: Sequence[Step], crash_at: int | None) -> AppHarness:
    """Run ``steps``; with ``crash_at``, the process dies at that commit and is restarted at
    the end of the step or minute it died in. Returns the harness of the last process."""
    present: set[str] = set()
    if crash_at is not None:
        app.arm_crash(crash_at)

    async def revive() -> None:
        nonlocal app
        if app.breaker is not None and app.breaker.tripped:
            app = await app.restart()
            await app.seed(sorted(present))

    for step in steps:
        kind = step[0]
        if kind == "join":
            await app.join(step[1])
            present.add(step[1])
        elif kind == "leave":
            await app.leave(step[1])
            present.discard(step[1])
        elif kind == "chat":
            await app.chat(step[1], step[2])
        elif kind == "pm":
            await app.pm(step[1], step[2])
        elif kind == "wait":
            for _ in range(step[1]):
                await app.advance(minutes=1)
                await revive()
        elif kind == "at":
            when: datetime = step[1]
            with app.unless_dead():
                await app.clock.set(when)
                await app.settle()
        else:
            raise ValueError(f"unknown step {step!r}")
        await revive()
    return app


async def at_every_commit(build: Build, steps: Sequence[Step], check: Check, *,
                          at_least: int = 1) -> int:
    """Run ``check`` after a clean run (crash point None; it also counts the scenario's
    commits N, with plugin errors still raised) and after one run per crash point 0 … N−1;
    returns N (asserting it is at least ``at_least``)."""
    app = await build("reference.db")
    counter = app.arm_crash(UNLIMITED)
    app = await play(app, steps, None)
    commits = counter.used
    await check(app, None)
    await app.app.stop()
    assert commits >= at_least, f"the scenario makes only {commits} commit(s)"
    for point in range(commits):
        app = await build(f"crash-{point}.db")
        app = await play(app, steps, point)
        await check(app, point)
        await app.app.stop()
    return commits
