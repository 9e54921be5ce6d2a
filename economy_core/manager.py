"""Finding, loading and registering plugins.

Plugins are classes published in the ``cytube_economy.plugins`` entry-point group (our built-ins
too). The entry-point name is the plugin's name: its toggle in ``[plugins] enabled``, its config
section, its table prefix, its logger and metric prefix. Only enabled entry points are ever
``load()``ed; the others are blocked by name in the plugin manager.

A plugin class may declare:

- ``Config``: an attrs class for its ``[plugins.<name>]`` section (omit for none);
- ``schema``: a :class:`~economy_core.storage.Schema` (tables named ``<name>_*`` and their
  upgrade steps);
- ``contract``: a :class:`~economy_core.contract.Contract` (required plugins, posting types,
  counters, capabilities), plus ``@command``/``@endpoint`` methods and a static
  ``economy_addhooks`` publishing hook specs; :func:`check_plugins` checks them all before
  anything is constructed;
- ``__init__(self, ctx)``: it receives its :class:`~economy_core.context.PluginContext`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .config import AppConfig, ConfigError, parse_config, read_toml
from .contract import Catalogue, ContractError, Declared, build_catalogue
from .hooktypes import ConfigNote

ENTRY_POINT_GROUP = "cytube_economy.plugins"


class PluginLoadError(RuntimeError):
    """A plugin could not be found, loaded or accepted; the message says which and why."""


@attrs.frozen
class PluginInfo:
    """A plugin class and the name it is known by."""

    name: str
    cls: type
    version: str = ""

    @property
    def config_class(self) -> type | None:
        return getattr(self.cls, "Config", None)


def installed_entry_points() -> dict[str, EntryPoint]:
    """Every plugin entry point installed, by name (nothing is imported)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_plugins(names: Sequence[str],
                 available: Mapping[str, EntryPoint] | None = None) -> list[PluginInfo]:
    """Load the named plugins' classes from their entry points, in the given order.

    Unknown names fail with the list of installed plugins; an import error names the plugin.
    """
    eps = dict(available) if available is not None else installed_entry_points()
    unknown = [n for n in names if n not in eps]
    if unknown:
        listed = ", ".join(sorted(eps)) or "none"
        raise PluginLoadError(
            f"unknown plugin(s) in plugins.enabled: {', '.join(unknown)}; installed: {listed}")
    infos: list[PluginInfo] = []
    for name in names:
        ep = eps[name]
        try:
            cls = ep.load()
        except Exception as exc:
            raise PluginLoadError(f"plugin {name!r} ({ep.value}) failed to import: {exc}") from exc
        if not isinstance(cls, type):
            raise PluginLoadError(f"plugin {name!r}: entry point {ep.value} is not a class")
        version = ep.dist.version if ep.dist is not None else ""
        infos.append(PluginInfo(name, cls, version))
    return infos


def infos_from_classes(classes: Iterable[type]) -> list[PluginInfo]:
    """Plugin infos for classes given directly (tests): each class's ``name`` attribute names it."""
    infos = []
    for cls in classes:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginLoadError(f"plugin class {cls.__qualname__} has no 'name' attribute")
        infos.append(PluginInfo(name, cls))
    return infos


def new_plugin_manager() -> pluggy.PluginManager:
    """A fresh plugin manager with the core hook specs (one per app, never global)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def register(pm: pluggy.PluginManager, name: str, instance: Any) -> None:
    """Register a constructed plugin; misspelt hook names fail here, naming the plugin."""
    try:
        pm.register(instance, name=name)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginLoadError(f"plugin {name!r}: {exc}") from exc


def hook_names(pm: pluggy.PluginManager, name: str) -> list[str]:
    """The hooks a registered plugin implements."""
    plugin = pm.get_plugin(name)
    callers = pm.get_hookcallers(plugin) or []
    return sorted(c.name for c in callers)


def check_plugins(infos: Sequence[PluginInfo],
                  pm: pluggy.PluginManager | None = None) -> Catalogue:
    """Check the enabled plugins' declarations against each other and the core's (see
    :func:`economy_core.contract.build_catalogue`), publishing their hook specs on ``pm`` (a
    scratch manager when None); raises :class:`PluginLoadError` naming both sides of every
    clash."""
    from .approval_commands import ApprovalCommands
    from .contract import declared_commands
    from .core_commands import CoreCommands
    from .endpoints import CORE_ENDPOINTS

    core_words = [w for cls in (CoreCommands, ApprovalCommands)
                  for spec in declared_commands(cls) for w in (spec.name, *spec.aliases)]
    try:
        return build_catalogue([Declared(i.name, i.cls, i.version) for i in infos],
                               pm if pm is not None else new_plugin_manager(),
                               hookspecs.PROJECT, core_commands=core_words,
                               core_endpoints=CORE_ENDPOINTS)
    except ContractError as exc:
        raise PluginLoadError(str(exc)) from exc


def _takes_catalogue(review: Any) -> bool:
    try:
        return len(inspect.signature(review).parameters) >= 2
    except (TypeError, ValueError):
        return False


def review_config(config: AppConfig, infos: Sequence[PluginInfo]) -> list[ConfigNote]:
    """What each enabled plugin's static ``review_config(section)`` says about its section
    (warnings, and errors that forbid running); a review that raises is an error naming it.
    A review declaring a second parameter, ``review_config(section, catalogue)``, also gets the
    :class:`~economy_core.contract.Catalogue` of the enabled plugins (what the others declare:
    counters, posting types, published hooks), to say what its section needs that is missing."""
    notes: list[ConfigNote] = []
    catalogue: Catalogue | None = None
    for info in infos:
        review = getattr(info.cls, "review_config", None)
        if review is None or info.name not in config.plugins:
            continue
        try:
            if _takes_catalogue(review):
                if catalogue is None:
                    catalogue = check_plugins(infos)
                found = list(review(config.plugins[info.name], catalogue))
            else:
                found = list(review(config.plugins[info.name]))
        except Exception as exc:
            found = [ConfigNote(f"plugins.{info.name}", f"the config review failed: {exc}",
                                error=True)]
        notes.extend(n for n in found if isinstance(n, ConfigNote))
    return notes


def refuse_errors(notes: Sequence[ConfigNote], source: str) -> None:
    """Raise a :class:`ConfigError` listing the error notes, if any."""
    errors = [str(n) for n in notes if n.error]
    if errors:
        raise ConfigError(errors)


def load_app_config(path: Path) -> tuple[AppConfig, list[PluginInfo]]:
    """Read and validate the config; load only the enabled plugins' classes.

    Raises :class:`ConfigError` or :class:`PluginLoadError` with a message for the operator.
    """
    data = read_toml(path)
    plugins_table = data.get("plugins", {})
    enabled = plugins_table.get("enabled", []) if isinstance(plugins_table, dict) else []
    available = installed_entry_points()
    # unknown names are reported by parse_config, with the installed ones listed
    infos = load_plugins([n for n in enabled if isinstance(n, str) and n in available], available)
    schemas: dict[str, type | None] = {name: None for name in available}
    schemas.update({i.name: i.config_class for i in infos})
    config = parse_config(data, schemas=schemas, source=str(path))
    enabled = [i for i in infos if i.name in config.enabled]
    catalogue = check_plugins(enabled)
    from .announcer import unknown_kinds

    kinds = unknown_kinds(config.core, catalogue)
    if kinds:
        raise ConfigError(kinds)
    refuse_errors(review_config(config, enabled), str(path))
    return config, enabled
