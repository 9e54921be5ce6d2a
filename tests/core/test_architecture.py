"""Structural rules: the core knows no feature, and plugins never import each other."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FEATURE_WORDS = re.compile(r"streak|shop|jackpot|heist|bount|presence|wallet|vanity|\brain\b",
                           re.IGNORECASE)


def core_files() -> list[Path]:
    """Every Python file of the core, in every sub-package (ledger/, config/ …)."""
    return sorted((ROOT / "economy_core").rglob("*.py"))


def test_the_walk_reaches_sub_packages() -> None:
    names = {p.relative_to(ROOT / "economy_core").as_posix() for p in core_files()}
    assert {"ledger/moves.py", "config/settings.py", "contract.py"} <= names


def test_core_code_names_no_feature() -> None:
    offenders = []
    for path in core_files():
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "__slots__" in line:
                continue
            if FEATURE_WORDS.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
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


def test_plugins_and_examples_import_the_core_only_from_its_root() -> None:
    """One import root: everything a plugin author needs is re-exported by ``economy_core``."""
    offenders = []
    files = [*(ROOT / "plugins").rglob("*.py"), *(ROOT / "examples").rglob("*.py")]
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                    node.module.startswith("economy_core."):
                offenders.append(f"{path.relative_to(ROOT)} imports {node.module}")
            elif isinstance(node, ast.Import):
                offenders += [f"{path.relative_to(ROOT)} imports {a.name}" for a in node.names
                              if a.name.startswith("economy_core.")]
    assert offenders == []


def test_the_readme_imports_the_core_only_from_its_root() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.findall(r"from economy_core\.(?!testing)\w+ import", readme) == []


def test_every_root_export_exists() -> None:
    import economy_core

    missing = [name for name in economy_core.__all__ if not hasattr(economy_core, name)]
    assert missing == []
