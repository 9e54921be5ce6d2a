"""Reading and parsing the whole file: core sections and enabled plugins' sections."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .env import _expand
from .paths import _join, _key
from .settings import AppConfig, ConfigError, CoreConfig
from .structure import _show, structure

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


def _require_channels(data: Mapping[str, Any], problems: list[str]) -> None:
    """The channels must be named in the file: a default room name would have the bot join a
    channel nobody chose."""
    example = '[[channels]] with domain = "cytu.be" and channel = "yourroom"'
    channels = data.get("channels")
    if channels is None:
        problems.append(f"channels: missing: name the room(s) to run in ({example})")
        return
    if isinstance(channels, list | tuple):  # (an empty list: the channels validator says so)
        for index, entry in enumerate(channels):
            if isinstance(entry, Mapping) and "channel" not in entry:
                problems.append(f"channels[{index}].channel: missing: which room to run in")


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
    _require_channels(expanded, problems)
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
