"""Where the file is, and ``${VAR}`` expansion from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .paths import _join, _label
from .settings import DEFAULT_FILE, ENV_VAR, ConfigError

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
