"""Admin: the channel owner's tools and the economy's inspection (entry point ``admin``)."""

from .config import AdminConfig
from .plugin import Admin

__all__ = ["Admin", "AdminConfig"]
