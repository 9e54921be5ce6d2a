"""Rain: every so often, everyone present gets a few coins (entry point ``rain``)."""

from .config import RainConfig
from .plugin import Rain

__all__ = ["Rain", "RainConfig"]
