"""Events: multiplier sources, scheduled and ad-hoc events and their presence pot (entry point
``events``)."""

from .config import EventsConfig
from .plugin import Events

__all__ = ["Events", "EventsConfig"]
