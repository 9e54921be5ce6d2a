"""Competitions: daily awards over the day's counters, judged at 23:59 (entry point
``competitions``)."""

from .config import CompetitionsConfig
from .plugin import Competitions

__all__ = ["Competitions", "CompetitionsConfig"]
