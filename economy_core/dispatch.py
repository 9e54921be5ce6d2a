"""Calling hooks that may be sync or async: broadcast, collect and first.

Pluggy is synchronous, so the core walks a hook's implementations itself, in pluggy's own call
order (``reversed(get_hookimpls())``, honouring tryfirst/trylast), passes each implementation only
the arguments it declares, and awaits whatever is awaitable. An implementation that raises is
logged and counted against its plugin; the others still run. With ``strict=True`` (tests) the
exception propagates instead, so a plugin bug fails the test that triggered it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import pluggy

ErrorCounter = Callable[[str, str, BaseException], None]
"""Called with (plugin name, hook name, exception) for every failing implementation."""


class Dispatcher:
    """Runs async-or-sync hook implementations for one plugin manager."""

    def __init__(self, pm: pluggy.PluginManager, *, strict: bool = False,
                 on_error: ErrorCounter | None = None,
                 log: logging.Logger | None = None) -> None:
        self.pm = pm
        self.strict = strict
        self._on_error = on_error
        self._log = log or logging.getLogger("economy_core.dispatch")

    def _impls(self, hook_name: str, reverse: bool = False) -> list[Any]:
        hook = getattr(self.pm.hook, hook_name)
        impls = list(reversed(hook.get_hookimpls()))
        return list(reversed(impls)) if reverse else impls

    async def _call(self, impl: Any, hook_name: str, kwargs: dict[str, Any]) -> tuple[bool, Any]:
        args = {name: kwargs[name] for name in impl.argnames if name in kwargs}
        try:
            result = impl.function(**args)
            if inspect.isawaitable(result):
                result = await result
            return True, result
        except Exception as exc:
            if self.strict:
                raise
            self._log.exception("plugin %s failed in %s", impl.plugin_name, hook_name)
            if self._on_error is not None:
                self._on_error(impl.plugin_name, hook_name, exc)
            return False, None

    async def broadcast(self, hook_name: str, *, reverse: bool = False, **kwargs: Any) -> None:
        """Call every implementation in turn; failures are isolated."""
        for impl in self._impls(hook_name, reverse):
            await self._call(impl, hook_name, kwargs)

    async def broadcast_each(self, hook_name: str,
                             kwargs_for: Callable[[str], dict[str, Any]]) -> None:
        """Like :meth:`broadcast`, with arguments made for each plugin (by plugin name)."""
        for impl in self._impls(hook_name):
            await self._call(impl, hook_name, kwargs_for(impl.plugin_name))

    async def collect(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call every implementation and gather non-None results; a list result is flattened."""
        out: list[Any] = []
        for impl in self._impls(hook_name):
            ok, result = await self._call(impl, hook_name, kwargs)
            if not ok or result is None:
                continue
            if isinstance(result, list | tuple):
                out.extend(r for r in result if r is not None)
            else:
                out.append(result)
        return out

    async def first(self, hook_name: str, **kwargs: Any) -> Any:
        """Call implementations until one returns non-None; return that (or None)."""
        for impl in self._impls(hook_name):
            ok, result = await self._call(impl, hook_name, kwargs)
            if ok and result is not None:
                return result
        return None
