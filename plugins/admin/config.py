"""``[plugins.admin]``: the wording of the admin rain (SPEC §3.15)."""

from __future__ import annotations

import attrs

from economy_core import setting, template_validator

RAIN_FIELDS = ("admin", "count", "amount", "currency")
"""Placeholders of the admin rain's announcement."""
RAIN_PM_FIELDS = ("admin", "amount", "currency", "balance")
"""Placeholders of the PM each user the admin rain pays gets."""


@attrs.frozen
class AdminConfig:
    """Admin commands are for CyTube rank ≥ ``admin.owner_level`` (a core setting)."""

    rain_announce_message: str = setting(
        "☔ {admin} makes it rain: {amount} {currency} each for {count} user(s)!",
        validator=template_validator(RAIN_FIELDS),
        help="The public line of an admin `rain <n>`, posted before anyone is paid; "
             "placeholders {admin} {count} {amount} {currency}")
    rain_message: str = setting(
        "☔ {admin} made it rain: +{amount} {currency}. Balance: {balance}",
        validator=template_validator(RAIN_PM_FIELDS),
        help="The PM each user an admin rain pays gets (sent even in quiet mode); "
             "placeholders {admin} {amount} {currency} {balance}")
