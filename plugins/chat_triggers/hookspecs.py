"""Hooks the chat_triggers plugin publishes (through its ``economy_addhooks``).

Implement them with ``@hookimpl(optionalhook=True)``: with chat_triggers switched off nothing
asks for them, and start-up does not complain about them.
"""

from __future__ import annotations

from economy_core import EarningTrigger, hookspec


@hookspec
def economy_earning_triggers() -> list[EarningTrigger] | EarningTrigger | None:
    """Async collect, once at start-up. Extra earning triggers for the chat pipeline (see
    ``economy_core.triggers``): every public human chat line is offered to each of them, with the
    channel state from before the line, and their hits are paid like built-in ones (caps,
    multipliers, accumulators, daily counters, analytics). Counters a trigger's hits bump must
    be declared by some enabled plugin (``Contract.counters``), usually the trigger's own."""
