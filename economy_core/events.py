"""Typed core events: what the bus adapter hands to the core, and what plugins' hooks receive.

Every event names the channel it happened in (the configured channel name, case kept) and the
moment it happened (an aware UTC datetime from the core clock). Usernames keep CyTube's display
casing; compare them with :func:`user_key`.

Chat and PM text arrive from CyTube HTML-escaped with links wrapped in ``<a>`` tags; the bus adapter
unescapes and strips them, so ``text`` is what a person typed. ``ChatMessage.raw`` keeps the wire
form for the rare plugin that needs it (a link detector).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs


def user_key(name: str) -> str:
    """The identity of a CyTube name: names compare case-insensitively (casefolded, trimmed)."""
    return name.strip().casefold()


@attrs.frozen
class RoomUser:
    """One user as the robot's userlist reports them."""

    username: str
    rank: int = 0
    afk: bool = False


@attrs.frozen
class UserJoined:
    """A user entered the room (CyTube ``addUser``)."""

    channel: str
    username: str
    at: datetime
    rank: int = 0
    afk: bool = False


@attrs.frozen
class UserArrived:
    """A join that opened or resumed a session, as the plugin keeping sessions judged it.

    ``genuine`` is False for a rejoin within the debounce window (a bounced connection);
    ``absence`` is how long the user had been gone, measured before the departure record was
    cleared, and None when they were never seen before."""

    channel: str
    username: str
    at: datetime
    genuine: bool
    absence: timedelta | None
    rank: int = 0


@attrs.frozen
class UserLeft:
    """A user left the room (CyTube ``userLeave``)."""

    channel: str
    username: str
    at: datetime


@attrs.frozen
class ChatMessage:
    """A public chat line (CyTube ``chatMsg``), text unescaped and links reduced to their URL."""

    channel: str
    username: str
    text: str
    at: datetime
    raw: str = ""


@attrs.frozen
class RelayedChat:
    """A public line from the bot's own CyTube account that this economy did not send: another
    service (a chat or LLM bot) speaking through the same kryten-robot."""

    channel: str
    username: str
    text: str
    at: datetime


@attrs.frozen
class PrivateMessage:
    """A PM to the bot (CyTube ``pm``).

    ``rank`` is the sender's channel rank as the core knows it.
    """

    channel: str
    username: str
    text: str
    at: datetime
    rank: int = 0


@attrs.frozen
class MediaChanged:
    """The playing item changed (CyTube ``changeMedia``)."""

    channel: str
    media_type: str
    media_id: str
    title: str
    duration_s: int
    at: datetime


@attrs.frozen
class RankChanged:
    """A user's channel rank became known or changed (CyTube ``setUserRank``)."""

    channel: str
    username: str
    rank: int
    at: datetime


@attrs.frozen
class BotRankChanged:
    """The bot's own channel rank became known or changed (``setUserRank`` for its name)."""

    channel: str
    rank: int
    at: datetime


@attrs.frozen
class AfkChanged:
    """A user went AFK or came back (CyTube ``setAFK``)."""

    channel: str
    username: str
    afk: bool
    at: datetime


@attrs.frozen
class RoomSnapshot:
    """Who is in the room right now, read from the robot's state at start-up or after its restart.

    Users in a snapshot are already present: plugins seed their state from it and pay no arrival
    rewards for it.
    """

    channel: str
    users: tuple[RoomUser, ...]
    at: datetime
    emotes: tuple[str, ...] | None = None
    """The channel's emote names, when the robot's state had them (None = unknown)."""
    bot_rank: int | None = None
    """The bot's own rank as the robot's userlist shows it (None = not listed)."""


Event = (
    UserJoined
    | UserLeft
    | ChatMessage
    | RelayedChat
    | PrivateMessage
    | MediaChanged
    | RankChanged
    | BotRankChanged
    | AfkChanged
    | RoomSnapshot
)
"""Every inbound core event type."""
