"""What the game modules need from the plugin object (kept narrow; the plugin implements it).

Games read ``host.ctx`` and ``host.rolls`` at each use, never at construction: a reload swaps the
config and a test swaps the random source, and every game sees the change at once.
"""

from __future__ import annotations

from typing import Protocol

from economy_core import PluginContext

from .config import GamblingConfig
from .rolls import Rolls


class Host(Protocol):
    ctx: PluginContext[GamblingConfig]
    rolls: Rolls

    def count_game(self, game: str, wagered: int, paid: int) -> None:
        """One game of ``game`` was played, settled with ``wagered`` staked and ``paid`` paid
        out in all (metrics: plays, and the house's take per game)."""
        ...
