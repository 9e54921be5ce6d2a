"""In-memory channel state the chat triggers read (SPEC §3.3): who is present and who just
arrived or left, the current media item with its commenters and likers, the previous line, the
current joke and its laughers, and today's first-line claims.

Nothing here survives a restart, by design: after one, the room is re-seeded from the robot, the
media item is unknown until the next change, and caps that must survive live in the ledger's cap
store. Every collection is bounded: :meth:`ChannelState.prune` drops what has aged out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from types import MappingProxyType

import attrs

from economy_core.events import user_key
from economy_core.triggers import PlayingMedia


@attrs.define
class MediaItem:
    """One play of a media item."""

    info: PlayingMedia
    present_at_start: frozenset[str]
    comments: dict[str, int] = attrs.field(factory=dict)
    likers: set[str] = attrs.field(factory=set)
    first_claimed: bool = False


@attrs.define
class Joke:
    """The most recent non-laugh line, and who laughed at it so far."""

    teller: str
    at: datetime
    laughers: set[str] = attrs.field(factory=set)


@attrs.define
class ChannelState:
    """One channel's state; see the module docstring."""

    channel: str
    present: dict[str, str] = attrs.field(factory=dict)
    departed: dict[str, datetime] = attrs.field(factory=dict)
    joins: dict[str, tuple[str, datetime]] = attrs.field(factory=dict)
    """Genuine joins not yet greeted: user key -> (display name, joined at)."""
    media: MediaItem | None = None
    last_speaker: str | None = None
    last_line_at: datetime | None = None
    answered: bool = False
    """The bot already answered the last human line (bot_interaction pays once per line)."""
    joke: Joke | None = None
    first_day: date | None = None
    first_claimed: set[str] = attrs.field(factory=set)
    present_view: Mapping[str, str] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.present_view = MappingProxyType(self.present)

    # -- room --

    def seed(self, users: Iterable[str]) -> None:
        """The room as it is now (start-up or robot restart): no joins recorded."""
        self.present.clear()
        for name in users:
            self.present[user_key(name)] = name

    def join(self, name: str) -> None:
        """Record that ``name`` is in the room (whether the join is a genuine arrival is the
        session keeper's call: see ``economy_user_arrived``)."""
        key = user_key(name)
        self.present[key] = name
        self.departed.pop(key, None)

    def leave(self, name: str, at: datetime) -> None:
        key = user_key(name)
        self.present.pop(key, None)
        self.joins.pop(key, None)
        self.departed[key] = at

    def recently_here(self, key: str, at: datetime, within: timedelta) -> bool:
        """Present now, or left at most ``within`` ago."""
        if key in self.present:
            return True
        left = self.departed.get(key)
        return left is not None and at - left <= within

    # -- media --

    def start_media(self, info: PlayingMedia) -> MediaItem | None:
        """A new item starts; returns the item it replaces."""
        previous = self.media
        self.media = MediaItem(info, frozenset(self.present))
        return previous

    # -- first line of the day --

    def claimed_first(self, key: str, day: date) -> bool:
        if self.first_day != day:
            self.first_day, self.first_claimed = day, set()
        return key in self.first_claimed

    def claim_first(self, key: str, day: date) -> None:
        if self.first_day != day:
            self.first_day, self.first_claimed = day, set()
        self.first_claimed.add(key)

    # -- upkeep --

    def prune(self, now: datetime, keep: timedelta) -> None:
        """Forget departures and unconsumed joins older than ``keep``, and a joke that old."""
        self.departed = {k: t for k, t in self.departed.items() if now - t <= keep}
        self.joins = {k: v for k, v in self.joins.items() if now - v[1] <= keep}
        if self.joke is not None and now - self.joke.at > keep:
            self.joke = None
