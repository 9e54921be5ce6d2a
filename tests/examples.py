"""Installing the example plugin packages of ``examples/`` the way a third party would."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@contextlib.contextmanager
def installed_example(name: str, module: str, tmp_path: Path) -> Iterator[None]:
    """pip-install ``examples/<name>`` (offline, from a copy: no build litter in the repository)
    into a private directory put on ``sys.path``, so its entry point is found; undo it after."""
    source = tmp_path / f"{name}-src"
    shutil.copytree(EXAMPLES / name, source)
    target = tmp_path / f"{name}-site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(target), str(source)],
                   check=True)
    sys.path.insert(0, str(target))
    try:
        yield
    finally:
        sys.path.remove(str(target))
        for loaded in [m for m in sys.modules if m.startswith(module)]:
            del sys.modules[loaded]
