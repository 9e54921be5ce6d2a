"""Gambling: slots, coin flips, duels and heists with escrowed stakes (entry point
``gambling``)."""

from .config import GamblingConfig
from .plugin import Gambling

__all__ = ["Gambling", "GamblingConfig"]
