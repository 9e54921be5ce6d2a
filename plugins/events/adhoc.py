"""Reading an admin's ``event start <multiplier> <minutes> "<name>"`` (SPEC §3.12)."""

from __future__ import annotations

import re

import attrs

from economy_core import shown

MIN_FACTOR = 1.0
"""The multiplier must be above this …"""
MAX_FACTOR = 10.0
"""… and at most this."""
MIN_MINUTES, MAX_MINUTES = 1, 1440
MAX_NAME = 50
USAGE = 'Usage: event start <multiplier> <minutes> "<name>" (e.g. event start 2 60 "Double ' \
        'Time"), or event stop'

_FACTOR_RE = re.compile(r"^\d{1,3}(?:\.\d{1,4})?[x×]?$", re.IGNORECASE)
_MINUTES_RE = re.compile(r"^\d{1,7}$")
_QUOTES = "\"'“”‘’"


class BadStart(ValueError):
    """The request is not a valid start; the message says why (and how to write it)."""


@attrs.frozen
class StartRequest:
    multiplier: float
    minutes: int
    name: str


def _factor(word: str) -> float:
    if not _FACTOR_RE.fullmatch(word):
        raise BadStart(f"The multiplier must be a number above {MIN_FACTOR:g} and at most "
                       f"{MAX_FACTOR:g} (e.g. 2 or 1.5), not {shown(word)}.")
    value = float(word.rstrip("xX×"))
    if not MIN_FACTOR < value <= MAX_FACTOR:
        raise BadStart(f"The multiplier must be above {MIN_FACTOR:g} and at most "
                       f"{MAX_FACTOR:g}, not {value:g}.")
    return value


def _minutes(word: str) -> int:
    if not _MINUTES_RE.fullmatch(word) or not MIN_MINUTES <= int(word) <= MAX_MINUTES:
        raise BadStart(f"The duration must be {MIN_MINUTES}-{MAX_MINUTES} minutes, not "
                       f"{shown(word)}.")
    return int(word)


def _name(text: str) -> str:
    name = " ".join(text.split()).strip(_QUOTES).strip()
    if not name:
        raise BadStart('The event needs a name, in quotes: event start 2 60 "Double Time".')
    if len(name) > MAX_NAME or not name.isprintable():
        raise BadStart(f"The name must be 1-{MAX_NAME} printable characters.")
    return name


def parse_start(text: str) -> StartRequest:
    """``<multiplier> <minutes> <name…>`` → the request, or :class:`BadStart`."""
    parts = text.split(None, 2)
    if len(parts) < 2:
        raise BadStart(f"Say how much and how long. {USAGE}")
    factor, minutes = _factor(parts[0]), _minutes(parts[1])
    return StartRequest(factor, minutes, _name(parts[2] if len(parts) > 2 else ""))
