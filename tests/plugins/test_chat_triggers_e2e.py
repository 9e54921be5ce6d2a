"""chat_triggers end to end: a real nats-server, kryten-py on both sides, chat lines published
exactly as kryten-robot publishes them (HTML-escaped ``chatMsg`` events)."""

from __future__ import annotations

from typing import Any

from economy_plugins.chat_triggers import ChatTriggers

from economy_core.testing import wait_until


async def test_long_line_pays_and_kudos_credits_without_a_pm(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=[ChatTriggers, "wallet"],
                            users=[("alice", 1), ("bob", 1)])
    plugin = env.app.plugins["chat_triggers"].instance
    ledger = env.app.ledger
    await ledger.credit(env.channel, "bob", 10, type="admin_grant")  # bob has an account

    text = "Tom & Jerry (1940) <3 was a classic, honestly!"
    await env.robot.chat("alice", text)
    await wait_until(lambda: plugin.writer.jobs_written >= 1, 10)
    await plugin.drain()
    postings = await ledger.history(env.channel, "alice")
    assert "chat.long_message" in {p.trigger_id for p in postings}
    day = env.app.clock.now().astimezone(env.app.tz).date()
    assert (await ledger.daily(env.channel, "alice", day))["messages_sent"] == 1

    await env.robot.chat("alice", "bob++ thanks")
    await wait_until(lambda: plugin.writer.jobs_written >= 2, 10)
    await plugin.drain()
    [kudos] = [p for p in await ledger.history(env.channel, "bob")
               if p.trigger_id == "chat.kudos_received"]
    assert (kudos.amount, kudos.related_user) == (3, "alice")
    replies = await env.pm("alice", "balance")  # a later event: everything before is handled
    assert replies[0].startswith("💰 alice:")
    assert env.pms_to("bob") == []
    assert env.pms_to("alice") == replies
    assert env.robot.sent_chat == []
    assert await ledger.verify() == []
