"""Economy figures that several reports share, defined once.

``participation_rate`` is the share of the users present (the bot and ignored users left out)
who hold an account in the channel, in percent. SPEC §3.15 writes it as min(100, accounts /
present × 100), which reads 100 % in nearly every room (a channel has many more accounts than
people present at once); the share of present users with an account is the figure an owner can
act on. The ``economy_participation_rate`` gauge, an admin's ``econ:health`` and the snapshots all
use this function.
"""

from __future__ import annotations


def participation_rate(present: int, holding: int) -> float:
    """``holding`` of the ``present`` users hold an account: their share in percent, rounded
    to two decimals; 0.0 with nobody present."""
    if present <= 0:
        return 0.0
    return round(100.0 * min(holding, present) / present, 2)
