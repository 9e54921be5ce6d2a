"""Rain end to end: a real nats-server, kryten-py on both sides, the bot's clock at 100× (one
simulated minute = 0.6 s). The random source is scripted: the first wait is exactly the interval
and the next one far away, so exactly one drop falls during the test."""

from __future__ import annotations

import random
from typing import Any

from economy_plugins.rain import Rain

from economy_core.testing import wait_until

FAST = 100.0
USERS = ("alice", "bob", "carol", "dave")


class OneDrop(Rain):
    """Rain whose first wait is the interval, whose later waits are 100× longer, and whose
    draw is always 12."""

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.random = _Script()


class _Script(random.Random):
    def __init__(self) -> None:
        super().__init__(0)
        self.waits = 0

    def uniform(self, a: float, b: float) -> float:
        self.waits += 1
        return 0.0 if self.waits == 1 else 100.0

    def randint(self, a: int, b: int) -> int:
        return 12


async def test_rain_reaches_every_present_user_and_is_announced_once(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=["presence", OneDrop],
                            config={"plugins": {"rain": {"interval_minutes": 5}}},
                            users=[("alice", 1), ("bob", 1), ("carol", 1)], time_scale=FAST)
    await env.robot.add_user("dave")  # arrives after start, before the drop (3 s in)
    ledger = env.app.ledger

    async def rained() -> dict[str, list[int]]:
        out = {}
        for user in USERS:
            postings = await ledger.history(env.channel, user, limit=1000)
            out[user] = [p.amount for p in postings if p.type == "rain"]
        return out

    def all_notified() -> bool:
        return all(any("Rain drop" in m for m in env.pms_to(u)) for u in USERS)

    await wait_until(all_notified, 15)
    assert await rained() == {user: [12] for user in USERS}
    announcements = [line for line in env.robot.sent_chat if "raining" in line]
    assert len(announcements) == 1 and "4 user(s)" in announcements[0]
    for user in USERS:
        [notice] = [m for m in env.pms_to(user) if "Rain drop" in m]
        assert "+12 Z-Coins" in notice
    order = [c.get("command") for c in env.robot.commands
             if c.get("command") == "say" or "Rain drop" in str(c.get("args", {}).get("msg"))]
    assert order[0] == "say"  # announced before any rain PM
    assert env.app.plugins["rain"].instance.drops == 1
    assert await ledger.verify() == []
