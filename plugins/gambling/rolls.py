"""The one random source of every game.

A game asks :meth:`Rolls.roll` for the number that decides it (a float in [0, 1)) and
:meth:`Rolls.pick` only for cosmetics (which symbols a losing slot shows). Production uses
:class:`SystemRolls` (the operating system's randomness, ``random.SystemRandom``); tests put a
:class:`ScriptedRolls` on the plugin (``plugin.rolls = ScriptedRolls([0.171])``) to force
outcomes, or a seeded ``random.Random`` wrapped in :class:`SeededRolls` for long runs.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")


class Rolls(Protocol):
    """What the games need from randomness."""

    def roll(self) -> float:
        """The deciding number of one game, uniform in [0, 1)."""
        ...

    def pick(self, items: Sequence[T]) -> T:
        """One item, for display only (never decides money)."""
        ...


class SeededRolls:
    """Rolls from a :class:`random.Random` (``SystemRandom`` in production)."""

    def __init__(self, source: random.Random) -> None:
        self._source = source

    @property
    def source(self) -> random.Random:
        """The generator behind the rolls."""
        return self._source

    def roll(self) -> float:
        return self._source.random()

    def pick(self, items: Sequence[T]) -> T:
        return self._source.choice(items)


def SystemRolls() -> SeededRolls:
    """The production source: ``random.SystemRandom`` (not seedable, not predictable)."""
    return SeededRolls(random.SystemRandom())


class ScriptedRolls:
    """Forced rolls for tests: each :meth:`roll` takes the next scripted value; running out
    raises (a test that plays more games than it scripted is wrong). Cosmetic picks come from a
    fixed-seed generator so they never consume a scripted value."""

    def __init__(self, values: Iterable[float] = ()) -> None:
        self.values: deque[float] = deque(values)
        self.used: list[float] = []
        self._cosmetic = random.Random(0)

    def push(self, *values: float) -> None:
        self.values.extend(values)

    def roll(self) -> float:
        if not self.values:
            raise AssertionError("no scripted roll left")
        value = self.values.popleft()
        self.used.append(value)
        return value

    def pick(self, items: Sequence[T]) -> T:
        return self._cosmetic.choice(items)
