"""Asking kryten-robot to act in the room: queue a media item, set a user's channel rank.

Plugins reach these through ``ctx.robot`` (:class:`PluginRobot`); the bus adapter carries them
(:class:`RobotTransport`). Facts they are built on (WIRE.md):

- ``add_media`` is a request/reply: the robot answers once CyTube confirms (``queue``) or refuses
  (``queueFail``: already on the playlist, too long …), or after its own ~8 s wait, when it
  answers "sent, unconfirmed" (no playlist uid). A caller waiting less than ~10 s races that
  wait, so :data:`MEDIA_WAIT_SECONDS` is 12 s. A caller that moves money on it holds the charge
  in escrow and settles on :attr:`MediaResult.status`.
- The room's playlist is the robot's state: it keeps CyTube's playlist items (``{media: {type,
  id, title, seconds, …}, uid, temp, queueby}``) in JetStream KV bucket
  ``kryten_<channel>_playlist`` key ``items``, rewritten on every ``playlist``/``queue``/``delete``/
  ``moveVideo`` from CyTube. That bucket is per channel; the robot's ``state.playlist`` request
  is answered by every robot on the shared command subject whatever channel was asked, so the
  KV is what :meth:`PluginRobot.playlist` reads (bounded by :data:`PLAYLIST_WAIT_SECONDS`).
  The robot's KV write follows CyTube's ``queue`` event, which may come after the robot already
  answered ``addvideo``: a caller deciding on an unconfirmed answer looks again after a short
  wait.
- ``set_channel_rank`` is fire-and-forget (CyTube answers nothing to the robot) and works only
  while the bot's own channel rank is ≥ 3; the bot's rank is known from ``setUserRank`` for its
  own name and its entry in the robot's userlist (:attr:`~economy_core.room.Room.bot_rank`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

import attrs

log = logging.getLogger(__name__)

MEDIA_WAIT_SECONDS = 12.0
"""How long ``add_media`` waits for the robot's answer (the robot itself waits ~8 s)."""

PLAYLIST_WAIT_SECONDS = 3.0
"""How long reading the robot's playlist state may take before it counts as unknown."""

RANK_TO_PROMOTE = 3
"""The channel rank CyTube requires of whoever sets another user's channel rank."""

MediaStatus = Literal["queued", "refused", "unconfirmed", "no_answer", "unavailable"]


@attrs.frozen
class MediaResult:
    """What became of an ``add_media`` request.

    - ``queued``: CyTube confirmed it (``uid`` is the playlist item);
    - ``refused``: CyTube (or the robot) refused it; ``error`` says why;
    - ``unconfirmed``: the robot sent it but CyTube said nothing within the robot's wait;
    - ``no_answer``: the robot did not answer within the wait;
    - ``unavailable``: no connection to the robot (nothing was sent).
    """

    status: MediaStatus
    uid: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True only when CyTube confirmed the item."""
        return self.status == "queued"


@attrs.frozen
class PlaylistItem:
    """One item of the room's playlist as the robot knows it: CyTube's media ``type`` and
    ``id`` (what ``add_media`` was given), title, length, and the playlist ``uid`` (None when
    the robot's state does not carry it)."""

    media_type: str
    media_id: str
    title: str = ""
    seconds: int = 0
    uid: int | None = None


def playlist_items(raw: Any) -> tuple[PlaylistItem, ...] | None:
    """Read the robot's playlist state (a list of CyTube playlist items); None when it is not
    a list (missing or malformed: the playlist is unknown). An entry without a media type and
    id is skipped (the robot stores whatever CyTube's ``queue`` event carried)."""
    if not isinstance(raw, list):
        return None
    items = []
    for entry in raw:
        if not isinstance(entry, Mapping):
            continue
        media = entry.get("media")
        media = media if isinstance(media, Mapping) else entry
        media_type, media_id = media.get("type"), media.get("id")
        if not isinstance(media_type, str) or not isinstance(media_id, str) or not media_id:
            continue
        seconds = media.get("seconds")
        uid = entry.get("uid")
        items.append(PlaylistItem(
            media_type, media_id, str(media.get("title") or ""),
            seconds if isinstance(seconds, int) and not isinstance(seconds, bool) else 0,
            uid if isinstance(uid, int) and not isinstance(uid, bool) else None))
    return tuple(items)


@attrs.frozen
class RankResult:
    """What became of a ``set_channel_rank`` request: ``sent`` (CyTube confirms nothing), or
    refused before sending with the reason (the bot's rank is too low, no connection)."""

    sent: bool
    error: str | None = None


class RobotTransport(Protocol):
    """The bus's side: send the robot's commands. ``add_media`` returns the robot's answer
    envelope; both raise ConnectionError when not connected, ``add_media`` TimeoutError when
    the robot stays silent."""

    async def add_media(self, channel: str, media_type: str, media_id: str, *, position: str,
                        temp: bool, timeout: float) -> Mapping[str, Any]: ...

    async def set_channel_rank(self, channel: str, username: str, rank: int) -> None: ...

    async def playlist(self, channel: str, timeout: float) -> Any:
        """The robot's raw playlist state for ``channel`` (None when it has none); raises
        when it cannot be read (not connected, no bucket, slower than ``timeout``)."""
        ...


def media_result(answer: Mapping[str, Any]) -> MediaResult:
    """Read kryten-robot's answer to ``addvideo``: ``{"success": …, "data": {"success": …,
    "uid": …, "error": …}}`` (the outer success only says the robot handled the command)."""
    if not isinstance(answer, Mapping):
        return MediaResult("refused", error="the robot's answer was not understood")
    data = answer.get("data")
    if answer.get("success") is False or not isinstance(data, Mapping):
        return MediaResult("refused", error=str(answer.get("error") or "the robot refused"))
    if data.get("success") is False:
        return MediaResult("refused", error=str(data.get("error") or "CyTube refused it"))
    uid = data.get("uid")
    if isinstance(uid, int) and not isinstance(uid, bool):
        return MediaResult("queued", uid=uid)
    return MediaResult("unconfirmed", error="CyTube did not confirm the item in time")


class PluginRobot:
    """``ctx.robot``: the room actions a plugin may ask for, and the bot's own channel rank."""

    def __init__(self, transport: Callable[[], RobotTransport | None],
                 bot_rank: Callable[[str], int | None]) -> None:
        self._transport = transport
        self._bot_rank = bot_rank

    def bot_rank(self, channel: str) -> int | None:
        """The bot's own channel rank in ``channel`` (None while unknown)."""
        return self._bot_rank(channel)

    def can_set_ranks(self, channel: str) -> bool | None:
        """Whether the bot may set channel ranks (None while its rank is unknown)."""
        rank = self._bot_rank(channel)
        return None if rank is None else rank >= RANK_TO_PROMOTE

    async def add_media(self, channel: str, media_type: str, media_id: str, *,
                        position: Literal["end", "next"] = "end", temp: bool = True,
                        wait_seconds: float = MEDIA_WAIT_SECONDS) -> MediaResult:
        """Ask the robot to queue an item and wait for its answer (never raises)."""
        transport = self._transport()
        if transport is None:
            return MediaResult("unavailable", error="no connection to the robot")
        try:
            answer = await transport.add_media(channel, media_type, media_id, position=position,
                                               temp=temp, timeout=wait_seconds)
        except TimeoutError:
            return MediaResult("no_answer", error=f"the robot did not answer within "
                                                  f"{wait_seconds:g} s")
        except ConnectionError as exc:
            return MediaResult("unavailable", error=str(exc) or "no connection to the robot")
        except Exception as exc:  # the bus failed mid-request: treat as no answer
            return MediaResult("no_answer", error=f"asking the robot failed ({exc})")
        return media_result(answer)

    async def playlist(self, channel: str, *,
                       wait_seconds: float = PLAYLIST_WAIT_SECONDS,
                       ) -> tuple[PlaylistItem, ...] | None:
        """The room's current playlist as the robot keeps it (see the module docstring), or
        None when unknown: no connection, the robot's state unreadable within
        ``wait_seconds``, missing or malformed. Never raises."""
        transport = self._transport()
        reader = getattr(transport, "playlist", None)
        if reader is None:
            return None
        try:
            raw = await asyncio.wait_for(reader(channel, wait_seconds), wait_seconds)
        except Exception as exc:  # not connected, no bucket, too slow: unknown
            log.debug("playlist of %s unknown: %r", channel, exc)
            return None
        return playlist_items(raw)

    async def set_channel_rank(self, channel: str, username: str, rank: int) -> RankResult:
        """Ask the robot to set a user's channel rank. Refused before sending when the bot's
        known rank is below 3 (CyTube would ignore it); never raises."""
        known = self._bot_rank(channel)
        if known is not None and known < RANK_TO_PROMOTE:
            return RankResult(False, f"the bot's channel rank is {known}; setting ranks needs "
                                     f"{RANK_TO_PROMOTE}")
        transport = self._transport()
        if transport is None:
            return RankResult(False, "no connection to the robot")
        try:
            await transport.set_channel_rank(channel, username, rank)
        except Exception as exc:  # not connected, or the publish failed: nothing was sent
            return RankResult(False, str(exc) or "no connection to the robot")
        return RankResult(True)
