"""Who is in each channel right now, as the core saw it from the bus.

The registry is core bookkeeping, not a feature: the router reads ranks from it (PMs carry none),
and plugins read the present users. It is fed every inbound event before plugins see it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from .events import (
    AfkChanged,
    BotRankChanged,
    Event,
    RankChanged,
    RoomSnapshot,
    RoomUser,
    UserJoined,
    UserLeft,
    user_key,
)


class Room:
    """The occupants of one channel, keyed by identity, display casing kept."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._users: dict[str, RoomUser] = {}
        self._ranks: dict[str, int] = {}
        self.seeded = False
        """True once a room snapshot arrived (the occupants are known, not guessed)."""
        self._seeded = asyncio.Event()
        self.emotes: frozenset[str] = frozenset()
        """The channel's emote names (from the robot's state; empty until known)."""
        self.bot_rank: int | None = None
        """The bot's own channel rank (None until the robot's userlist or a ``setUserRank``
        for the bot told it)."""

    def apply(self, event: Event) -> None:
        """Update the occupants from one inbound event (other event types are ignored)."""
        if isinstance(event, RoomSnapshot):
            self._users = {user_key(u.username): u for u in event.users}
            self.seeded = True
            self._seeded.set()
            if event.emotes is not None:
                self.emotes = frozenset(event.emotes)
            for u in event.users:
                self._ranks[user_key(u.username)] = u.rank
            if event.bot_rank is not None:
                self.bot_rank = event.bot_rank
        elif isinstance(event, BotRankChanged):
            self.bot_rank = event.rank
        elif isinstance(event, UserJoined):
            key = user_key(event.username)
            rank = max(event.rank, self._ranks.get(key, 0))
            self._users[key] = RoomUser(event.username, rank, event.afk)
            self._ranks[key] = rank
        elif isinstance(event, UserLeft):
            self._users.pop(user_key(event.username), None)
        elif isinstance(event, RankChanged):
            key = user_key(event.username)
            self._ranks[key] = event.rank
            if key in self._users:
                old = self._users[key]
                self._users[key] = RoomUser(old.username, event.rank, old.afk)
        elif isinstance(event, AfkChanged):
            key = user_key(event.username)
            if key in self._users:
                old = self._users[key]
                self._users[key] = RoomUser(old.username, old.rank, event.afk)

    async def wait_seeded(self) -> None:
        """Return once the first room snapshot arrived."""
        await self._seeded.wait()

    def rank_of(self, username: str) -> int:
        """The last channel rank seen for this user (0 when never seen)."""
        return self._ranks.get(user_key(username), 0)

    def is_present(self, username: str) -> bool:
        return user_key(username) in self._users

    def get(self, username: str) -> RoomUser | None:
        return self._users.get(user_key(username))

    def present(self) -> list[RoomUser]:
        """Everyone in the room now, in arrival order."""
        return list(self._users.values())

    def __len__(self) -> int:
        return len(self._users)


class Rooms:
    """One :class:`Room` per configured channel."""

    def __init__(self, channels: Iterable[str]) -> None:
        self._rooms = {c: Room(c) for c in channels}

    def __getitem__(self, channel: str) -> Room:
        if channel not in self._rooms:
            self._rooms[channel] = Room(channel)
        return self._rooms[channel]

    def apply(self, event: Event) -> None:
        """Route an event to its channel's room (every event names its channel)."""
        self[event.channel].apply(event)

    @property
    def channels(self) -> list[str]:
        return list(self._rooms)
