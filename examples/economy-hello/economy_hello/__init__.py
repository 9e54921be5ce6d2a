"""A worked example of a third-party cytube-economy plugin.

Users PM ``hello`` once per day for a small bonus, and saying the configured greeting word in
public chat counts towards a per-user tally kept in the plugin's own table (``hello_greetings``).
It shows every part a plugin usually needs: a config schema, a table in a versioned schema, a
contract (what it writes), a PM command, a hook, an idempotent credit, and a line for the
``rewards`` listing. Everything comes from the ``economy_core`` package root.
"""

from __future__ import annotations

import attrs
import sqlalchemy as sa

from economy_core import (
    NAMING,
    ChatMessage,
    CommandCall,
    Contract,
    Kind,
    PluginContext,
    PostingType,
    Schema,
    command,
    hookimpl,
    setting,
    user_key,
)

metadata = sa.MetaData(naming_convention=NAMING)
schema = Schema(metadata)  # version 1; later changes are @schema.upgrade("...") steps
greetings = sa.Table(
    "hello_greetings", metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False, default=0),
)


@attrs.frozen
class HelloConfig:
    bonus: int = setting(5, help="Z paid for the first `hello` PM of each day")
    greeting_word: str = setting("hello", help="A chat word that is counted per user")


class HelloPlugin:
    """The ``hello`` plugin: a daily PM bonus and a greeting tally."""

    name = "hello"
    Config = HelloConfig
    schema = schema
    contract = Contract(posting_types=(PostingType("hello_bonus", "daily hello", Kind.EARN),))

    def __init__(self, ctx: PluginContext[HelloConfig]) -> None:
        self.ctx = ctx

    @command("hello", help="Say hello to the bot; the first time each day pays a bonus")
    async def hello(self, call: CommandCall) -> str:
        day = self.ctx.clock.local_date(self.ctx.tz)
        amount = self.ctx.config.bonus
        result = await self.ctx.ledger.credit(
            call.channel, call.username, amount, type="hello_bonus", trigger_id="hello.daily",
            reason="daily hello", key=f"hello:{user_key(call.username)}:{day.isoformat()}")
        if result.replayed:
            return "👋 Hello again! Today's bonus is already yours; come back tomorrow."
        return (f"👋 Hello {call.username}! +{self.ctx.format_amount(amount)}, "
                f"balance {self.ctx.format_amount(result.balance)}.")

    @command("greetings", help="How many times you greeted the room")
    async def greetings_count(self, call: CommandCall) -> str:
        async with self.ctx.db.connect() as conn:
            count = await conn.scalar(sa.select(greetings.c.count).where(
                greetings.c.channel == call.channel,
                greetings.c.user_key == user_key(call.username)))
        return f"You said '{self.ctx.config.greeting_word}' {count or 0} time(s)."

    @hookimpl
    async def economy_chat_message(self, event: ChatMessage) -> None:
        word = self.ctx.config.greeting_word.casefold()
        if word not in event.text.casefold().split():
            return
        key = user_key(event.username)
        async with self.ctx.db.begin() as conn:
            updated = await conn.execute(
                greetings.update()
                .where(greetings.c.channel == event.channel, greetings.c.user_key == key)
                .values(count=greetings.c.count + 1))
            if updated.rowcount == 0:
                await conn.execute(greetings.insert().values(channel=event.channel,
                                                             user_key=key, count=1))

    @hookimpl
    def economy_reward_lines(self, channel: str) -> list[str]:
        return [f"hello: PM 'hello' once a day for {self.ctx.format_amount(self.ctx.config.bonus)}"]
