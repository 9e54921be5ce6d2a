"""``[plugins.bounties]``: what a bounty may be, how long it stays open, what an expired one
gives back, and what is said about bounties (SPEC §3.14)."""

from __future__ import annotations

from typing import Any

import attrs

from economy_core import MAX_AMOUNT, setting, template_validator

CREATED_FIELDS = ("user", "id", "amount", "currency", "description")
"""Placeholders of the public line for a new bounty."""
CLAIMED_FIELDS = ("winner", "creator", "id", "amount", "currency", "description")
"""Placeholders of the public line for a claimed bounty."""


def _max_not_below_min(instance: Any, _attribute: Any, value: int) -> None:
    if value < instance.min_amount:
        raise ValueError(f"must be >= min_amount ({instance.min_amount}), got {value}")


@attrs.frozen
class BountiesConfig:
    """Rewards users post for others to earn; an admin awards them."""

    enabled: bool = setting(True, help="Let users post bounties (false: `bounty` refuses; open "
                                       "ones can still be claimed and still expire)")
    min_amount: int = setting(100, validator=[attrs.validators.ge(1),
                                              attrs.validators.le(MAX_AMOUNT)],
                              help="The smallest bounty")
    max_amount: int = setting(50_000, validator=[_max_not_below_min,
                                                 attrs.validators.le(MAX_AMOUNT)],
                              help="The largest bounty")
    max_open_per_user: int = setting(3, validator=attrs.validators.ge(1),
                                     help="Open bounties one user may have at once")
    default_expiry_hours: int = setting(168, validator=[attrs.validators.ge(1),
                                                        attrs.validators.le(24 * 366)],
                                        help="Hours a bounty stays open before it expires")
    expiry_refund_percent: int = setting(50, validator=[attrs.validators.ge(0),
                                                        attrs.validators.le(100)],
                                         help="Percent an expired bounty gives back to its "
                                              "creator (rounded down); the rest is burned")
    description_max_length: int = setting(200, validator=[attrs.validators.ge(1),
                                                          attrs.validators.le(500)],
                                          help="The longest description")
    announce: bool = setting(True, help="Announce new and claimed bounties in public chat")
    created_message: str = setting(
        "📌 {user} posted bounty #{id} for {amount} {currency}: {description}",
        validator=template_validator(CREATED_FIELDS),
        help="A new bounty; placeholders {user} {id} {amount} {currency} {description}")
    claimed_message: str = setting(
        "🎯 {winner} won {creator}'s bounty #{id}: +{amount} {currency}!",
        validator=template_validator(CLAIMED_FIELDS),
        help="A claimed bounty; placeholders {winner} {creator} {id} {amount} {currency} "
             "{description}")
