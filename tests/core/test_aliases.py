"""Alias-aware identity (SPEC §2.4): userstats answers, cached ten minutes; failure → equality."""

from __future__ import annotations

from typing import Any

from economy_core.aliases import Aliases
from economy_core.clock import FakeClock


class Userstats:
    """A stand-in for the userstats service's ``alias.resolve``."""

    def __init__(self, groups: dict[str, dict[str, Any]] | None, *, fail: bool = False) -> None:
        self.groups = groups or {}
        self.fail = fail
        self.asked: list[str] = []

    async def __call__(self, subject: str, payload: dict[str, Any],
                       timeout: float) -> dict[str, Any]:
        assert subject == "kryten.userstats.command"
        assert payload["command"] == "alias.resolve" and timeout == 2.0
        self.asked.append(payload["username"])
        if self.fail:
            raise TimeoutError("no responders")
        data = self.groups.get(payload["username"].casefold())
        return {"service": "userstats", "success": data is not None, "data": data}


async def test_linked_names_are_one_person_either_way() -> None:
    stats = Userstats({"alice": {"canonical": "Alice", "aliases": ["AliceAlt", "al1ce"]}})
    aliases = Aliases(stats, FakeClock())
    assert await aliases.same_person("c", "alice", "ALICEALT")
    assert await aliases.same_person("c", "al1ce", "Alice")
    assert not await aliases.same_person("c", "alice", "bob")
    assert await aliases.same_person("c", "Bob", "bob")  # equal names never ask


async def test_answers_are_cached_ten_minutes() -> None:
    stats = Userstats({"alice": {"aliases": ["alt"]}})
    clock = FakeClock()
    aliases = Aliases(stats, clock)
    await aliases.same_person("c", "alice", "alt")
    await aliases.same_person("c", "alice", "alt")
    assert stats.asked == ["alice"]
    await clock.advance(601)
    await aliases.same_person("c", "alice", "alt")
    assert stats.asked == ["alice", "alice"]


async def test_a_missing_service_falls_back_to_equality_and_is_not_asked_per_line() -> None:
    stats = Userstats(None, fail=True)
    aliases = Aliases(stats, FakeClock())
    for _ in range(5):
        assert not await aliases.same_person("c", "alice", "alt")
        assert await aliases.same_person("c", "alice", "ALICE")
    assert sorted(stats.asked) == ["alice", "alt"]


async def test_a_refusal_or_junk_reply_means_just_the_name() -> None:
    async def junk(subject: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        return {"success": True, "data": {"aliases": [3, None, " "], "canonical": 7}}

    aliases = Aliases(junk, FakeClock())
    assert await aliases.group("c", "Alice") == frozenset({"alice"})
