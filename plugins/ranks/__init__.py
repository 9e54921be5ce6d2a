"""Ranks: tiers by lifetime earnings, their perks, CyTube level promotions (entry point
``ranks``)."""

from .config import RanksConfig
from .plugin import Ranks

__all__ = ["Ranks", "RanksConfig"]
