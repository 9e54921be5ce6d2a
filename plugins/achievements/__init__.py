"""Achievements: one-time rewards for lasting activity (entry point ``achievements``)."""

from .config import AchievementsConfig
from .plugin import Achievements

__all__ = ["Achievements", "AchievementsConfig"]
