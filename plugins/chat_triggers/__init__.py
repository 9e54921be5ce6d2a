"""Chat triggers: pays for taking part in chat and in what plays, and runs third-party earning
triggers (entry point ``chat_triggers``)."""

from .config import ChatTriggersConfig
from .plugin import ChatTriggers

__all__ = ["ChatTriggers", "ChatTriggersConfig"]
