"""``[plugins.media_queue]``: the MediaCMS catalogue, the queue prices, limits and blackouts
(SPEC §3.7; the spec's ``mediacms`` table and ``[spending]`` keys live here, in this section).

Prices are base prices: what a user pays comes from ``ctx.pricing.quote`` (a rank's discount, an
inflation factor). Without ``mediacms.base_url`` the plugin is loaded but answers every media
command with "not configured".
"""

from __future__ import annotations

from typing import Any

import attrs

from economy_core import MAX_AMOUNT, CronError, CronSpec, setting, template_validator

QUEUE_FIELDS = ("user", "title", "cost", "currency")
"""Placeholders of the public purchase line (SPEC §2.6 ``queue``)."""
NOW_PLAYING_FIELDS = ("title", "user")
"""Placeholders of the public now-playing line (SPEC §2.6 ``now_playing_credit``)."""
ITEM_SOURCES = ("cm", "fi")
"""How a catalogue item becomes a CyTube playlist entry: a custom-media manifest (``cm``) or
the item's direct file URL (``fi``)."""


def _cost(_instance: Any, _attribute: Any, value: int) -> None:
    if not 1 <= value <= MAX_AMOUNT:
        raise ValueError(f"must be between 1 and {MAX_AMOUNT:,}, got {value}")


def _cron(_instance: Any, _attribute: Any, value: str) -> None:
    try:
        CronSpec.parse(value)
    except CronError as exc:
        raise ValueError(str(exc)) from None


def _name(_instance: Any, _attribute: Any, value: str) -> None:
    if not value.strip() or len(value) > 60:
        raise ValueError("a name is 1-60 characters")


def _base_url(_instance: Any, _attribute: Any, value: str) -> None:
    if value and not value.startswith(("http://", "https://")):
        raise ValueError(f"expected an http(s) URL or \"\" (not configured), got {value!r}")


def _template(_instance: Any, _attribute: Any, value: str) -> None:
    if "{token}" not in value:
        raise ValueError("the manifest URL template needs {token} (and may use {base_url})")


@attrs.frozen
class MediaCmsConfig:
    """Where the catalogue is and how it is asked (MediaCMS's REST API)."""

    base_url: str = setting("", validator=_base_url,
                            help="The MediaCMS site, e.g. \"https://media.example.com\"; empty = "
                                 "media commands answer \"not configured\"")
    api_token: str = setting(
        "", secret=True,
        help="API token sent as `Authorization: Token …` (shown as *** by config show); "
             "e.g. \"${MEDIACMS_TOKEN:-}\". Empty: the variable named by api_token_env is read")
    api_token_env: str = setting(
        "MEDIACMS_TOKEN",
        help="Environment variable holding the API token when api_token is empty (\"\" = no "
             "token)")
    search_results_limit: int = setting(
        10, validator=[attrs.validators.ge(1), attrs.validators.le(25)],
        help="Most results `search` lists")
    timeout_seconds: float = setting(10.0, validator=attrs.validators.gt(0),
                                     help="Timeout of one HTTP request")
    tries: int = setting(3, validator=[attrs.validators.ge(1), attrs.validators.le(10)],
                         help="Attempts per request (waiting 1 s, 2 s, 4 s … between them)")
    cache_seconds: float = setting(300.0, validator=attrs.validators.ge(0),
                                   help="How long search results and items are cached")
    item_source: str = setting(
        "cm", validator=attrs.validators.in_(ITEM_SOURCES),
        help="How an item is queued: \"cm\" = a custom-media manifest URL from "
             "manifest_url_template; \"fi\" = the item's direct file URL")
    manifest_url_template: str = setting(
        "{base_url}/api/v1/media/cytube/{token}.json?format=json", validator=_template,
        help="The custom-media manifest URL (item_source = \"cm\"); placeholders {base_url} "
             "{token}")


@attrs.frozen
class QueueTier:
    """A price for items up to ``max_minutes`` long."""

    max_minutes: int = setting(validator=attrs.validators.ge(1), help="Longest item (minutes)")
    label: str = setting(validator=_name, help="What users read")
    cost: int = setting(validator=_cost, help="Base price")


def default_tiers() -> list[QueueTier]:
    """SPEC §3.7's tiers."""
    return [QueueTier(15, "Short / Music Video", 250), QueueTier(35, "30-min Episode", 500),
            QueueTier(65, "60-min Episode", 750), QueueTier(999, "Movie", 1000)]


@attrs.frozen
class BlackoutWindow:
    """Queueing is closed from each fire of ``cron`` for ``duration_hours``."""

    name: str = setting(validator=_name, help="Named in refusals and `status`")
    cron: str = setting(validator=_cron, help="When it starts (5-field cron, channel time)")
    duration_hours: float = setting(validator=[attrs.validators.gt(0),
                                               attrs.validators.le(168)],
                                    help="How long it lasts")
    multiplier: float = setting(1.0, validator=attrs.validators.ge(0),
                                help="The earning multiplier of the event it protects (shown; "
                                     "set it as the events plugin's scheduled event)")


def default_blackouts() -> list[BlackoutWindow]:
    """SPEC §3.7's windows (the events plugin's scheduled events, ×3.0)."""
    return [BlackoutWindow("Wednesday Prime Event", "0 0 * * 4", 3.0, 3.0),
            BlackoutWindow("Friday Night Event", "0 22 * * 5", 11.0, 3.0),
            BlackoutWindow("Saturday Morning Event", "0 14 * * 6", 4.0, 3.0),
            BlackoutWindow("Saturday Night Event", "0 22 * * 6", 11.0, 3.0)]


def _tiers_valid(_instance: Any, _attribute: Any, value: list[QueueTier]) -> None:
    if not value:
        raise ValueError("needs at least one tier")


@attrs.frozen
class MediaQueueConfig:
    """Buy a place in the playlist: `search`, `queue`, `playnext`, `forcenow`."""

    mediacms: MediaCmsConfig = setting(factory=MediaCmsConfig,
                                       help="The MediaCMS catalogue")
    queue_tiers: list[QueueTier] = setting(
        factory=default_tiers, validator=_tiers_valid,
        help="Price tiers: the first with minutes <= max_minutes applies (else the last)")
    interrupt_play_next: int = setting(10000, validator=_cost,
                                       help="Base price of `playnext` (added next)")
    force_play_now: int = setting(100000, validator=_cost,
                                  help="Base price of `forcenow` (added next, admin-approved)")
    force_play_requires_admin: bool = setting(
        True, help="`forcenow` waits for an admin's `approve` (refunded if rejected)")
    max_queues_per_day: int = setting(3, validator=attrs.validators.ge(0),
                                      help="Items one user may buy a day (+ rank perk)")
    queue_cooldown_minutes: int = setting(30, validator=attrs.validators.ge(0),
                                          help="Minutes between one user's purchases")
    confirm_timeout_seconds: int = setting(
        120, validator=[attrs.validators.ge(10), attrs.validators.le(3600)],
        help="How long a search list or a confirmation waits for the answer")
    blackout_windows: list[BlackoutWindow] = setting(
        factory=default_blackouts,
        help="Event windows when search/queue/playnext are closed (forcenow exempt)")
    blackout_notice_minutes: int = setting(
        60, validator=attrs.validators.ge(0),
        help="Queueing also closes this many minutes before a window starts")
    queue_template: str = setting(
        "🎬 {user} queued {title} ({cost} {currency})",
        validator=template_validator(QUEUE_FIELDS),
        help="Public line for a purchase; placeholders {user} {title} {cost} {currency}")
    now_playing_template: str = setting(
        "▶️ Now playing {title}, brought to you by {user}",
        validator=template_validator(NOW_PLAYING_FIELDS),
        help="Public line when a bought item starts; placeholders {title} {user}")
