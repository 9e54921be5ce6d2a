"""Small data types that travel through hooks and plugin declarations: award requests,
multipliers, profile fields, command-line commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

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
class PriceQuote:
    """A price about to be asked of a user at a spend sink (``sink``: what is bought, e.g.
    ``"media_queue.queue"``; ``base``: the configured price)."""

    channel: str
    username: str
    sink: str
    base: int


@attrs.frozen
class PriceAdjustment:
    """One answer to :class:`PriceQuote`: a ``factor`` on the price. ``"scale"`` adjustments (an
    inflation governor) apply first and round to the nearest unit; ``"discount"`` ones (a rank's
    perk) apply after them and round down; the price never falls below 1. ``hidden``
    adjustments apply but are not shown to users."""

    name: str
    factor: float
    stage: Literal["scale", "discount"] = "discount"
    hidden: bool = False


@attrs.frozen
class ProfileField:
    """One line of a user's profile. ``key`` lets other commands pick well-known fields
    such as ``rank``; ``order`` sorts the profile (lower first)."""

    key: str
    label: str
    value: str
    order: int = 100


@attrs.frozen
class ConfigNote:
    """What a plugin's ``review_config`` says about its section beyond its types: a warning
    (logged at start and reload, shown by ``config check``) or, with ``error``, a reason not
    to run (``config check`` fails, start-up and reload refuse). ``path`` is the dotted key."""

    path: str
    text: str
    error: bool = False

    def __str__(self) -> str:
        return f"{self.path}: {self.text}"


@attrs.frozen
class CliCommand:
    """A command-line sub-command a plugin offers: ``cytube-economy <plugin> <name> ...``.

    Declared on the plugin class as ``cli_commands = (CliCommand(...), ...)``. ``run(args,
    config)`` gets the parsed arguments and the plugin's config section (from ``--config`` when
    that file exists and enables the plugin, else the defaults), prints its output and returns
    the exit status. It runs without the bot: no bus, no ledger.
    """

    name: str
    help: str
    run: Callable[[argparse.Namespace, Any], int]
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None


def _lines(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class StatsSection:
    """A plugin's part of the channel statistics (the ``economy_stats`` hook): a ``title``, the
    human-readable ``lines`` an admin's inspection command shows, and the same figures as
    machine-readable ``figures`` (name → number or text) for the request-reply API."""

    title: str
    lines: tuple[str, ...] = attrs.field(converter=_lines, factory=tuple)
    figures: Mapping[str, int | float | str] = attrs.field(factory=dict)
