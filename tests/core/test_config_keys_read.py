"""Every config key a built-in plugin declares is read by its code (RELIABILITY item 25: a key
nobody reads is a promise the bot silently breaks). A cheap, structural check: each field name of
the plugin's config classes (nested ones included) appears as an attribute read in the plugin's
other modules."""

from __future__ import annotations

import ast
from pathlib import Path

import attrs
import pytest

from economy_core.manager import installed_entry_points

ROOT = Path(__file__).resolve().parents[2]


def _config_fields(cls: type, seen: set[type] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    if cls in seen or not attrs.has(cls):
        return set()
    seen.add(cls)
    names = set()
    for field in attrs.fields(cls):
        names.add(field.name)
        if isinstance(field.type, type):
            names |= _config_fields(field.type, seen)
    return names


def _attribute_reads(package: Path) -> set[str]:
    """Attribute names read anywhere in the package (a field *definition* is an annotated name,
    not an attribute, so the config class itself does not count), plus exact string constants."""
    reads: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute):
                reads.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                reads.add(node.value)  # getattr(cfg, "name") and friends
    return reads


BUILTINS = sorted(name for name, ep in installed_entry_points().items()
                  if ep.value.startswith("economy_plugins."))


@pytest.mark.parametrize("name", BUILTINS)
def test_every_config_key_is_read(name: str) -> None:
    cls = installed_entry_points()[name].load()
    config = getattr(cls, "Config", None)
    if config is None:
        pytest.skip(f"{name} has no config")
    attrs.resolve_types(config)
    package = ROOT / "plugins" / name
    unread = sorted(_config_fields(config) - _attribute_reads(package))
    assert unread == [], f"{name}: config keys never read: {unread}"
