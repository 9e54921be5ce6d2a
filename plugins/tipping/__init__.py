"""Tipping: users give each other coins (entry point ``tipping``)."""

from .config import TippingConfig
from .plugin import Tipping

__all__ = ["Tipping", "TippingConfig"]
