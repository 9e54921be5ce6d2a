"""A worked example of a third-party earning trigger for cytube-economy.

Saying the configured keyword (a whole word, any case) in public chat pays a small reward, at
most ``max_per_hour`` times per user per rolling hour. The plugin does not touch the ledger
itself: it hands an :class:`~economy_core.triggers.EarningTrigger` to the chat pipeline through
the ``economy_earning_triggers`` hook, and the pipeline (the ``chat_triggers`` plugin) pays its
hits like its own: multipliers, caps in the ledger's cap store, daily counters, analytics, and
never to the bot, ignored or banned users.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from economy_core import (
    Cap,
    ChatContext,
    Contract,
    Counter,
    EarningTrigger,
    PluginContext,
    TriggerHit,
    hookimpl,
    setting,
)


def _word(_instance: object, _attribute: object, value: str) -> None:
    if not re.fullmatch(r"\w+", value):
        raise ValueError(f"the keyword must be one word, not {value!r}")


@attrs.frozen
class KeywordConfig:
    keyword: str = setting("popcorn", validator=_word, help="The word that pays when said in chat")
    reward: float = setting(2.0, validator=attrs.validators.ge(0.0),
                            help="Paid each time a user says the keyword")
    max_per_hour: int = setting(3, validator=attrs.validators.ge(1),
                                help="Paid keyword lines per user per rolling hour")
    hidden: bool = setting(False, help="Keep the keyword out of the `rewards` listing")


class KeywordTrigger:
    """The trigger: one hit for a line that contains the keyword as a whole word."""

    trigger_id = "keyword.said"

    def __init__(self, ctx: PluginContext[KeywordConfig]) -> None:
        self.ctx = ctx

    def describe(self) -> str | None:
        cfg = self.ctx.config
        if cfg.hidden:
            return None
        return (f"Saying '{cfg.keyword}' in chat: {cfg.reward:g} "
                f"{self.ctx.core.currency.symbol} (up to {cfg.max_per_hour} an hour)")

    async def check(self, ctx: ChatContext) -> Sequence[TriggerHit]:
        cfg = self.ctx.config
        words = re.findall(r"\w+", ctx.text.casefold())
        if cfg.keyword.casefold() not in words:
            return ()
        return (TriggerHit(ctx.username, cfg.reward, self.trigger_id,
                           reason=f"said {cfg.keyword}", caps=(Cap.per_hour(cfg.max_per_hour),),
                           counters={"keywords_said": 1}),)


class KeywordPlugin:
    """The ``keyword`` plugin: contributes :class:`KeywordTrigger` to the chat pipeline."""

    name = "keyword"
    Config = KeywordConfig
    contract = Contract(counters=(Counter("keywords_said", "keywords said"),))

    def __init__(self, ctx: PluginContext[KeywordConfig]) -> None:
        self.ctx = ctx
        self.trigger: EarningTrigger = KeywordTrigger(ctx)

    @hookimpl(optionalhook=True)  # published by chat_triggers; never called without it
    def economy_earning_triggers(self) -> list[EarningTrigger]:
        return [self.trigger]
