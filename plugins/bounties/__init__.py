"""Bounties: rewards users post for others to earn, held in escrow until an admin awards them
or they expire (entry point ``bounties``)."""

from .config import BountiesConfig
from .plugin import Bounties

__all__ = ["Bounties", "BountiesConfig"]
