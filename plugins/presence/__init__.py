"""Presence: pays users for being in the room (entry point ``presence``)."""

from .config import PresenceConfig
from .plugin import Presence

__all__ = ["Presence", "PresenceConfig"]
