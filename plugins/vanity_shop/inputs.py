"""What users type into the shop, checked before anything is charged.

Free text (greeting, title, shoutout) is one line of printable characters, whitespace runs
collapsed, no ``<`` or ``>`` (no HTML: CyTube escapes chat, but a greeting that looks like markup
is refused outright), within the item's length. A GIF is an ``http://`` or ``https://`` URL with
a host and no spaces or quotes. A personal currency name is 1–30 letters, digits, spaces,
``-``, ``_`` or ``'``. Each check returns the reason to refuse, or None.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_URL = 500
MAX_RENAME = 30
_RENAME_EXTRA = frozenset(" -_'")
_URL_FORBIDDEN = frozenset(" \t\r\n\"'<>\\`")


def clean(text: str) -> str:
    """``text`` on one line: whitespace runs (line breaks included) become one space."""
    return " ".join(text.split())


def text_problem(text: str, *, what: str, max_length: int) -> str | None:
    """Why ``text`` (already :func:`clean`) cannot be ``what``; None when it can."""
    if not text:
        return f"{what.capitalize()} cannot be empty."
    if len(text) > max_length:
        return (f"{what.capitalize()} is at most {max_length} characters (yours has "
                f"{len(text):,}).")
    if "<" in text or ">" in text:
        return f"{what.capitalize()} cannot contain HTML (no < or >)."
    if not text.isprintable():
        return f"{what.capitalize()} can only contain printable characters."
    return None


def url_problem(url: str) -> str | None:
    """Why ``url`` is not a usable GIF link; None when it is."""
    if len(url) > MAX_URL:
        return f"That link is too long (at most {MAX_URL} characters)."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a bad port raises here)
    except ValueError:
        return "That is not a link: send an http:// or https:// URL."
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "A GIF must be an http:// or https:// link."
    if any(c in _URL_FORBIDDEN for c in url) or not url.isprintable():
        return "That link contains characters a URL cannot have (spaces, quotes, < or >)."
    return None


def rename_problem(name: str) -> str | None:
    """Why ``name`` (already :func:`clean`) cannot be a personal currency name."""
    if not name:
        return "The new name cannot be empty."
    if len(name) > MAX_RENAME:
        return f"A currency name is at most {MAX_RENAME} characters (yours has {len(name)})."
    if not all(c.isalnum() or c in _RENAME_EXTRA for c in name):
        return "A currency name may use letters, digits, spaces, - _ and ' only."
    return None
