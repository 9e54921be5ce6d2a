"""The vanity shop: titles, greetings, colours, GIFs, shoutouts, fortunes, currency names
(entry point ``vanity_shop``)."""

from .config import VanityShopConfig
from .plugin import VanityShop

__all__ = ["VanityShop", "VanityShopConfig"]
