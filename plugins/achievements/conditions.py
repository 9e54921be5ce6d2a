"""The condition types an achievement may have (SPEC §3.11): what each measures, which events
can change it, and what must be enabled for it to be known.

A type's value comes from whoever owns it — never from a copy kept here that could drift:

====================================  ===========  =============================================
type                                  checked on   value (and what it needs)
====================================  ===========  =============================================
``lifetime_messages``                 chat         Σ of the ``messages_sent`` daily counter (a
                                                   plugin that declares it: chat_triggers)
``unique_emotes_used_lifetime``       chat         distinct channel emotes the user ever wrote
                                                   (the room's emote list; kept here, since no
                                                   daily counter can hold a lifetime distinct
                                                   count)
``lifetime_presence_hours``           tick         Σ ``minutes_present`` / 60, whole hours (a
                                                   plugin that declares the counter: presence)
``daily_streak``                      streak       the streak told by ``economy_streak_reached``
                                                   (its publisher: streaks)
``unique_tip_recipients`` / ``_senders``  tips     distinct users the user's transfers went to /
                                                   came from (the ledger; a plugin that declares
                                                   a transfer posting type: tipping)
``lifetime_earned``                   earn         the account's lifetime earned (the ledger)
``rank_reached``                      earn         the tier index told by ``economy_rank_reached``
                                                   (its publisher: ranks)
``lifetime_spent``                    spend        the account's lifetime spent (the ledger)
``lifetime_gambled``                  gambling     the account's total staked (the ledger; a
                                                   plugin that declares a gamble posting type)
``gambling_biggest_win``              gambling     the biggest net win of one game, answered
                                                   through ``economy_achievement_value`` (a
                                                   plugin that declares a gamble posting type:
                                                   gambling)
====================================  ===========  =============================================
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from economy_core import Catalogue, Kind

Missing = Callable[[Catalogue], str | None]
"""What an enabled set of plugins lacks for a condition type (None: nothing)."""

STREAK_HOOK = "economy_streak_reached"
RANK_HOOK = "economy_rank_reached"


def _counter(name: str, who: str) -> Missing:
    def missing(catalogue: Catalogue) -> str | None:
        if name in catalogue.counters:
            return None
        return f"the daily counter {name!r}, which no enabled plugin keeps ({who})"
    return missing


def _hook(name: str, who: str) -> Missing:
    def missing(catalogue: Catalogue) -> str | None:
        if catalogue.publisher_of(name) is not None:
            return None
        return f"the {name} hook, which no enabled plugin publishes ({who})"
    return missing


def _kind(kind: Kind, what: str, who: str) -> Missing:
    def missing(catalogue: Catalogue) -> str | None:
        if any(t.kind is kind for t in catalogue.posting_types.values()):
            return None
        return f"{what}, which no enabled plugin writes ({who})"
    return missing


def _nothing(_catalogue: Catalogue) -> str | None:
    return None


@attrs.frozen
class ConditionType:
    """One condition type: its ``event`` group (what can change it), its ``unit`` as the
    ``achievements`` command shows progress, and what it needs enabled."""

    name: str
    event: str
    unit: str
    missing: Missing


TYPES: dict[str, ConditionType] = {t.name: t for t in (
    ConditionType("lifetime_messages", "chat", "lines",
                  _counter("messages_sent", "enable chat_triggers")),
    ConditionType("unique_emotes_used_lifetime", "chat", "emotes", _nothing),
    ConditionType("lifetime_presence_hours", "tick", "hours",
                  _counter("minutes_present", "enable presence")),
    ConditionType("daily_streak", "streak", "days", _hook(STREAK_HOOK, "enable streaks")),
    ConditionType("unique_tip_recipients", "tips", "users",
                  _kind(Kind.TRANSFER, "transfers between users", "enable tipping")),
    ConditionType("unique_tip_senders", "tips", "users",
                  _kind(Kind.TRANSFER, "transfers between users", "enable tipping")),
    ConditionType("lifetime_earned", "earn", "Z", _nothing),
    ConditionType("rank_reached", "earn", "rank", _hook(RANK_HOOK, "enable ranks")),
    ConditionType("lifetime_spent", "spend", "Z", _nothing),
    ConditionType("lifetime_gambled", "gambling", "Z",
                  _kind(Kind.GAMBLE, "gambling postings", "enable gambling")),
    ConditionType("gambling_biggest_win", "gambling", "Z",
                  _kind(Kind.GAMBLE, "gambling postings", "enable gambling")),
)}
"""Every condition type, by name."""
