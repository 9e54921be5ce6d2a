"""Small data types that travel through hooks: award requests, multipliers, profile fields."""

from __future__ import annotations

import attrs


@attrs.frozen
class AwardRequest:
    """An activity earning about to be paid, as multiplier hooks see it."""

    channel: str
    username: str
    amount: float
    source: str
    trigger_id: str


@attrs.frozen
class Multiplier:
    """One factor on an activity earning. ``hidden`` factors apply but are not listed to users."""

    name: str
    factor: float
    hidden: bool = False


@attrs.frozen
class ProfileField:
    """One line of a user's profile. ``key`` lets other commands pick well-known fields
    such as ``rank``; ``order`` sorts the profile (lower first)."""

    key: str
    label: str
    value: str
    order: int = 100
