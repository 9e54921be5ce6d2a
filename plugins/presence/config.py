"""``[plugins.presence]``: what presence pays and when."""

from __future__ import annotations

import attrs

from economy_core import setting, template_validator

_NOTICE_FIELDS = ("amount", "currency", "user")


def _hours_valid(_instance: object, _attribute: object, value: list[int]) -> None:
    bad = [h for h in value if not 0 <= h <= 23]
    if bad:
        raise ValueError(f"hours must be 0-23, got {bad}")


def _milestones_valid(_instance: object, _attribute: object, value: dict[int, int]) -> None:
    for hours, amount in value.items():
        if not 1 <= hours <= 24:
            raise ValueError(f"milestone hour {hours} is outside 1-24")
        if amount < 0:
            raise ValueError(f"milestone {hours}: amount must be >= 0")


@attrs.frozen
class NightWatchConfig:
    enabled: bool = setting(True, help="Pay more for being here during the night hours below")
    hours: list[int] = setting(factory=lambda: [2, 3, 4, 5, 6, 7], validator=_hours_valid,
                               help="Local hours (0-23, channel timezone) that count as night")
    multiplier: float = setting(1.5, validator=attrs.validators.ge(0.0),
                                help="Presence pay is multiplied by this at night")


@attrs.frozen
class WelcomeWalletConfig:
    enabled: bool = setting(True, help="Give every new user a one-time starting balance")
    amount: int = setting(100, validator=attrs.validators.ge(0),
                          help="The starting balance (paid once per user, ever)")
    delay_seconds: int = setting(90, validator=attrs.validators.ge(0),
                                 help="Seconds after arrival before the welcome PM is sent")
    message: str = setting(
        "Welcome! Here are {amount} {currency} to start; PM 'help' to see what they do.",
        validator=template_validator(_NOTICE_FIELDS),
        help="Welcome PM; placeholders {amount} {currency} {user}")


@attrs.frozen
class WelcomeBackConfig:
    enabled: bool = setting(True, help="Reward users who come back after a long absence")
    days_absent: int = setting(7, validator=attrs.validators.ge(1),
                               help="Whole days away that count as a long absence")
    bonus: int = setting(100, validator=attrs.validators.ge(0), help="The welcome-back bonus")
    message: str = setting("Welcome back, {user}: {amount} {currency} 💚",
                           validator=template_validator(_NOTICE_FIELDS),
                           help="Welcome-back PM; placeholders {amount} {currency} {user}")


@attrs.frozen
class PresenceConfig:
    base_rate_per_minute: float = setting(1.0, validator=attrs.validators.ge(0.0),
                                          help="Paid per minute to everyone present")
    active_bonus_per_minute: float = setting(
        0.0, validator=attrs.validators.ge(0.0),
        help="Extra per minute for users who chatted recently and are not AFK (0 = idle and "
             "active earn alike)")
    afk_threshold_minutes: int = setting(5, validator=attrs.validators.ge(1),
                                         help="Chatted within this many minutes = active")
    join_debounce_minutes: int = setting(
        5, validator=attrs.validators.ge(0),
        help="A rejoin within this many minutes resumes the session (no arrival rewards)")
    hourly_milestones: dict[int, int] = setting(
        factory=lambda: {1: 10, 3: 30, 6: 75, 12: 200, 24: 1000}, validator=_milestones_valid,
        help="Hours present today -> one-time bonus that day (any hours 1-24)")
    milestone_message: str = setting(
        "⏱️ {hours} hour(s) here today: +{amount} {currency}!",
        validator=template_validator(("hours", *_NOTICE_FIELDS)),
        help="Milestone PM; placeholders {hours} {amount} {currency} {user}")
    night_watch: NightWatchConfig = setting(factory=NightWatchConfig,
                                            help="Night-time presence bonus")
    welcome_wallet: WelcomeWalletConfig = setting(factory=WelcomeWalletConfig,
                                                  help="One-time starting balance")
    welcome_back: WelcomeBackConfig = setting(factory=WelcomeBackConfig,
                                              help="Bonus for returning after a long absence")
