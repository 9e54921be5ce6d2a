"""What a plugin declares about itself, and the read-only catalogue the core builds from it.

A plugin class states, as data the manager reads before anything is constructed::

    class Karma:
        name = "karma"
        contract = Contract(
            requires=("chat_triggers",),
            posting_types=(PostingType("karma_bonus", "karma bonus", Kind.EARN),),
            counters=(Counter("karma_given", "karma given"),),
        )

- ``requires``: plugins that must be enabled too (start-up refuses otherwise, naming both);
- ``posting_types``: the ledger posting types the plugin writes, each with its human label and
  the :class:`~economy_core.ledger.Kind` it is written with. A type belongs to one plugin (two
  claims are a start-up error naming both); the plugin's ledger view refuses to write a type it
  did not declare (or one of the core's generic types, :data:`CORE_POSTING_TYPES`) and a
  declared type with another kind;
- ``counters``: the daily counters it keeps (each counter belongs to one plugin; the ledger
  refuses to bump a counter that no enabled plugin declared);
- ``capabilities``: core powers beyond the plain plugin view (:data:`MODERATION`: ban and unban;
  :data:`CONFIG_RELOAD`: re-read the config file as SIGHUP does);
- ``announcements``: the kinds of public chat line it posts through ``ctx.announcer`` (each
  kind belongs to one plugin; ``[announcements] disabled`` switches kinds off by name);
- ``personal_data``: what it keeps about users in its own tables, one short description each
  (empty: nothing), and ``user_tables``: where (:class:`~economy_core.user_tables.UserTable`
  descriptions of its own tables; ``cytube-economy user export|forget`` handles those rows). A
  plugin that declares personal data must describe its tables or answer both
  ``economy_user_export`` and ``economy_user_forget`` (start-up refuses otherwise), and
  ``user_tables`` without ``personal_data`` is refused too;
- hook specs it publishes: a ``@staticmethod`` ``economy_addhooks(pluginmanager)`` hook
  implementation adding them (run by the manager before construction, so it must be static);
  consumers mark their implementations ``@hookimpl(optionalhook=True)``;
- its PM commands (``@command`` methods) and request-reply endpoints (``@endpoint`` methods).

:func:`build_catalogue` checks all of it across the enabled plugins and returns the
:class:`Catalogue`: ``ctx.catalogue`` for plugins (labels for ``history``, who keeps a counter,
who publishes a hook), ``cytube-economy plugins`` for operators.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs
import pluggy

from .commands import COMMAND_ATTR, CommandSpec
from .endpoints import declared_endpoints
from .ledger import Kind
from .user_tables import UserTable

MODERATION = "moderation"
"""Capability: ban and unban users from the economy (``ctx.moderation``)."""

CONFIG_RELOAD = "config_reload"
"""Capability: reload the configuration file, all or nothing, as SIGHUP does (``ctx.reload``)."""

CAPABILITIES = frozenset({MODERATION, CONFIG_RELOAD})

_NAME_RE = re.compile(r"[a-z][a-z0-9_.]*")


class ContractError(RuntimeError):
    """The enabled plugins' declarations do not fit together; the message names both sides."""


def _name(_instance: Any, attribute: Any, value: str) -> None:
    if not _NAME_RE.fullmatch(value) or len(value) > 60:
        raise ValueError(f"{attribute.name} {value!r}: lower-case letters, digits, _ and . "
                         "(at most 60)")


def _label(_instance: Any, _attribute: Any, value: str) -> None:
    if not value.strip():
        raise ValueError("a label must not be empty")


@attrs.frozen
class PostingType:
    """A ledger posting type and how users read it.

    ``onboarding_exempt``: an earn-class type the onboarding minimums never withhold (an
    admin's deliberate award); other earn-class types are withheld from users below them."""

    name: str = attrs.field(validator=_name)
    label: str = attrs.field(validator=_label)
    kind: Kind = attrs.field(converter=Kind)
    onboarding_exempt: bool = False


@attrs.frozen
class Counter:
    """A daily per-user counter a plugin keeps in the ledger's daily table."""

    name: str = attrs.field(validator=_name)
    label: str = attrs.field(validator=_label)


@attrs.frozen
class Announcement:
    """A kind of public chat line a plugin posts through ``ctx.announcer``.

    ``kind`` is the operator's switch (``[announcements] disabled = ["<kind>"]``);
    ``description`` says what the line is (``cytube-economy plugins`` lists it); ``summary``
    is the plural noun used when the room's chat budget folds such lines into one
    "…and N more <summary>" line."""

    kind: str = attrs.field(validator=_name)
    description: str = attrs.field(validator=_label)
    summary: str = attrs.field(default="announcements", validator=_label)


def _names(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _posting_types(values: Iterable[PostingType]) -> tuple[PostingType, ...]:
    return tuple(values)


def _counters(values: Iterable[Counter]) -> tuple[Counter, ...]:
    return tuple(values)


def _capabilities(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


def _announcements(values: Iterable[Announcement]) -> tuple[Announcement, ...]:
    return tuple(values)


def _user_tables(values: Iterable[UserTable]) -> tuple[UserTable, ...]:
    found = tuple(values)
    for value in found:
        if not isinstance(value, UserTable):
            raise ContractError(f"user_tables takes UserTable descriptions, not {value!r}")
    return found


@attrs.frozen
class Contract:
    """A plugin's declarations (see the module docstring). Every field defaults to nothing."""

    requires: tuple[str, ...] = attrs.field(default=(), converter=_names)
    posting_types: tuple[PostingType, ...] = attrs.field(default=(), converter=_posting_types)
    counters: tuple[Counter, ...] = attrs.field(default=(), converter=_counters)
    capabilities: frozenset[str] = attrs.field(default=frozenset(), converter=_capabilities)
    announcements: tuple[Announcement, ...] = attrs.field(default=(), converter=_announcements)
    personal_data: tuple[str, ...] = attrs.field(default=(), converter=_names)
    """What the plugin keeps about users (descriptions); see the module docstring."""
    user_tables: tuple[UserTable, ...] = attrs.field(default=(), converter=_user_tables)
    """Where the plugin keeps users (:class:`~economy_core.user_tables.UserTable`): the core
    exports and forgets these rows itself."""


CORE = "core"

CORE_POSTING_TYPES = (
    PostingType("earn", "earned", Kind.EARN),
    PostingType("spend", "spent", Kind.SPEND),
    PostingType("escrow", "held", Kind.SPEND),
    PostingType("refund", "refund", Kind.CORRECTION),
)
"""Generic types any plugin may write (the ledger's own defaults); the trigger id, reason and
metadata of such a posting say what it was for."""

CORE_COUNTERS = (
    Counter("z_earned", "earned today"),
    Counter("z_spent", "spent today"),
    Counter("z_gambled_in", "staked today"),
    Counter("z_gambled_out", "won back today"),
)
"""The daily counters the ledger itself keeps from posting kinds."""


@attrs.frozen
class PluginEntry:
    """What one enabled plugin declared, as the catalogue shows it."""

    name: str
    version: str
    contract: Contract
    commands: tuple[str, ...]
    endpoints: tuple[str, ...]
    hooks_published: tuple[str, ...]


@attrs.frozen
class Catalogue:
    """Read-only: what every enabled plugin (and the core) declared. Built once at start-up."""

    plugins: Mapping[str, PluginEntry]
    posting_types: Mapping[str, PostingType]
    type_owner: Mapping[str, str]
    counters: Mapping[str, Counter]
    counter_owner: Mapping[str, str]
    hook_publisher: Mapping[str, str]
    announcements: Mapping[str, Announcement] = attrs.field(
        factory=lambda: MappingProxyType({}))
    """Every declared announcement kind (``ctx.announcer``), by kind."""
    announcement_owner: Mapping[str, str] = attrs.field(factory=lambda: MappingProxyType({}))
    """Announcement kind → the plugin that declared it."""

    def label(self, posting_type: str) -> str:
        """How users read a posting type (unknown types: the name with spaces)."""
        found = self.posting_types.get(posting_type)
        return found.label if found is not None else posting_type.replace("_", " ")

    def enabled(self, plugin: str) -> bool:
        return plugin in self.plugins

    def publisher_of(self, hook_name: str) -> str | None:
        """The enabled plugin that publishes a hook spec (None: no enabled plugin does)."""
        return self.hook_publisher.get(hook_name)

    def exempt_types(self) -> frozenset[str]:
        """Earn-class types declared exempt from the onboarding minimums."""
        return frozenset(t.name for t in self.posting_types.values() if t.onboarding_exempt)

    def may_write(self, plugin: str, posting_type: str, kind: Kind) -> str | None:
        """None when ``plugin`` may write ``posting_type`` with ``kind``, else the reason."""
        declared = self.posting_types.get(posting_type)
        owner = self.type_owner.get(posting_type)
        if declared is None or owner is None:
            return (f"plugin {plugin!r} writes posting type {posting_type!r}, which it did not "
                    "declare (Contract.posting_types)")
        if owner not in (plugin, CORE):
            return (f"plugin {plugin!r} writes posting type {posting_type!r}, which belongs to "
                    f"plugin {owner!r}")
        if Kind(kind) is not declared.kind:
            return (f"plugin {plugin!r} writes posting type {posting_type!r} as {Kind(kind)}, "
                    f"declared as {declared.kind}")
        return None


EMPTY_CATALOGUE = Catalogue(
    MappingProxyType({}), MappingProxyType({t.name: t for t in CORE_POSTING_TYPES}),
    MappingProxyType({t.name: CORE for t in CORE_POSTING_TYPES}),
    MappingProxyType({c.name: c for c in CORE_COUNTERS}),
    MappingProxyType({c.name: CORE for c in CORE_COUNTERS}), MappingProxyType({}))
"""The core's own declarations only (a ledger used without plugins)."""


# -- reading a plugin class -------------------------------------------------------------------


def contract_of(cls: type) -> Contract:
    """The class's ``contract`` (an empty one when it declares none)."""
    found = getattr(cls, "contract", None)
    if found is None:
        return Contract()
    if not isinstance(found, Contract):
        raise ContractError(f"plugin class {cls.__qualname__}: 'contract' must be a Contract, "
                            f"not {type(found).__name__}")
    return found


def declared_commands(cls: type) -> list[CommandSpec]:
    """Every ``@command`` declared on a plugin class."""
    found = []
    for attr in dir(cls):
        spec = getattr(getattr(cls, attr, None), COMMAND_ATTR, None)
        if isinstance(spec, CommandSpec):
            found.append(spec)
    return found


class _SpecRecorder:
    """Stands in for the plugin manager while a plugin's ``economy_addhooks`` runs: records the
    names of the hook specs it adds and adds them to the real manager, unless a name is taken
    (by the core or another plugin): then it raises a :class:`ContractError` naming the owner."""

    def __init__(self, pm: pluggy.PluginManager, project: str, taken: Mapping[str, str]) -> None:
        self._pm = pm
        self._marker = f"{project}_spec"
        self._taken = taken
        self.names: list[str] = []

    def add_hookspecs(self, module_or_class: Any) -> None:
        names = [attr for attr in dir(module_or_class)
                 if getattr(getattr(module_or_class, attr, None), self._marker, None) is not None]
        for name in names:
            owner = self._taken.get(name)
            if owner is None and hasattr(self._pm.hook, name):
                owner = CORE
            if owner is not None:
                by = "the core" if owner == CORE else f"plugin {owner!r}"
                raise ContractError(f"hook {name!r} is published by {by} already")
        self._pm.add_hookspecs(module_or_class)
        self.names.extend(names)


def publish_hookspecs(cls: type, pm: pluggy.PluginManager, project: str,
                      taken: Mapping[str, str] | None = None) -> list[str]:
    """Run a plugin class's static ``economy_addhooks`` against ``pm``; the hook names it added
    (``taken``: hook name → the plugin that published it before)."""
    raw = cls.__dict__.get("economy_addhooks")
    if raw is None:
        return []
    if not isinstance(raw, staticmethod):
        raise ContractError(f"plugin class {cls.__qualname__}: economy_addhooks must be a "
                            "@staticmethod (it runs before the plugin is constructed)")
    recorder = _SpecRecorder(pm, project, taken or {})
    raw.__func__(pluginmanager=recorder)
    return recorder.names


# -- checking the enabled set -----------------------------------------------------------------


@attrs.frozen
class Declared:
    """One enabled plugin's class, as the manager hands it to :func:`build_catalogue`."""

    name: str
    cls: type
    version: str = ""


def build_catalogue(plugins: Sequence[Declared], pm: pluggy.PluginManager, project: str,
                    core_commands: Iterable[str] = (),
                    core_endpoints: Iterable[str] = ()) -> Catalogue:
    """Check the enabled plugins' declarations against each other and publish their hook specs
    on ``pm``; raise :class:`ContractError` listing every problem (each naming both sides).

    Checked: required plugins enabled; every capability known; each posting type, counter,
    announcement kind, command word (name or alias), endpoint and published hook claimed once
    (the core's own included)."""
    problems: list[str] = []
    enabled = {p.name for p in plugins}
    type_owner = {t.name: CORE for t in CORE_POSTING_TYPES}
    types = {t.name: t for t in CORE_POSTING_TYPES}
    counter_owner = {c.name: CORE for c in CORE_COUNTERS}
    counters = {c.name: c for c in CORE_COUNTERS}
    word_owner = {w: CORE for w in core_commands}
    endpoint_owner = {e: CORE for e in core_endpoints}
    hook_owner: dict[str, str] = {}
    announcement_owner: dict[str, str] = {}
    announcements: dict[str, Announcement] = {}
    entries: dict[str, PluginEntry] = {}

    def claim(table: dict[str, str], what: str, key: str, plugin: str) -> bool:
        owner = table.get(key)
        if owner is not None and owner != plugin:
            by = "the core" if owner == CORE else f"plugin {owner!r}"
            problems.append(f"{what} {key!r} is declared by both {by} and plugin {plugin!r}")
            return False
        table[key] = plugin
        return True

    for p in plugins:
        try:
            contract = contract_of(p.cls)
        except ContractError as exc:
            problems.append(str(exc))
            continue
        for needed in contract.requires:
            if needed not in enabled:
                problems.append(f"plugin {p.name!r} requires plugin {needed!r}, which is not "
                                "enabled (add it to plugins.enabled, or disable "
                                f"{p.name!r})")
        for capability in sorted(contract.capabilities - CAPABILITIES):
            problems.append(f"plugin {p.name!r} asks for unknown capability {capability!r} "
                            f"(known: {', '.join(sorted(CAPABILITIES))})")
        for posting_type in contract.posting_types:
            if claim(type_owner, "posting type", posting_type.name, p.name):
                types[posting_type.name] = posting_type
        for counter in contract.counters:
            if claim(counter_owner, "daily counter", counter.name, p.name):
                counters[counter.name] = counter
        for announcement in contract.announcements:
            if claim(announcement_owner, "announcement kind", announcement.kind, p.name):
                announcements[announcement.kind] = announcement
        if contract.personal_data and not contract.user_tables:
            missing = [hook for hook in ("economy_user_export", "economy_user_forget")
                       if not callable(getattr(p.cls, hook, None))]
            if missing:
                problems.append(f"plugin {p.name!r} declares personal data but neither "
                                f"describes its user_tables nor answers {' and '.join(missing)}")
        if contract.user_tables and not contract.personal_data:
            problems.append(f"plugin {p.name!r} describes user_tables but does not say what "
                            "they keep (Contract.personal_data)")
        commands = declared_commands(p.cls)
        for spec in commands:
            for word in (spec.name, *spec.aliases):
                claim(word_owner, "command", word, p.name)
        endpoints = sorted(declared_endpoints(p.cls))
        for name in endpoints:
            claim(endpoint_owner, "endpoint", name, p.name)
        try:
            published = publish_hookspecs(p.cls, pm, project, hook_owner)
        except (ContractError, ValueError) as exc:
            problems.append(f"plugin {p.name!r}: {exc}")
            published = []
        for hook in published:
            claim(hook_owner, "hook", hook, p.name)
        entries[p.name] = PluginEntry(p.name, p.version, contract,
                                      tuple(sorted(s.name for s in commands)), tuple(endpoints),
                                      tuple(sorted(published)))
    if problems:
        raise ContractError("the enabled plugins do not fit together:\n" + "\n".join(
            f"- {problem}" for problem in problems))
    return Catalogue(MappingProxyType(entries), MappingProxyType(types),
                     MappingProxyType(type_owner), MappingProxyType(counters),
                     MappingProxyType(counter_owner), MappingProxyType(hook_owner),
                     MappingProxyType(announcements), MappingProxyType(announcement_owner))


class CataloguePolicy:
    """The ledger's write policy from the catalogue: an enabled plugin writes only the posting
    types it declared (or the core's generic ones, each with its declared kind) and only daily
    counters some enabled plugin (or the core) declared. Other sources (the core itself, tools)
    are not checked."""

    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue

    def check_type(self, source: str, posting_type: str, kind: Kind) -> str | None:
        if source not in self._catalogue.plugins:
            return None
        return self._catalogue.may_write(source, posting_type, kind)

    def fenced(self, source: str) -> bool:
        return source in self._catalogue.plugins

    def check_counter(self, source: str, counter: str) -> str | None:
        if source not in self._catalogue.plugins or counter in self._catalogue.counters:
            return None
        return (f"plugin {source!r} bumps daily counter {counter!r}, which no enabled plugin "
                "declared (Contract.counters)")
