"""Snapshots of the economy and the digests built from them (entry point ``digests``)."""

from .config import DigestsConfig
from .plugin import Digests

__all__ = ["Digests", "DigestsConfig"]
