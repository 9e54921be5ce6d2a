"""The write policy: which posting types and daily counters a source may write."""

from __future__ import annotations

from typing import Protocol

from .model import Kind


class WritePolicy(Protocol):
    """Installed by the core (from the plugins' declared contracts). Each method returns None
    when the write is allowed, else the reason; the ledger then raises ValueError with it
    before anything is written."""

    def check_type(self, source: str, posting_type: str, kind: Kind) -> str | None: ...

    def check_counter(self, source: str, counter: str) -> str | None: ...

    def fenced(self, source: str) -> bool:
        """True when ``source``'s atomic functions get a connection fenced to its own tables
        (plugins); the core's own work is not fenced."""
        ...


def _enforce(reason: str | None) -> None:
    if reason is not None:
        raise ValueError(reason)
