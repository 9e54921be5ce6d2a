"""Helpers of the metrics tests: read the Prometheus text format, pick a free port, fetch a
page of the metrics server."""

from __future__ import annotations

import re
import socket
from typing import Any

import aiohttp

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample line: (name, labels) → value."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        found = _SAMPLE.match(line)
        assert found, f"not a sample line: {line!r}"
        name, labels, value = found.groups()
        out[(name, frozenset(_LABEL.findall(labels or "")))] = float(value)
    return out


def value(text: str, name: str, **labels: str) -> float:
    """The sample with exactly these labels, 0 when absent (a counter never incremented)."""
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def total(text: str, name: str, **labels: str) -> float:
    """Σ of the samples of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples(text).items() if n == name and want <= ls)


def families(text: str) -> dict[str, str]:
    """Every family the text declares (``# TYPE name kind``): name → kind."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            out[name] = kind
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def fetch(port: int, path: str) -> tuple[int, str]:
    """GET http://127.0.0.1:port/path → (status, body)."""
    async with aiohttp.ClientSession() as session, \
            session.get(f"http://127.0.0.1:{port}{path}") as response:
        body: Any = await response.text()
        return response.status, str(body)
