"""``[plugins.tipping]``: who may tip whom, how much, and what the recipient is told (SPEC §3.9)."""

from __future__ import annotations

import attrs

from economy_core import MAX_AMOUNT, setting, template_validator

RECEIVED_FIELDS = ("sender", "amount", "currency", "balance")
"""Placeholders of the PM the recipient gets."""


@attrs.frozen
class TippingConfig:
    """`tip @user <amount>`: coins from one user to another, in one transaction."""

    enabled: bool = setting(True, help="Allow tips")
    min_amount: int = setting(1, validator=[attrs.validators.ge(1),
                                            attrs.validators.le(MAX_AMOUNT)],
                              help="Smallest tip")
    max_per_day: int = setting(
        5000, validator=[attrs.validators.ge(0), attrs.validators.le(MAX_AMOUNT)],
        help="Most one user may tip in a (channel-local) day, all tips together (0 = no limit)")
    min_account_age_minutes: int = setting(
        30, validator=attrs.validators.ge(0),
        help="Minutes since the bot first saw the sender before they may tip")
    self_tip_blocked: bool = setting(
        True, help="Refuse tips between names userstats knows as one person (aliases); a tip "
                   "to the very same name is always refused")
    received_message: str = setting(
        "💸 {sender} tipped you {amount} {currency}! Balance: {balance}",
        validator=template_validator(RECEIVED_FIELDS),
        help="The PM the recipient gets (sent even in quiet mode); placeholders {sender} "
             "{amount} {currency} {balance}")
