"""Maintenance: the nightly balance rule, interest or decay (entry point ``maintenance``)."""

from .config import MaintenanceConfig
from .plugin import Maintenance

__all__ = ["Maintenance", "MaintenanceConfig"]
