"""Operator-written message templates: validated at load, rendered tolerantly.

Templates use ``str.format`` placeholders (``"{amount} {currency}"``). A template that names a
placeholder its message does not offer is a config error at start-up (:func:`template_validator`);
at run time :func:`render` never raises: a broken template logs a warning and yields the fallback.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("economy_core.text")


def placeholders(template: str) -> set[str]:
    """The top-level field names a template uses; raises ValueError for broken syntax."""
    names: set[str] = set()
    for _, field, _, _ in string.Formatter().parse(template):
        if field is None:
            continue
        name = field.split(".", 1)[0].split("[", 1)[0]
        if not name or name.isdigit():
            raise ValueError("positional placeholders like {} or {0} are not allowed")
        names.add(name)
    return names


def template_validator(allowed: Iterable[str]) -> Callable[[Any, Any, str], None]:
    """An attrs validator: the template parses and uses only ``allowed`` placeholders."""
    allowed_set = frozenset(allowed)

    def check(_instance: Any, attribute: Any, value: str) -> None:
        try:
            used = placeholders(value)
        except ValueError as exc:
            raise ValueError(f"bad template: {exc}") from None
        unknown = sorted(used - allowed_set)
        if unknown:
            raise ValueError(
                f"unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; "
                f"allowed: {', '.join('{' + a + '}' for a in sorted(allowed_set))}")

    return check


def render(template: str, fallback: str = "", **values: Any) -> str:
    """Fill a template; on any formatting error log a warning and return ``fallback``."""
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        log.warning("message template %r failed (%s); using the fallback", template, exc)
        return fallback
