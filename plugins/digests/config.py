"""``[plugins.digests]``: snapshot retention and the two digests (SPEC §5)."""

from __future__ import annotations

import attrs

from economy_core import setting, template_validator

USER_PLACEHOLDERS = ("earned", "spent", "balance", "rank", "streak", "currency",
                     "next_goal_description", "days_away")


@attrs.frozen
class UserDigestConfig:
    """The daily PM to each user active yesterday (a notification: quiet mode mutes it)."""

    enabled: bool = setting(True, help="Send the user digest")
    send_hour_utc: int = setting(4, validator=[attrs.validators.ge(0), attrs.validators.le(23)],
                                 help="UTC hour the digest of yesterday is sent")
    message: str = setting(
        "📊 Yesterday +{earned} {currency}, spent {spent}, balance {balance} · {rank} · "
        "streak {streak} 🔥 · next: {next_goal_description} (~{days_away} d)",
        validator=template_validator(USER_PLACEHOLDERS),
        help="The digest text; placeholders: " + ", ".join("{" + p + "}"
                                                            for p in USER_PLACEHOLDERS))


@attrs.frozen
class AdminDigestConfig:
    """The weekly PM (Mondays) to admins present at that hour: the last seven days."""

    enabled: bool = setting(True, help="Send the weekly admin digest")
    send_hour_utc: int = setting(5, validator=[attrs.validators.ge(0), attrs.validators.le(23)],
                                 help="UTC hour on Monday the digest of the past week is sent")


@attrs.frozen
class DigestsConfig:
    """Economy snapshots every 6 hours, kept for ``snapshot_retention_days``; the daily user
    digest and the weekly admin digest."""

    snapshot_retention_days: int = setting(
        90, validator=attrs.validators.ge(1),
        help="Snapshots older than this many days are deleted")
    user_digest: UserDigestConfig = setting(factory=UserDigestConfig,
                                            help="The daily digest to active users")
    admin_digest: AdminDigestConfig = setting(factory=AdminDigestConfig,
                                              help="The weekly digest to present admins")
