"""The inflation governor: prices follow the money in circulation (entry point ``inflation``)."""

from .config import InflationConfig
from .plugin import Inflation

__all__ = ["Inflation", "InflationConfig"]
