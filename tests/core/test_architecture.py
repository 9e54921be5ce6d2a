"""Structural rules: the core knows no feature, and plugins never import each other."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FEATURE_WORDS = re.compile(r"streak|shop|jackpot|heist|bount|presence|wallet|vanity|\brain\b",
                           re.IGNORECASE)


def test_core_code_names_no_feature() -> None:
    offenders = []
    for path in sorted((ROOT / "economy_core").glob("*.py")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "__slots__" in line:
                continue
            if FEATURE_WORDS.search(line):
                offenders.append(f"{path.name}:{lineno}: {line.strip()}")
    assert offenders == []


def test_plugins_never_import_each_other() -> None:
    plugin_dirs = [p for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").exists()]
    names = {p.name for p in plugin_dirs}
    offenders = []
    for plugin in plugin_dirs:
        for path in plugin.rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                modules: list[str] = []
                if isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    if node.level >= 2:
                        modules = [f"..{node.module or ''}"]
                    elif node.module:
                        modules = [node.module]
                for module in modules:
                    parts = module.split(".")
                    other = (parts[1] if parts[0] == "economy_plugins" and len(parts) > 1
                             else None)
                    if module.startswith("..") or (other in names and other != plugin.name):
                        offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_every_builtin_plugin_package_is_packaged() -> None:
    import tomllib

    packages = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "tool"]["setuptools"]["packages"]
    for plugin in (ROOT / "plugins").iterdir():
        if (plugin / "__init__.py").exists():
            assert f"economy_plugins.{plugin.name}" in packages
