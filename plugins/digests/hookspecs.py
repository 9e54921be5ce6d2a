"""Hooks the digests plugin publishes (through its ``economy_addhooks``).

Implement them with ``@hookimpl(optionalhook=True)``: with digests switched off they are never
called. Both must be read-only.
"""

from __future__ import annotations

from economy_core import hookspec


@hookspec
def economy_snapshot_fields(channel: str) -> dict[str, int | float | str] | None:
    """Async collect. Extra figures for the channel's snapshot being taken now (e.g. the
    inflation factor), stored with it under these keys and shown by ``economy.snapshot``. Keys
    should be prefixed with the plugin's name; a key that clashes with another plugin's is
    dropped with a warning."""


@hookspec
def economy_digest_values(channel: str, username: str,
                          earned_yesterday: int) -> dict[str, str] | None:
    """Async collect. Values for the user digest's placeholders the digests plugin cannot know
    itself: ``rank``, ``streak``, ``next_goal_description`` and ``days_away`` (the days the
    next goal is away at ``earned_yesterday`` a day). Unknown keys are ignored."""
