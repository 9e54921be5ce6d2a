"""Rain: SPEC §3.4 through the real scheduler, ledger, outbox and router on a SQLite file, time
driven by the FakeClock (Tue 2026-03-03 20:00 UTC). The random source is scripted per test."""

from __future__ import annotations

import contextlib
import random
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from economy_plugins.rain import Rain

from economy_core.events import UserJoined
from economy_core.hookspecs import hookimpl
from economy_core.hooktypes import AwardRequest, Multiplier
from economy_core.ledger import Posting
from economy_core.testing import AppHarness, MakeApp

CHANNEL = "testchan"
START = datetime(2026, 3, 3, 20, 0, tzinfo=UTC)


class ScriptedRandom(random.Random):
    """``uniform`` returns the given offsets in turn and ``randint`` the given amounts in turn
    (the last value repeats); every ``randint`` range asked for is kept."""

    def __init__(self, offsets: Sequence[float], amounts: Sequence[int]) -> None:
        super().__init__(0)
        self.offsets = list(offsets)
        self.amounts = list(amounts)
        self.ranges: list[tuple[int, int]] = []

    def uniform(self, a: float, b: float) -> float:
        return self.offsets.pop(0) if len(self.offsets) > 1 else self.offsets[0]

    def randint(self, a: int, b: int) -> int:
        self.ranges.append((a, b))
        return self.amounts.pop(0) if len(self.amounts) > 1 else self.amounts[0]


def scripted(offsets: Sequence[float] = (0.0,), amounts: Sequence[int] = (10,)) -> type[Rain]:
    """Rain with a scripted random source (waits exactly the interval by default)."""

    class ScriptedRain(Rain):
        def __init__(self, ctx: Any) -> None:
            super().__init__(ctx)
            self.random = ScriptedRandom(offsets, amounts)

    return ScriptedRain


def booster(factors: dict[str, list[tuple[str, float, bool]]]) -> type:
    """A stand-in for events/ranks: multiplies rain by ``factors`` (name, factor, hidden) per
    user and records what it was asked."""

    class Booster:
        name = "booster"

        def __init__(self, ctx: Any) -> None:
            self.ctx = ctx
            self.seen: list[AwardRequest] = []

        @hookimpl
        def economy_award_multiplier(self, award: AwardRequest) -> list[Multiplier]:
            self.seen.append(award)
            if award.trigger_id != "rain.ambient":
                return []
            return [Multiplier(n, f, h) for n, f, h in factors.get(award.username, [])]

    return Booster


async def rain_app(make_app: MakeApp, config: dict[str, Any] | None = None, *,
                   rain: type[Rain] | None = None, extra: Sequence[Any] = (),
                   core: dict[str, Any] | None = None, **kwargs: Any) -> AppHarness:
    overrides: dict[str, Any] = {"plugins": {"rain": config or {}}, **(core or {})}
    return await make_app(plugins=[rain or scripted(), "wallet", *extra], config=overrides,
                          channel=CHANNEL, **kwargs)


async def rain_postings(app: AppHarness, user: str) -> list[Posting]:
    postings = await app.ledger.history(CHANNEL, user, limit=10_000)
    return [p for p in reversed(postings) if p.type == "rain"]


async def drop_times(app: AppHarness, users: Sequence[str]) -> list[datetime]:
    times = {p.at for u in users for p in await rain_postings(app, u)}
    return sorted(times)


async def test_rain_pays_everyone_present_announces_first_then_pms(make_app: MakeApp) -> None:
    app = await rain_app(make_app)
    for user in ("alice", "bob", "carol"):
        await app.join(user)
    await app.advance(minutes=44)
    assert app.chat_lines() == [] and await app.balance("alice") == 0
    await app.advance(minutes=1)  # 45 minutes: the drop
    for user in ("alice", "bob", "carol"):
        [posting] = await rain_postings(app, user)
        assert (posting.amount, posting.trigger_id, posting.kind.value) == (10, "rain.ambient",
                                                                             "earn")
        assert posting.at == START + timedelta(minutes=45)
    tx_ids = {p.tx_id for u in ("alice", "bob", "carol") for p in await rain_postings(app, u)}
    assert len(tx_ids) == 1  # one batched credit
    [line] = app.chat_lines()
    assert "3 user(s)" in line and "Z-Coins" in line
    sent = app.transport.sent
    assert sent[0].to is None  # the announcement went out before any PM
    assert [s.to for s in sent[1:]] == ["alice", "bob", "carol"]
    assert app.pms_to("bob")[0].startswith("☔ Rain drop: +10 Z-Coins for being here.")
    assert await app.ledger.verify() == []


class Committed:
    """Records, for each committed ledger transaction with rain postings, the chat lines the
    outbox had been given by then."""

    name = "committed"

    def __init__(self, ctx: Any) -> None:
        self.chat_before_commit: list[list[str]] = []
        self.lines: list[str] = []

    @hookimpl
    async def economy_transaction_committed(self, postings: Sequence[Posting]) -> None:
        if any(p.type == "rain" for p in postings):
            self.chat_before_commit.append(list(self.lines))


async def test_announcement_is_queued_before_the_credit_commits(
        make_app: MakeApp, monkeypatch: pytest.MonkeyPatch) -> None:
    app = await rain_app(make_app, extra=[Committed])
    for user in ("alice", "bob", "carol"):
        await app.join(user)
    observer = app.plugin("committed")
    outbox = app.app.outbox
    chat = outbox.chat
    database = app.app.engine.url.database
    committed_when_queued: list[int] = []

    def watched_chat(channel: str, text: str, **kwargs: Any) -> None:
        # What another connection sees now is what has been committed so far.
        with contextlib.closing(sqlite3.connect(database)) as db:
            rows = db.execute("SELECT COUNT(*) FROM core_transactions WHERE type = 'rain'")
            committed_when_queued.append(rows.fetchone()[0])
        observer.lines.append(text)
        chat(channel, text, **kwargs)

    monkeypatch.setattr(outbox, "chat", watched_chat)
    await app.advance(minutes=45)
    assert committed_when_queued == [0]  # queued while the credit was not committed yet
    [line] = observer.chat_before_commit[0]
    assert "3 user(s)" in line  # and the commit's observers find it queued already
    assert [len(await rain_postings(app, u)) for u in ("alice", "bob", "carol")] == [1, 1, 1]


async def test_nobody_present_means_no_drop_and_no_announcement(make_app: MakeApp) -> None:
    app = await rain_app(make_app)
    await app.join("alice")
    await app.leave("alice")
    await app.advance(hours=5)
    assert app.chat_lines() == []
    assert await rain_postings(app, "alice") == []
    assert app.plugin("rain").random.ranges == []  # no draw either


async def test_banned_bot_and_ignored_users_get_nothing(make_app: MakeApp) -> None:
    app = await rain_app(make_app)
    await app.join("alice")
    await app.join("mallory")
    await app.join("CyTubeBot")  # ignored by default (the bus drops it; rain checks too)
    await app.join("ZCoinBot")
    await app.app.identity.ban(CHANNEL, "mallory", by="admin", reason="test",
                               at=app.clock.now())
    await app.advance(minutes=45)
    assert [p.amount for p in await rain_postings(app, "alice")] == [10]
    for user in ("mallory", "CyTubeBot", "ZCoinBot"):
        assert await rain_postings(app, user) == []
        assert app.pms_to(user) == []
    assert "1 user(s)" in app.chat_lines()[0]


async def test_wait_is_interval_times_jitter(make_app: MakeApp) -> None:
    app = await rain_app(make_app, {"interval_minutes": 10},
                         rain=scripted(offsets=(0.3, -0.3, 0.3, 0.0)))
    await app.join("alice")
    await app.advance(hours=1)
    # 20:00 + 13 min, then + 7, + 13, + 10, + 10 ...
    offsets = [t - START for t in await drop_times(app, ["alice"])]
    assert offsets[:5] == [timedelta(minutes=m) for m in (13, 20, 33, 43, 53)]


async def test_wait_is_never_below_one_minute(make_app: MakeApp) -> None:
    app = await rain_app(make_app, {"interval_minutes": 1}, rain=scripted(offsets=(-0.3,)))
    await app.join("alice")
    await app.advance(minutes=3)
    offsets = [t - START for t in await drop_times(app, ["alice"])]
    assert offsets == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=3)]


async def test_production_waits_stay_within_thirty_percent(make_app: MakeApp) -> None:
    app = await rain_app(make_app, rain=Rain)
    plugin = app.plugin("rain")
    assert isinstance(plugin.random, random.SystemRandom)
    waits = [plugin.next_wait() for _ in range(2000)]
    assert 0.7 * 45 * 60 <= min(waits) and max(waits) <= 1.3 * 45 * 60
    assert max(waits) - min(waits) > 0.5 * 45 * 60  # it really varies


async def test_one_draw_per_channel_within_min_and_max(make_app: MakeApp) -> None:
    class Seeded(Rain):
        def __init__(self, ctx: Any) -> None:
            super().__init__(ctx)
            self.random = random.Random(7)

    app = await rain_app(make_app, {"interval_minutes": 5, "min_amount": 7, "max_amount": 9},
                         rain=Seeded)
    await app.join("alice")
    await app.join("bob")
    await app.advance(hours=10)
    alice, bob = await rain_postings(app, "alice"), await rain_postings(app, "bob")
    assert len(alice) > 50
    assert {p.amount for p in alice} == {7, 8, 9}
    assert [(p.at, p.amount) for p in alice] == [(p.at, p.amount) for p in bob]  # one draw


async def test_each_channel_draws_its_own_amount(make_app: MakeApp) -> None:
    channels = [{"domain": "cytu.be", "channel": CHANNEL},
                {"domain": "cytu.be", "channel": "other"}]
    app = await rain_app(make_app, rain=scripted(amounts=(6, 20)),
                         core={"channels": channels})
    await app.join("alice")
    await app.app.handle_event(UserJoined("other", "alice", app.clock.now(), 1))
    await app.advance(minutes=45)
    assert app.plugin("rain").random.ranges == [(5, 25), (5, 25)]
    assert await app.balance("alice") == 6
    assert await app.app.ledger.balance("other", "alice") == 20


async def test_multipliers_scale_each_share_rounded_at_least_one(make_app: MakeApp) -> None:
    boost = booster({"alice": [("Double Time", 2.0, False)],
                     "bob": [("Double Time", 2.0, False), ("Gaffer rain", 1.2, False)],
                     "carol": [("secret", 1.5, True)],
                     "dave": [("drought", 0.01, False)]})
    app = await rain_app(make_app, rain=scripted(amounts=(5,)), extra=[boost])
    for user in ("alice", "bob", "carol", "dave", "erin"):
        await app.join(user)
    await app.advance(minutes=45)
    got = {u: [p.amount for p in await rain_postings(app, u)]
           for u in ("alice", "bob", "carol", "dave", "erin")}
    # 5×2 = 10; 5×2×1.2 = 12; 5×1.5 = 7.5 → 8 (half up); 5×0.01 → at least 1; erin 5
    assert got == {"alice": [10], "bob": [12], "carol": [8], "dave": [1], "erin": [5]}
    [bob] = await rain_postings(app, "bob")
    assert bob.metadata["base"] == 5
    assert bob.metadata["factors"] == {"Double Time": 2.0, "Gaffer rain": 1.2}
    [carol] = await rain_postings(app, "carol")
    assert carol.metadata["factors"] == {}  # hidden factors apply but are not listed
    asked = [a for a in app.plugin("booster").seen if a.trigger_id == "rain.ambient"]
    assert {(a.source, a.amount) for a in asked} == {("rain", 5.0)}
    assert app.pms_to("bob")[0].startswith("☔ Rain drop: +12 Z-Coins")


async def test_pm_notification_off_pays_and_announces_without_pms(make_app: MakeApp) -> None:
    app = await rain_app(make_app, {"pm_notification": False})
    await app.join("alice")
    await app.advance(minutes=45)
    assert await app.balance("alice") == 10
    assert len(app.chat_lines()) == 1
    assert app.pms_to("alice") == []


async def test_quiet_users_are_paid_without_a_pm(make_app: MakeApp) -> None:
    app = await rain_app(make_app)
    await app.join("alice")
    await app.join("bob")
    await app.pm("alice", "quiet")
    before = list(app.pms_to("alice"))
    await app.advance(minutes=45)
    assert await app.balance("alice") == 10 and await app.balance("bob") == 10
    assert app.pms_to("alice") == before
    assert "quiet" in app.pms_to("bob")[-1]  # notifications carry the quiet hint


async def test_announce_off_still_pays_and_pms(make_app: MakeApp) -> None:
    app = await rain_app(make_app, {"announce": False})
    await app.join("alice")
    await app.advance(minutes=45)
    assert app.chat_lines() == []
    assert await app.balance("alice") == 10
    assert any("Rain drop" in m for m in app.pms_to("alice"))


async def test_templates_are_used(make_app: MakeApp) -> None:
    app = await rain_app(make_app, {"message": "{user}: {amount} {currency} from the sky",
                                    "announce_message": "{count} soaked, {currency} falling"},
                         rain=scripted(amounts=(1, 7)))
    await app.join("alice")
    await app.join("bob")
    await app.advance(minutes=90)
    # the same line twice, 45 minutes apart on the clock: both go out
    assert app.chat_lines() == ["2 soaked, Z-Coins falling"] * 2
    assert app.pms_to("alice")[0].startswith("alice: 1 Z-Coin from the sky")
    assert app.pms_to("alice")[1].startswith("alice: 7 Z-Coins from the sky")


async def test_enabled_false_never_rains(make_app: MakeApp) -> None:
    app = await rain_app(make_app, {"enabled": False})
    await app.join("alice")
    await app.advance(hours=6)
    assert await app.balance("alice") == 0 and app.chat_lines() == []
    assert "Rain" not in "\n".join(await app.pm("alice", "rewards"))


async def test_rewards_lists_rain(make_app: MakeApp) -> None:
    app = await rain_app(make_app, {"interval_minutes": 30, "min_amount": 3, "max_amount": 8})
    reply = "\n".join(await app.pm("alice", "rewards"))
    assert "Rain: about every 30 min everyone here gets 3–8 Z" in reply


async def test_withheld_newcomers_get_no_rain_pm_and_are_not_counted(make_app: MakeApp
                                                                     ) -> None:
    app = await rain_app(make_app, core={"onboarding": {"min_account_age_minutes": 30}})
    await app.join("alice")
    await app.advance(minutes=30)
    await app.join("bob")  # 15 minutes old at the drop
    await app.advance(minutes=15)
    assert await app.balance("alice") == 10 and await app.balance("bob") == 0
    assert "1 user(s)" in app.chat_lines()[0]
    assert app.pms_to("bob") == []
    assert await app.ledger.account(CHANNEL, "bob") is None


async def test_withheld_by_the_ledger_means_no_pm(make_app: MakeApp) -> None:
    # Even when the ledger's gate withholds a credit the plugin expected to pay, no PM follows.
    app = await rain_app(make_app)
    await app.join("alice")
    await app.join("bob")
    gate = app.app.members

    async def withhold_bob(channel: str, usernames: Sequence[str]) -> set[str]:
        return {"bob"} & {u.casefold() for u in usernames}

    gate.withheld = withhold_bob
    gate.applies = lambda type: True
    await app.advance(minutes=45)
    assert await app.balance("alice") == 10 and await app.balance("bob") == 0
    assert app.pms_to("bob") == []
    assert any("Rain drop" in m for m in app.pms_to("alice"))
    [line] = app.chat_lines()
    assert "1 user(s)" in line  # the announcement counts who was paid


async def test_nobody_paid_means_no_announcement(make_app: MakeApp) -> None:
    app = await rain_app(make_app, core={"onboarding": {"min_account_age_minutes": 60}})
    await app.join("alice")
    await app.join("bob")
    await app.advance(minutes=45)  # both 45 minutes old: everything withheld
    assert await app.balance("alice") == 0 and await app.balance("bob") == 0
    assert app.chat_lines() == [] and app.pms_to("alice") == []
    assert app.plugin("rain").drops == 0
    await app.advance(minutes=45)  # 90 minutes old: paid and announced
    assert await app.balance("alice") == 10 and await app.balance("bob") == 10
    [line] = app.chat_lines()
    assert "2 user(s)" in line


async def test_a_retried_drop_pays_nothing_twice(make_app: MakeApp) -> None:
    app = await rain_app(make_app)
    await app.join("alice")
    plugin = app.plugin("rain")
    first = await plugin.drop(CHANNEL)
    again = await plugin.drop(CHANNEL)  # same channel, same instant: same idempotency key
    await app.settle()
    assert first.paid == {"alice": 10} and again.paid == {"alice": 10}
    assert await app.balance("alice") == 10
    assert len([m for m in app.pms_to("alice") if "Rain drop" in m]) == 1
    assert plugin.drops == 1


async def test_restart_starts_a_fresh_schedule_without_catch_up(make_app: MakeApp) -> None:
    app = await rain_app(make_app)
    await app.join("alice")
    await app.advance(minutes=50)  # one drop at 20:45
    app = await app.restart()
    await app.seed(["alice"])
    await app.advance(hours=3)  # the bot was "down" for nothing: no burst of missed drops
    times = await drop_times(app, ["alice"])
    assert [t - START for t in times] == [timedelta(minutes=m)
                                          for m in (45, 95, 140, 185, 230)]
    assert await app.ledger.verify() == []


@pytest.mark.parametrize("bad", [{"interval_minutes": 0}, {"min_amount": 0},
                                 {"min_amount": 10, "max_amount": 9},
                                 {"message": "{amount} {nope}"},
                                 {"announce_message": "{amount}"}])
async def test_bad_config_is_refused(make_app: MakeApp, bad: dict[str, Any]) -> None:
    from economy_core.config import ConfigError

    with pytest.raises(ConfigError):
        await rain_app(make_app, bad)
