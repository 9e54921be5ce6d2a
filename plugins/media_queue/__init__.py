"""Buy a place in the playlist through MediaCMS (entry point ``media_queue``, SPEC §3.7)."""

from .config import MediaQueueConfig
from .plugin import MediaQueue

__all__ = ["MediaQueue", "MediaQueueConfig"]
