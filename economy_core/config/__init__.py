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

from __future__ import annotations

from .env import config_path, expand_env
from .parse import load_config, parse_config, read_toml
from .render import render_default_config, render_effective_config
from .settings import (
    DEFAULT_FILE,
    ENV_VAR,
    SECRET_MASK,
    AdminConfig,
    AnnouncementsConfig,
    ApiClientConfig,
    ApiConfig,
    AppConfig,
    BotConfig,
    ChannelConfig,
    ClockConfig,
    CommandsConfig,
    ConfigError,
    CoreConfig,
    CurrencyConfig,
    DatabaseConfig,
    LogConfig,
    MetricsConfig,
    NatsConfig,
    OnboardingConfig,
    OutboxConfig,
    setting,
)
from .structure import structure, unstructure

__all__ = [
    "DEFAULT_FILE", "ENV_VAR", "SECRET_MASK", "AdminConfig", "AnnouncementsConfig",
    "ApiClientConfig",
    "ApiConfig", "AppConfig", "BotConfig",
    "ChannelConfig", "ClockConfig", "CommandsConfig", "ConfigError", "CoreConfig",
    "CurrencyConfig", "DatabaseConfig", "LogConfig", "MetricsConfig", "NatsConfig",
    "OnboardingConfig", "OutboxConfig", "config_path", "expand_env", "load_config",
    "parse_config", "read_toml", "render_default_config", "render_effective_config", "setting",
    "structure", "unstructure",
]
