"""PM commands: the ``@command`` decorator, typed arguments, usage lines and the call object.

A plugin declares a command by decorating an async method::

    @command("tip", help="Give someone Z", aliases=("give",))
    async def tip(self, call: CommandCall, target: Username, amount: Amount) -> str: ...

The router converts the words after the command name to the annotated types (``int``, ``Amount``,
``Username``, ``str`` for one word, ``Rest`` for the rest of the line; ``X | None = None`` makes an
argument optional). A conversion failure replies with the reason and the generated usage line and
never runs the command, so nothing can be charged for bad input. A command returns
``str | list[str] | None``, or an :class:`Ask` when it waits for the user's next PM (pick a
number, confirm with YES); the core sends the replies.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, NewType, Union

import attrs

from .ledger import MAX_AMOUNT as MAX_AMOUNT  # the limit of an Amount argument

Username = NewType("Username", str)
"""A CyTube name; a leading ``@`` is stripped. 1–20 letters, digits, ``_`` or ``-``."""
Amount = NewType("Amount", int)
"""A whole number of currency units, 1 … MAX_AMOUNT."""
Rest = NewType("Rest", str)
"""Everything after the previous arguments, as typed (must be the last argument)."""

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,20}$")  # CyTube names: ASCII word chars
_INT_RE = re.compile(r"^[+-]?[0-9]{1,15}$")  # ASCII digits only (int() takes others)
_LONG_INT_RE = re.compile(r"^[+-]?[0-9]{16,}$")


class ArgumentError(ValueError):
    """A word that does not convert to its declared type, or a value the command finds out of
    range (a command may raise it before moving anything): the router replies with the message
    and the command's ``Usage:`` line."""


@attrs.frozen
class CommandCall:
    """One invocation of a command, as the plugin sees it."""

    channel: str
    username: str
    rank: int
    command: str
    args_text: str
    at: datetime
    is_admin: bool


def _yes(text: str) -> bool:
    return text.strip().casefold() == "yes"


@attrs.frozen
class Ask:
    """A reply that waits for the user's next PM: a pick from a numbered list, a ``YES``.

    A command (or an earlier answer) returns it instead of plain text. ``text`` is sent now;
    the router then holds the question for this user for ``timeout_seconds``. The user's next
    PM, if ``accepts(text)`` is true, goes to ``answer(call, text)`` (its result is replied
    like a command's and may be another :class:`Ask`). Any other PM drops the question: it is
    answered with ``on_other`` (e.g. "Cancelled.") when that is set, and is otherwise handled as
    a command; an unknown command then gets only ``on_other``, not the "unknown command" hint.
    A question that timed out is dropped silently; a new Ask replaces an older one.
    :meth:`confirm` builds the usual YES/anything-else question."""

    text: str | Sequence[str]
    answer: Callable[[CommandCall, str], Awaitable[Any]]
    accepts: Callable[[str], bool] = _yes
    timeout_seconds: float = 120.0
    on_other: str | None = None

    @classmethod
    def confirm(cls, text: str | Sequence[str],
                on_yes: Callable[[CommandCall, str], Awaitable[Any]], *,
                timeout_seconds: float = 120.0, cancelled: str = "Cancelled.") -> Ask:
        """``YES`` (any case) runs ``on_yes``; anything else replies ``cancelled``."""
        return cls(text, on_yes, _yes, timeout_seconds, cancelled)


CommandResult = str | Sequence[str] | Ask | None
"""What a command (or an :class:`Ask` answer) returns: replies, a question, or nothing."""


@attrs.frozen
class CommandSpec:
    """A command's declaration, as attached by :func:`command`."""

    name: str
    help: str
    aliases: tuple[str, ...] = ()
    admin: bool = False
    min_rank: int = 0
    long_help: str = ""
    listed: Callable[[Any], bool] | None = None
    """Given the plugin instance: whether ``help`` lists the command now (None = always)."""


@attrs.frozen
class Param:
    """One declared argument of a command."""

    name: str
    kind: Any
    optional: bool
    default: Any

    def placeholder(self) -> str:
        if self.kind is Username:
            text = f"@{self.name}"
        elif self.kind is Rest:
            text = f"<{self.name}…>"
        else:
            text = f"<{self.name}>"
        return f"[{text.strip('<>')}]" if self.optional else text


@attrs.frozen
class BoundCommand:
    """A command ready to run: its spec, owning plugin, callable and parameters."""

    spec: CommandSpec
    plugin: str
    fn: Callable[..., Awaitable[str | list[str] | None]]
    params: tuple[Param, ...]

    def listed(self) -> bool:
        """Whether ``help`` shows this command now (a switched-off game is left out)."""
        if self.spec.listed is None:
            return True
        return bool(self.spec.listed(getattr(self.fn, "__self__", None)))

    def usage(self) -> str:
        words = [self.spec.name, *(p.placeholder() for p in self.params)]
        return "Usage: " + " ".join(words)


COMMAND_ATTR = "__economy_command__"


def command(name: str, *, help: str, aliases: Sequence[str] = (), admin: bool = False,
            min_rank: int = 0, listed: Callable[[Any], bool] | None = None
            ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a PM command on a plugin method (see the module docstring). ``listed(plugin)``
    decides whether ``help`` shows it at the moment (e.g. only while a game is switched on);
    the command itself stays callable and should explain when it is off."""
    if not re.fullmatch(r"[a-z0-9_:]+", name):
        raise ValueError(f"command name {name!r}: use lower-case letters, digits, _ or :")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        doc = inspect.cleandoc(fn.__doc__ or "")
        setattr(fn, COMMAND_ATTR, CommandSpec(name, help, tuple(a.lower() for a in aliases),
                                              admin, min_rank, doc, listed))
        return fn

    return decorate


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def bind(plugin: str, method: Callable[..., Any]) -> BoundCommand:
    """Read a decorated bound method's parameters (after ``call``) into a :class:`BoundCommand`."""
    spec: CommandSpec = getattr(method, COMMAND_ATTR)
    hints = typing.get_type_hints(method)
    sig = inspect.signature(method)
    names = list(sig.parameters)[1:]  # the first one is the CommandCall
    params: list[Param] = []
    for pname in names:
        p = sig.parameters[pname]
        kind, optional = _unwrap_optional(hints.get(pname, str))
        if kind not in (int, str, Username, Amount, Rest):
            raise TypeError(f"command {spec.name}: unsupported argument type {kind!r}")
        has_default = p.default is not inspect.Parameter.empty
        params.append(Param(pname, kind, optional or has_default,
                            p.default if has_default else None))
    if any(p.kind is Rest for p in params[:-1]):
        raise TypeError(f"command {spec.name}: Rest must be the last argument")
    return BoundCommand(spec, plugin, method, tuple(params))


def _next_word(text: str) -> tuple[str, str]:
    """Split off the first word (a double-quoted phrase counts as one word)."""
    text = text.lstrip()
    if text.startswith('"'):
        end = text.find('"', 1)
        if end > 0:
            return text[1:end], text[end + 1:]
    parts = text.split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def convert(param: Param, word: str) -> Any:
    """Convert one word to the parameter's type, or raise :class:`ArgumentError`."""
    if param.kind is Username:
        name = word.lstrip("@")
        if not _NAME_RE.fullmatch(name):
            raise ArgumentError(f"{param.name}: {shown(word)} is not a user name")
        return Username(name)
    if param.kind in (int, Amount):
        if not _INT_RE.fullmatch(word):
            if _LONG_INT_RE.fullmatch(word):
                raise ArgumentError(f"{param.name}: {shown(word)} is too large")
            raise ArgumentError(f"{param.name}: expected a whole number, got {shown(word)}")
        value = int(word)
        if param.kind is Amount and not 1 <= value <= MAX_AMOUNT:
            raise ArgumentError(
                f"{param.name}: must be between 1 and {MAX_AMOUNT:,}, got {shown(word)}")
        if abs(value) > MAX_AMOUNT:
            raise ArgumentError(f"{param.name}: {shown(word)} is too large")
        return value
    return word


def shown(word: str) -> str:
    """A user's word, shortened and made printable, for echoing in an error."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in word)
    return repr(clean if len(clean) <= 24 else clean[:21] + "…")


def parse_arguments(cmd: BoundCommand, args_text: str) -> dict[str, Any]:
    """Convert ``args_text`` to keyword arguments for ``cmd``; raises :class:`ArgumentError`."""
    values: dict[str, Any] = {}
    rest = args_text.strip()
    for param in cmd.params:
        if param.kind is Rest:
            text = rest.strip()
            if len(text) >= 2 and text[0] == text[-1] == '"':
                text = text[1:-1].strip()
            if not text and not param.optional:
                raise ArgumentError(f"{param.name} is missing")
            values[param.name] = Rest(text) if text else param.default
            rest = ""
            continue
        word, rest = _next_word(rest)
        if not word:
            if param.optional:
                values[param.name] = param.default
                continue
            raise ArgumentError(f"{param.name} is missing")
        values[param.name] = convert(param, word)
    if rest.strip():
        raise ArgumentError(f"too many words: {shown(rest.strip())}")
    return values
