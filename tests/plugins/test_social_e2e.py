"""Tips, the shop and approvals end to end: a real nats-server, kryten-py on both sides and the
robot stand-in. alice tips bob (both told, balances right); bob buys a title and his shoutout
names "bob [title]" in public chat; alice's GIF is held, rejected by an admin's PM (rank 4) and
refunded in full."""

from __future__ import annotations

from typing import Any

from economy_plugins.tipping import Tipping
from economy_plugins.vanity_shop import VanityShop

from economy_core.ledger import Kind
from economy_core.testing import wait_until

CONFIG = {"plugins": {"tipping": {"min_account_age_minutes": 0}}}


async def test_tips_titles_and_a_rejected_gif(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=[Tipping, VanityShop], config=CONFIG,
                            users=[("alice", 1), ("bob", 1), ("boss", 4)])
    ledger = env.app.ledger
    for user in ("alice", "bob"):
        assert (await ledger.credit(env.channel, user, 6000, type="admin_grant",
                                    kind=Kind.EARN)).ok

    [sent] = await env.pm("alice", "tip @bob 50")
    assert "You tipped bob 50 Z" in sent and "Balance: 5,950 Z" in sent
    await wait_until(lambda: any("alice tipped you 50 Z-Coins" in m
                                 for m in env.pms_to("bob")), 10)
    assert await ledger.balance(env.channel, "bob") == 6050

    [bought] = await env.pm("bob", "buy title Film Buff")
    assert "Film Buff" in bought and "Balance: 5,050 Z" in bought
    [shouted] = await env.pm("bob", "shoutout hello room")
    assert "Shouted out" in shouted
    await wait_until(lambda: "📢 bob [Film Buff]: hello room" in env.robot.sent_chat, 10)

    [held] = await env.pm("alice", "buy gif https://x.test/a.gif")
    assert "GIF request #1" in held and "Balance: 950 Z" in held
    await wait_until(lambda: any("approve_gif @alice" in m for m in env.pms_to("boss")), 10)
    [rejected] = await env.pm("boss", "reject_gif @alice not our style")
    assert "Rejected alice's GIF #1" in rejected
    await wait_until(lambda: any("not approved (not our style)" in m
                                 for m in env.pms_to("alice")), 10)
    assert await ledger.balance(env.channel, "alice") == 5950
    assert await ledger.open_escrows(env.channel) == []
    assert await ledger.verify() == []
