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

from economy_core import PlayingMedia, user_key


@attrs.define
class MediaItem:
    """One play of a media item."""

    info: PlayingMedia
    present_at_start: frozenset[str]
    comments: dict[str, int] = attrs.field(factory=dict)
    likers: set[str] = attrs.field(factory=set)
    first_claimed: bool = False

    def repeated_by(self, media_type: str, media_id: str, at: datetime) -> bool:
        """Is an announcement of (``media_type``, ``media_id``) at ``at`` this same play again?

        CyTube re-sends ``changeMedia`` for the current item (e.g. when the robot rejoins) and
        the typed event carries no playback position, so: the same type and id while this play
        is still running by its duration (``started_at + duration > at``) is a repeat; an item
        without a duration (a live stream) plays on, so the same id is always a repeat. The same
        id after the play has ended is a new play (the item was queued again)."""
        info = self.info
        return (info.media_type, info.media_id) == (media_type, media_id) \
            and info.playing_at(at)


@attrs.define
class Joke:
    """The most recent non-laugh line, and who laughed at it so far."""

    teller: str
    at: datetime
    laughers: dict[str, str] = attrs.field(factory=dict)
    """Whose laugh at it counted: user key -> display name (the alias check needs names)."""


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
        """A new play starts (the caller has ruled out a repeated announcement, see
        :meth:`MediaItem.repeated_by`); returns the item it replaces."""
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

    def unclaim_first(self, key: str, day: date) -> None:
        """Undo :meth:`claim_first` (its write failed), if that day is still the current one."""
        if self.first_day == day:
            self.first_claimed.discard(key)

    # -- upkeep --

    def prune(self, now: datetime, keep: timedelta) -> None:
        """Forget departures and unconsumed joins older than ``keep``, and a joke that old."""
        self.departed = {k: t for k, t in self.departed.items() if now - t <= keep}
        self.joins = {k: v for k, v in self.joins.items() if now - v[1] <= keep}
        if self.joke is not None and now - self.joke.at > keep:
            self.joke = None
