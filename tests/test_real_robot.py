"""End to end with the real kryten-robot (PyPI, pinned in ``tests/real_robot.py``):

    fake CyTube ⇄ kryten-robot (its own venv) ⇄ nats-server ⇄ ``cytube-economy run``

Everything is checked where a real room would see it: at the fake CyTube (what the robot sent
it), plus the database and ``ledger verify`` after the bot stopped. The robot's venv is built
once and cached in ``<repo>/.robot-venv``; without access to the package index the tests fail
with pip's message, unless ``CYTUBE_ECONOMY_SKIP_REAL_ROBOT=1`` skips them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import pytest_asyncio
import tomli_w

from economy_core import CommandCall, PluginContext, Username, command
from economy_core.app import EconomyApp
from economy_core.config import ChannelConfig
from economy_core.fake_cytube import (
    MIN_ANTIFLOOD,
    ChatRateLimiter,
    FakeCyTube,
    QueueAnswer,
    format_message,
)
from economy_core.testing import build_config, resolve_plugins

from .real_robot import (
    BOT,
    BOT_RANK,
    CHANNEL,
    SKIP_ENV,
    ManagedProcess,
    RobotStack,
    RobotVenvError,
    kv_users,
    robot_python,
    start_stack,
    wait_for,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLI = Path(sys.executable).parent / "cytube-economy"
TIME_SCALE = 60
"""The bot's clock runs this much faster: a rain interval of 1 min is about a second."""
WELCOME = "Welcome, {user}! Here are {amount} {currency} to start."
RAIN_PM = "Rain drop: +{amount} {currency} for being here."
RAIN_LINE = "It's raining {currency} (for {count} user(s))!"
"""The bot's public line: CyTube escapes its ' ( ) in the echo."""


@pytest.fixture(scope="session")
def kryten_robot_python() -> Path:
    """The Python of the robot's own venv (built once per cache, see ``robot_python``)."""
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: the real kryten-robot tests are skipped")
    try:
        return robot_python()
    except RobotVenvError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(kryten_robot_python: Path,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RobotStack]:
    """nats-server, the fake CyTube (carol and boss already in the room) and the real robot,
    logged in with its KV userlist written; torn down after this module."""
    running = await start_stack(kryten_robot_python, tmp_path_factory.mktemp("real-robot"),
                                users=[("carol", 1), ("boss", 4)])
    try:
        yield running
    finally:
        await running.close()


class BusEvents:
    """Every robot event on NATS for the channel (``kryten.events.cytube.<channel>.*``)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self._nc: Any = None

    async def start(self, url: str) -> None:
        import nats

        self._nc = await nats.connect(url)

        async def on(msg: Any) -> None:
            self.seen.append((msg.subject.rsplit(".", 1)[-1], json.loads(msg.data)))

        await self._nc.subscribe(f"kryten.events.cytube.{CHANNEL}.>", cb=on)
        await self._nc.flush()

    async def stop(self) -> None:
        if self._nc is not None:
            await self._nc.close()

    def payloads(self, event: str) -> list[Any]:
        return [envelope.get("payload") for name, envelope in self.seen if name == event]

    async def wait(self, event: str, predicate: Callable[[Any], bool], what: str,
                   timeout: float = 10.0) -> Any:
        def found() -> bool:
            return any(predicate(p) for p in self.payloads(event))

        await wait_for(found, f"the robot publishing {what}", timeout)
        return next(p for p in self.payloads(event) if predicate(p))


def bot_config(stack: RobotStack, db: Path, *, raining: bool) -> dict[str, Any]:
    """The economy bot's config: presence, wallet, chat_triggers and rain on the test room.

    Presence pays nothing per minute and has no hourly milestones, so that a balance moves only
    by the welcome wallet, chat rewards and (once ``raining``) rain drops."""
    return {
        "ignored_users": [],
        "nats": {"servers": [stack.nats_url]},
        "channels": [{"domain": stack.domain, "channel": CHANNEL}],
        "database": {"url": f"sqlite+aiosqlite:///{db}"},
        "metrics": {"port": 0},
        "bot": {"username": BOT},
        "commands": {"rate_limit_per_minute": 600},
        "outbox": {"chat_per_minute": 60, "merge_window_seconds": 0.2},
        "log": {"level": "INFO"},
        "plugins": {
            "enabled": ["chat_triggers", "presence", "rain", "wallet"],
            "presence": {"base_rate_per_minute": 0.0, "hourly_milestones": {},
                         "welcome_wallet": {"amount": 100, "delay_seconds": 30,
                                            "message": WELCOME}},
            "rain": {"enabled": raining, "interval_minutes": 1, "min_amount": 7,
                     "max_amount": 7, "message": RAIN_PM, "announce_message": RAIN_LINE},
        },
    }


def write_config(path: Path, config: dict[str, Any]) -> None:
    path.write_text(tomli_w.dumps(config), encoding="utf-8")


async def ask_balance(fake: FakeCyTube, user: str, timeout: float = 15.0) -> int:
    """PM ``balance`` as ``user`` through the fake CyTube; the amount the bot's reply names."""
    pattern = re.compile(rf"{re.escape(user)}: ([\d,]+) Z")
    mark = len(fake.pms)
    await fake.pm_to_bot(user, "balance")
    reply = await fake.wait_for_pm(user, lambda text: pattern.search(text) is not None,
                                   since=mark, timeout=timeout)
    match = pattern.search(reply.text)
    assert match is not None
    return int(match.group(1).replace(",", ""))


async def first_answer(fake: FakeCyTube, bot: ManagedProcess, user: str,
                       timeout: float = 30.0) -> int:
    """``user``'s balance, asked by PM until the starting bot answers (a PM sent before it
    subscribed is lost, so it is sent again every second)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await ask_balance(fake, user, timeout=1.0)
        except TimeoutError:
            if bot.returncode is not None:
                raise RuntimeError(f"the bot exited with status {bot.returncode}\n"
                                   f"{bot.log_tail()}") from None
            if loop.time() > deadline:
                raise TimeoutError(f"the bot never answered {user}'s PM within {timeout:g} s"
                                   f"\n{bot.log_tail()}") from None


async def balance_until(fake: FakeCyTube, user: str, predicate: Callable[[int], bool],
                        what: str, timeout: float = 15.0) -> int:
    """Ask for ``user``'s balance until ``predicate`` holds (ledger writes may be batched)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen: list[int] = []
    while loop.time() < deadline:
        seen.append(await ask_balance(fake, user))
        if predicate(seen[-1]):
            return seen[-1]
    raise TimeoutError(f"{what}: {user}'s balance never did within {timeout:g} s "
                       f"(replies: {seen})")


async def run_cli(*args: str, timeout: float = 60.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(CLI), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return await proc.wait(), out.decode(errors="replace")


async def test_economy_bot_end_to_end_through_the_real_robot(stack: RobotStack,
                                                             tmp_path: Path) -> None:
    fake = stack.fake
    db, cfg = tmp_path / "economy.db", tmp_path / "economy.toml"
    write_config(cfg, bot_config(stack, db, raining=False))
    bot = ManagedProcess("cytube-economy", [str(CLI), "--config", str(cfg), "--log-level",
                                            "INFO", "run", "--time-scale", str(TIME_SCALE)],
                         tmp_path / "bot.log", cwd=tmp_path)
    bus = BusEvents()
    await bus.start(stack.nats_url)
    errors_before, dropped_before = len(fake.errors), len(fake.dropped)
    await fake.wait_limiter_cooled()  # CyTube limits per connection: see the bought-item test
    await bot.start()
    try:
        # carol was in the room before the bot started (the bot seeds the room from the
        # robot's KV userlist): once the bot listens, her PM gets an answer.
        await first_answer(fake, bot, "carol")

        # A newcomer gets the welcome wallet by PM, from the bot, through the robot.
        mark = len(fake.pms)
        await fake.add_user("alice", 1)
        welcome = await fake.wait_for_pm("alice", lambda text: text.startswith("Welcome"),
                                         since=mark, timeout=20)
        assert welcome.sender == BOT
        assert welcome.text.startswith("Welcome, alice! Here are 100 Z-Coins to start.")
        assert await ask_balance(fake, "alice") == 100

        # A long chat line earns a reward.
        await fake.chat("alice", "this line is long enough to count as a long message")
        earned = await balance_until(fake, "alice", lambda b: b > 100,
                                     "a long chat line raising alice's balance")

        # Rain (enabled by a reload) is announced in public; CyTube echoes the line back to the
        # bot's own account, the robot forwards the echo, and the bot must ignore it: no
        # account for itself, no "answer from a chat bot" paid to alice, the last human speaker.
        chat_mark = len(fake.chat_lines)
        write_config(cfg, bot_config(stack, db, raining=True))
        bot.send_signal(signal.SIGHUP)
        announcement = await fake.wait_for_chat(lambda text: "raining" in text,
                                                since=chat_mark, timeout=20)
        assert announcement.sender == BOT
        assert announcement.text.startswith("It's raining Z-Coins (for ")
        assert announcement.wire.startswith("It&#39;s raining Z-Coins &#40;for ")
        await bus.wait("chatmsg", lambda p: p.get("username") == BOT
                       and p.get("msg") == announcement.wire,
                       "the echo of the rain announcement")
        drop = await fake.wait_for_pm("alice", lambda text: text.startswith("Rain drop"),
                                      timeout=20)
        assert drop.text.startswith("Rain drop: +7 Z-Coins for being here.")
        # Events reach the bot in order: once this reply is back, the echo was handled.
        assert await ask_balance(fake, "alice") >= earned + 7
    finally:
        status = await bot.stop(signal.SIGTERM, timeout=30)
        await bus.stop()
    assert status == 0, bot.log_tail()

    assert fake.errors[errors_before:] == []  # e.g. no PM to itself, to nobody
    assert fake.dropped[dropped_before:] == []  # never over CyTube's chat/PM limiter
    code, out = await run_cli("--config", str(cfg), "ledger", "verify")
    assert code == 0, out
    with contextlib.closing(sqlite3.connect(db)) as conn:
        accounts = {row[0] for row in conn.execute("SELECT user_key FROM core_accounts")}
        postings = conn.execute("SELECT user_key, type, trigger_id FROM core_transactions"
                                ).fetchall()
    assert BOT.casefold() not in accounts
    assert {"alice", "carol"} <= accounts
    assert not [p for p in postings if p[2] == "social.bot_interaction"], postings
    assert ("alice", "chat.long_message") in {(p[0], p[2]) for p in postings}
    rained_on = {p[0] for p in postings if p[1] == "rain"}
    assert {"alice", "carol", "boss"} <= rained_on and BOT.casefold() not in rained_on


async def test_add_media_and_set_channel_rank_reach_cytube(stack: RobotStack) -> None:
    """kryten-py's ``add_media`` (request/reply, answered after CyTube's ``queue`` or
    ``queueFail``) and ``set_channel_rank`` (fire and forget), sent to the real robot."""
    from kryten import KrytenClient

    fake = stack.fake
    bus = BusEvents()
    await bus.start(stack.nats_url)
    client = KrytenClient({"nats": {"servers": [stack.nats_url]},
                           "channels": [{"domain": stack.domain, "channel": CHANNEL}],
                           "log_level": "ERROR"})
    await client.connect()
    try:
        # Accepted: CyTube's `queue` frame carries the uid the robot answers with.
        queued = len(fake.queue_requests)
        fake.answer_next_queue(QueueAnswer.accept("Night of the Lepus", 5400))
        answer = await client.add_media(CHANNEL, "yt", "lepus01", timeout=15)
        request = fake.queue_requests[queued]
        assert (request.media_type, request.media_id, request.pos, request.temp,
                request.outcome) == ("yt", "lepus01", "end", True, "accepted")
        assert answer["success"] is True
        assert answer["data"] == {"success": True, "uid": request.uid}

        # Refused: `queueFail` comes back as data.success = false with CyTube's message.
        fake.answer_next_queue(QueueAnswer.refuse("Video exceeds the maximum length"))
        answer = await client.add_media(CHANNEL, "yt", "toolong", timeout=15)
        assert fake.queue_requests[-1].outcome == "refused"
        assert answer["success"] is True  # the robot's envelope; the outcome is in data
        assert answer["data"]["success"] is False
        assert answer["data"]["error"] == "Video exceeds the maximum length"
        assert answer["data"]["queue_fail"]["id"] == "toolong"

        # setChannelRank: CyTube changes the rank and tells everyone (setUserRank).
        await fake.add_user("dave", 1)
        ranks = len(fake.rank_requests)
        await client.set_channel_rank(CHANNEL, "dave", 2)
        applied = await fake.wait_for_rank_request(since=ranks)
        assert (applied.sender, applied.name, applied.rank, applied.outcome) == (
            BOT, "dave", 2, "applied")
        assert fake.rank_of("dave") == 2
        await bus.wait("setuserrank", lambda p: p == {"name": "dave", "rank": 2},
                       "setUserRank for dave")

        # Not above the target: CyTube answers channelRankFail, which the robot forwards.
        await client.set_channel_rank(CHANNEL, "boss", 2)
        refused = await fake.wait_for_rank_request(since=ranks + 1)
        assert refused.outcome == "refused" and fake.rank_of("boss") == 4
        await bus.wait("channelrankfail", lambda p: "equal or higher rank" in p.get("msg", ""),
                       "channelRankFail for boss")
    finally:
        await client.disconnect()
        await bus.stop()


class Jukebox:
    """A test plugin asking the room for things through ``ctx.robot``: ``put <id>`` queues a
    media item and answers with what CyTube said; ``promote @user`` asks for rank 2."""

    name = "jukebox"

    def __init__(self, ctx: PluginContext[None]) -> None:
        self.ctx = ctx

    @command("put", help="Queue a media item (test)")
    async def put(self, call: CommandCall, media_id: str) -> str:
        result = await self.ctx.robot.add_media(call.channel, "yt", media_id)
        return f"{result.status} uid={result.uid} error={result.error}"

    @command("promote", help="Make someone a moderator (test)")
    async def promote(self, call: CommandCall, user: Username) -> str:
        result = await self.ctx.robot.set_channel_rank(call.channel, user, 2)
        return "rank asked" if result.sent else f"refused: {result.error}"


async def test_the_bots_own_queue_and_rank_requests_reach_cytube(stack: RobotStack,
                                                                tmp_path: Path) -> None:
    """The economy's ``ctx.robot`` through its real kryten-py bus and the real robot: a queued
    item reaches CyTube and the bot reads CyTube's answer (accepted with its uid, refused with
    its reason); a rank request reaches CyTube, the bot knowing its own rank (3) from the
    robot's userlist."""
    fake = stack.fake
    infos = resolve_plugins(["wallet", Jukebox])
    config = build_config(infos, {"nats": {"servers": [stack.nats_url]}, "bot": {"username": BOT},
                                  "ignored_users": []},
                          database_url=f"sqlite+aiosqlite:///{tmp_path / 'jukebox.db'}",
                          channel=CHANNEL)
    config = attrs.evolve(config, core=attrs.evolve(config.core, channels=[
        ChannelConfig(stack.domain, CHANNEL)]))
    await fake.wait_limiter_cooled()  # CyTube limits per connection: see the bought-item test
    app = EconomyApp(config, infos, strict_hooks=True)
    await app.start()
    try:
        await wait_for(lambda: app.rooms[CHANNEL].seeded, "the bot seeding the room", 20)
        assert app.robot.bot_rank(CHANNEL) == BOT_RANK

        async def pm(text: str, expect: Callable[[str], bool]) -> str:
            mark = len(fake.pms)
            await fake.pm_to_bot("carol", text)
            reply = await fake.wait_for_pm("carol", expect, since=mark, timeout=30)
            return reply.text

        fake.answer_next_queue(QueueAnswer.accept("Night of the Lepus", 5400))
        reply = await pm("put lepus02", lambda t: t.startswith("queued"))
        request = fake.queue_requests[-1]
        assert (request.media_id, request.pos, request.outcome) == ("lepus02", "end", "accepted")
        assert reply == f"queued uid={request.uid} error=None"

        fake.answer_next_queue(QueueAnswer.refuse("Video exceeds the maximum length"))
        reply = await pm("put toolong2", lambda t: t.startswith("refused"))
        assert reply == "refused uid=None error=Video exceeds the maximum length"

        await fake.add_user("erin", 1)
        ranks = len(fake.rank_requests)
        assert await pm("promote @erin", lambda t: "rank" in t) == "rank asked"
        asked = await fake.wait_for_rank_request(since=ranks)
        assert (asked.sender, asked.name, asked.rank, asked.outcome) == (
            BOT, "erin", 2, "applied")
    finally:
        await app.stop()



async def test_a_bought_item_reaches_cytube_through_the_real_robot(stack: RobotStack,
                                                                  tmp_path: Path) -> None:
    """media_queue through the real robot: carol searches the (fake) MediaCMS, picks, says YES;
    the custom-media manifest reaches CyTube as a ``queue`` frame at the end, CyTube accepts
    it, and only then is carol charged and told. The robot's KV playlist then holds it (read by
    ``ctx.robot.playlist``), so buying it again is refused before anything is held. Then a bot
    that dies after CyTube took its next item but before storing the answer: the restarted bot
    reads the robot's playlist once the room is seeded and charges it (told to carol)."""
    from economy_plugins.media_queue import MediaQueue

    from .fake_mediacms import FakeMediaCms, media

    fake = stack.fake
    catalogue = FakeMediaCms([media("lepus03", "Night of the Lepus", 5400),
                              media("lepus04", "Night of the Lepus II", 5400)])
    url = await catalogue.start()
    manifest = "{url}/api/v1/media/cytube/{token}.json?format=json"
    infos = resolve_plugins(["wallet", MediaQueue])
    config = build_config(infos, {"nats": {"servers": [stack.nats_url]}, "bot": {"username": BOT},
                                  "ignored_users": [],
                                  "plugins": {"media_queue": {
                                      "mediacms": {"base_url": url, "api_token_env": ""},
                                      "blackout_windows": [], "queue_cooldown_minutes": 0}}},
                          database_url=f"sqlite+aiosqlite:///{tmp_path / 'media.db'}",
                          channel=CHANNEL)
    config = attrs.evolve(config, core=attrs.evolve(config.core, channels=[
        ChannelConfig(stack.domain, CHANNEL)]))
    # CyTube keeps its limiter per connection: the robot's may still hold the earlier tests'
    # used-up burst, which a freshly started bot cannot know (in production the unit's
    # RestartSec=5 outlasts CyTube's 2 s cooldown); every bot started here waits for it
    await fake.wait_limiter_cooled()
    app = EconomyApp(config, infos, strict_hooks=True)
    await app.start()
    try:
        await wait_for(lambda: app.rooms[CHANNEL].seeded, "the bot seeding the room", 20)
        assert (await app.ledger.credit(CHANNEL, "carol", 5000, type="admin_grant")).ok

        async def pm(text: str, expect: Callable[[str], bool]) -> str:
            mark = len(fake.pms)
            await fake.pm_to_bot("carol", text)
            reply = await fake.wait_for_pm("carol", expect, since=mark, timeout=30)
            return reply.text

        await pm("search lepus", lambda t: "Reply with a number" in t)
        assert "Night of the Lepus" in await pm("1", lambda t: "YES" in t)
        fake.answer_next_queue(QueueAnswer.accept("Night of the Lepus", 5400))
        mark = len(fake.pms)
        await fake.pm_to_bot("carol", "yes")
        told = (await fake.wait_for_pm("carol", lambda t: "is in the playlist" in t,
                                       since=mark, timeout=30)).text
        assert "Balance: 4,000" in told
        request = fake.queue_requests[-1]
        assert (request.media_type, request.media_id, request.pos, request.outcome) == (
            "cm", manifest.format(url=url, token="lepus03"), "end", "accepted")
        assert await app.ledger.balance(CHANNEL, "carol") == 4000

        # the robot's KV playlist (its own format) holds it: a second purchase is refused
        async def listed(token: str) -> list[Any]:
            items = await app.robot.playlist(CHANNEL) or ()
            return [i for i in items if i.media_id == manifest.format(url=url, token=token)]

        async def on_playlist() -> bool:
            return bool(await listed("lepus03"))

        await wait_for(on_playlist, "the item in the robot's KV playlist", 10)
        [item] = await listed("lepus03")
        assert (item.media_type, item.uid, item.seconds) == ("cm", request.uid, 5400)
        await pm("queue lepus03", lambda t: "YES" in t)
        assert await pm("yes", lambda t: "Nothing was charged" in t) == (
            "🎬 “Night of the Lepus” is already on the playlist. Nothing was charged.")
        assert fake.queue_requests[-1] is request

        # the bot dies after CyTube took lepus04 and before the answer is stored
        settlement = app.plugins["media_queue"].instance.settlement
        stored = asyncio.Event()

        async def dies_before_storing(*_: Any) -> None:
            await stored.wait()  # never set: the process is gone

        settlement.settle = dies_before_storing
        await pm("queue lepus04", lambda t: "YES" in t)
        fake.answer_next_queue(QueueAnswer.accept("Night of the Lepus II", 5400))
        await pm("yes", lambda t: "held" in t)
        await fake.wait_for_queue(lambda q: q.media_id.endswith("lepus04.json?format=json"))
        await wait_for(lambda: listed("lepus04"), "lepus04 in the robot's KV playlist", 10)
        for task in list(settlement.tasks):
            task.cancel()
        await settlement.drain()
        await app.stop()
        await fake.wait_limiter_cooled()
        mark = len(fake.pms)
        app = EconomyApp(config, infos, strict_hooks=True)
        await app.start()
        told = (await fake.wait_for_pm("carol", lambda t: "Night of the Lepus II" in t,
                                       since=mark, timeout=30)).text
        assert "is in the playlist" in told and "Balance: 3,000" in told
        assert await app.ledger.open_escrows(CHANNEL) == []
        assert await app.ledger.verify() == []
    finally:
        await app.stop()
        await catalogue.stop()


async def test_fake_cytube_limiter_is_cytubes() -> None:
    """The fake's limiter behaves as CyTube's ``newRateLimiter`` with {burst 20, sustained 10}
    (no robot needed)."""
    now = [1000.0]
    limiter = ChatRateLimiter(lambda: now[0])

    def send(at: float) -> bool:
        now[0] = 1000.0 + at
        return not limiter.throttle(*MIN_ANTIFLOOD)

    assert all(send(0.0) for _ in range(20))  # the burst
    assert not send(0.0) and not send(0.09)  # then 100 ms apart, counted from the last pass
    assert send(0.1) and not send(0.15) and send(0.2)
    # 1.9 s of quiet is less than the cooldown (burst / sustained = 2 s): still 1 per 100 ms
    assert send(2.1) and not send(2.1)
    # more than 2 s after the last message that passed: the whole burst is back
    now[0] = 1000.0 + 3.0
    assert not limiter.cooled(2.0)  # 0.9 s after the last pass
    now[0] = 1000.0 + 4.2
    assert limiter.cooled(2.0)  # 2.1 s after it: the next message starts a fresh burst
    assert all(send(4.2) for _ in range(20)) and not send(4.2)
    assert not limiter.cooled(2.0)


async def test_fake_cytube_escapes_like_cytube() -> None:
    text = """fish & chips <3 "yes" (it's) https://x.test/a?b=1&c=2"""
    assert format_message(text) == (
        "fish &amp; chips &lt;3 &quot;yes&quot; &#40;it&#39;s&#41; "
        '<a href="https://x.test/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">'
        "https://x.test/a?b=1&amp;c=2</a>")


async def test_robot_behaviour_a_bot_must_live_with(stack: RobotStack) -> None:
    """Facts about kryten-robot 1.12.6, pinned so that a new robot version shows up here:
    its rank answer ignores the channel rank; an ``addvideo`` CyTube never answers is reported
    as a success (uid None) after 8 s; and commands are handled one at a time, so a PM sent
    meanwhile waits for that answer."""
    import nats
    from kryten import KrytenClient

    fake = stack.fake
    nc = await nats.connect(stack.nats_url)
    client = KrytenClient({"nats": {"servers": [stack.nats_url]},
                           "channels": [{"domain": stack.domain, "channel": CHANNEL}],
                           "chat_min_delay": 0.0, "chat_jitter": 0.0, "log_level": "ERROR"})
    await client.connect()
    try:
        reply = await nc.request(f"kryten.user_level.{stack.domain}.{CHANNEL}", b"{}",
                                 timeout=5)
        assert json.loads(reply.data) == {"success": True, "rank": 1, "username": BOT}
        assert fake.rank_of(BOT) == BOT_RANK
        users = await kv_users(stack.nats_url, CHANNEL) or []
        assert {"name": BOT, "rank": BOT_RANK} in [
            {"name": u.get("name"), "rank": u.get("rank")} for u in users]

        fake.answer_next_queue(QueueAnswer.silent())
        started = time.monotonic()
        pending = asyncio.create_task(client.add_media(CHANNEL, "yt", "lost01", timeout=15))
        await fake.wait_for_queue(lambda q: q.media_id == "lost01")
        mark = len(fake.pms)
        await client.send_pm(CHANNEL, "carol", "sent while the robot waits for CyTube")
        answer = await asyncio.wait_for(pending, 15)
        answered = time.monotonic() - started
        held = await fake.wait_for_pm("carol", since=mark, timeout=5)
        assert answer["data"] == {"success": True, "uid": None}
        assert 7.5 <= answered < 15
        assert held.at - fake.queue_requests[-1].at >= 7.5
    finally:
        await client.disconnect()
        await nc.close()
