"""One lock per channel for channel-wide games (RELIABILITY 22: a heist and another spectacle
must never run together in one room, whatever their separate cooldowns say).

A channel-wide game takes its channel's :class:`asyncio.Lock` when it starts and gives it back
when it is settled (or refunded). Taking it never waits: a busy channel refuses the new game.
The lock is memory only; after a restart no channel-wide game is running (open ones are refunded
at start-up), so every lock starts free.
"""

from __future__ import annotations

import asyncio


class ChannelGames:
    """Which channel-wide game holds each channel's lock."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._holders: dict[str, str] = {}

    def running(self, channel: str) -> str | None:
        """The game holding ``channel``'s lock, or None."""
        lock = self._locks.get(channel)
        return self._holders.get(channel) if lock is not None and lock.locked() else None

    async def begin(self, channel: str, game: str) -> bool:
        """Take the channel's lock for ``game`` without waiting; False when it is busy."""
        lock = self._locks.setdefault(channel, asyncio.Lock())
        if lock.locked():
            return False
        await lock.acquire()  # free and unwaited: returns at once
        self._holders[channel] = game
        return True

    def end(self, channel: str) -> None:
        """Give the channel's lock back (nothing when it is free)."""
        lock = self._locks.get(channel)
        if lock is not None and lock.locked():
            self._holders.pop(channel, None)
            lock.release()
