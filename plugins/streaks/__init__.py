"""Streaks: consecutive qualifying days and the weekday/weekend bridge (entry point
``streaks``)."""

from .config import StreaksConfig
from .plugin import Streaks

__all__ = ["Streaks", "StreaksConfig"]
