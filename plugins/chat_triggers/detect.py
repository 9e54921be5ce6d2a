"""Pure text detection on one chat line: name tokens, kudos, laughs, gif links.

Nothing here knows about users or state; every function is a function of the text alone.
CyTube user names are 1-20 ASCII letters, digits, ``_`` or ``-`` (compared case-insensitively).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import attrs

from economy_core import user_key

_NAME_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_KUDOS = re.compile(r"(?:^|(?<=\s))@?([A-Za-z0-9_-]{1,20})\+\+")
_WORD = re.compile(r"[^\W\d_]+")
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_LOL = re.compile(r"^l(?:o+l)+$")
_LMAO = re.compile(r"^lmf?a+o+$")
_LAUGH_WORDS = frozenset({"rofl", "kek", "dead"})
LAUGH_EMOJI = ("💀", "😂", "🤣")
_GIF_HOSTS = ("giphy.com", "tenor.com")


def name_tokens(text: str) -> frozenset[str]:
    """Every whole word of the line that could be a user name, as user keys."""
    return frozenset(user_key(t) for t in _NAME_TOKEN.findall(text) if len(t) <= 20)


def kudos_targets(text: str) -> tuple[str, ...]:
    """The names given kudos (``name++`` or ``@name++`` at the line start or after a space),
    each once, in order of first appearance (display casing of that appearance)."""
    seen: dict[str, str] = {}
    for name in _KUDOS.findall(text):
        seen.setdefault(user_key(name), name)
    return tuple(seen.values())


def is_laugh_word(word: str) -> bool:
    """lol, lmao, lmfao, rofl, haha…, hehe…, kek, dead, or any word of >= 2 "ha" (casefolded)."""
    if word in _LAUGH_WORDS or _LOL.match(word) or _LMAO.match(word):
        return True
    if word.startswith(("haha", "hehe")):
        return True
    return word.count("ha") >= 2 and set(word) <= {"h", "a"}


def is_laugh(text: str) -> bool:
    """Does the line laugh (a laugh word, or 💀 😂 🤣 anywhere)?"""
    if any(e in text for e in LAUGH_EMOJI):
        return True
    return any(is_laugh_word(w) for w in _WORD.findall(text.casefold()))


def is_gif_link(url: str) -> bool:
    """A link to a gif: a path ending in ``.gif`` (a query is allowed), or giphy/tenor."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").casefold()
    except ValueError:
        return False
    if parts.path.casefold().endswith(".gif"):
        return True
    return any(host == h or host.endswith("." + h) for h in _GIF_HOSTS)


def gif_links(text: str) -> int:
    """How many gif links the line holds."""
    if "://" not in text:
        return 0
    return sum(1 for url in _URL.findall(text) if is_gif_link(url.rstrip(").,!?")))


@attrs.frozen
class LineFacts:
    """Everything detected in one line, computed once and shared by the triggers."""

    length: int
    names: frozenset[str]
    kudos: tuple[str, ...]
    laugh: bool
    gifs: int

    @classmethod
    def of(cls, text: str) -> LineFacts:
        kudos = kudos_targets(text) if "++" in text else ()
        return cls(length=len(text), names=name_tokens(text), kudos=kudos,
                   laugh=is_laugh(text), gifs=gif_links(text))
