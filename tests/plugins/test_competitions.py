"""Competitions: SPEC §3.13 and acceptance scenario 44 (SPEC §8). The day's counters are booked
straight into the ledger (chat_triggers is enabled because it declares the chat counters), so
every balance change here is a competition prize unless a test credits something itself."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from economy_plugins.competitions import Competitions, CompetitionsConfig
from economy_plugins.competitions.judge import Standing, prize, winners

from economy_core.clock import FakeClock
from economy_core.config import ConfigError
from economy_core.ledger import Kind, Posting
from economy_core.testing import AppHarness, MakeApp

from ..crash import at_every_commit

CHANNEL = "testchan"
TUESDAY = date(2026, 3, 3)
BERLIN = ZoneInfo("Europe/Berlin")


async def competitions_app(make_app: MakeApp, config: dict[str, Any] | None = None, *,
                           start: datetime | None = None, tz: str = "UTC",
                           db: str = "economy.db") -> AppHarness:
    return await make_app(plugins=["chat_triggers", Competitions],
                          config={"clock": {"timezone": tz},
                                  "plugins": {"competitions": config or {}}},
                          channel=CHANNEL, db=db,
                          clock=FakeClock(start or datetime(2026, 3, 3, 20, 0, tzinfo=UTC)))


async def book(app: AppHarness, user: str, day: date, **counters: int) -> None:
    """Give ``user`` these counter values on ``day`` (``z_earned`` as real earnings)."""
    for counter, value in counters.items():
        if counter == "z_earned":
            await app.ledger.credit(CHANNEL, user, value, type="earn", kind=Kind.EARN)
        else:
            await app.ledger.bump_daily(CHANNEL, user, day, counter, value)


async def prizes(app: AppHarness, user: str) -> list[Posting]:
    postings = await app.ledger.history(CHANNEL, user, limit=10_000)
    return [p for p in reversed(postings) if p.type == "competition"]


async def paid(app: AppHarness, user: str) -> list[tuple[str | None, int]]:
    return [(p.trigger_id, p.amount) for p in await prizes(app, user)]


async def until(app: AppHarness, when: datetime) -> None:
    await app.clock.set(when)
    await app.settle()


# -- scenario 44 ----------------------------------------------------------------------------------


async def test_scenario_44_chatterbox_and_top_earner(make_app: MakeApp) -> None:
    app = await competitions_app(make_app)
    await book(app, "alice", TUESDAY, messages_sent=52, z_earned=30)
    await book(app, "bob", TUESDAY, messages_sent=49, z_earned=20)
    await book(app, "carol", TUESDAY, z_earned=400)
    await until(app, datetime(2026, 3, 3, 23, 58, tzinfo=UTC))
    assert app.chat_lines() == []
    await app.advance(minutes=1)
    assert await paid(app, "alice") == [("competition.chatterbox", 20)]
    assert await paid(app, "bob") == []
    assert await paid(app, "carol") == [("competition.top_earner_bonus", 100)]
    assert app.chat_lines() == [
        "🏆 Today's winners: Top earner: the most earned in a day — carol (+100 Z) · "
        "Chatterbox: 50 chat lines in a day — alice (+20 Z)"]
    assert app.pms_to("alice")[0].startswith("🏆 Chatterbox: 50 chat lines in a day: +20 Z-Coins!")
    posting = (await prizes(app, "carol"))[0]
    assert posting.metadata == {"day": "2026-03-03", "field": "z_earned", "value": 400}
    assert "factor" not in posting.metadata
    await app.advance(days=1)  # the next day pays nothing (no counters)
    assert len(await prizes(app, "alice")) == 1
    assert await app.ledger.verify() == []


# -- the rules ------------------------------------------------------------------------------------


def test_winners_and_prizes_are_pure_rules() -> None:
    comps = {c.id: c for c in CompetitionsConfig().daily}
    rows = [Standing("bob", 7), Standing("Alice", 7), Standing("carol", 3)]
    assert winners(comps["gif_champion"], rows) == [Standing("Alice", 7)]  # tie: alphabetical
    assert winners(comps["gif_enthusiast"], rows) == [Standing("Alice", 7), Standing("bob", 7)]
    assert winners(comps["gif_champion"], [Standing("bob", 0)]) == []  # the top needs > 0
    top = comps["top_earner_bonus"]
    assert [prize(top, e) for e in (400, 401, 3, 0)] == [100, 100, 1, 1]
    assert prize(comps["chatterbox"], 999) == 20


async def test_threshold_pays_everyone_at_or_over_it_and_never_the_banned(
        make_app: MakeApp) -> None:
    config = {"daily": [
        {"id": "gifs", "description": "GIFs", "reward": 15,
         "condition": {"type": "daily_threshold", "field": "gifs_posted", "threshold": 5}},
        {"id": "gif_top", "description": "Most GIFs", "reward": 35,
         "condition": {"type": "daily_top", "field": "gifs_posted"}}]}
    app = await competitions_app(make_app, config)
    for user, gifs in (("dave", 9), ("alice", 5), ("Bob", 7), ("carol", 7), ("erin", 4)):
        await book(app, user, TUESDAY, gifs_posted=gifs)
    await app.app.identity.ban(CHANNEL, "dave", by="admin", reason="test",
                               at=app.clock.now())
    await until(app, datetime(2026, 3, 3, 23, 59, tzinfo=UTC))
    assert {u: await paid(app, u) for u in ("alice", "bob", "carol", "dave", "erin")} == {
        "alice": [("competition.gifs", 15)],
        "bob": [("competition.gifs", 15), ("competition.gif_top", 35)],  # tie: bob < carol
        "carol": [("competition.gifs", 15)], "dave": [], "erin": []}
    assert app.chat_lines() == [
        "🏆 Today's winners: GIFs — bob, carol, alice (+15 Z) · Most GIFs — bob (+35 Z)"]


async def test_earnings_exclude_tips_gambling_refunds_and_the_days_prizes(
        make_app: MakeApp) -> None:
    config = {"daily": [
        {"id": "chatty", "description": "Chatty", "reward": 500,
         "condition": {"type": "daily_threshold", "field": "messages_sent", "threshold": 1}},
        {"id": "top", "description": "Top earner", "reward_percent_of_earnings": 10,
         "condition": {"type": "daily_top", "field": "z_earned"}}]}
    app = await competitions_app(make_app, config)
    await book(app, "alice", TUESDAY, z_earned=300)
    await book(app, "bob", TUESDAY, z_earned=200, messages_sent=3)
    await app.ledger.credit(CHANNEL, "carol", 5000, type="gamble_win", kind=Kind.GAMBLE)
    await app.ledger.transfer(CHANNEL, "carol", "bob", 1000, send_type="tip_send",
                              receive_type="tip_receive")
    held = await app.ledger.escrow(CHANNEL, "carol", 100, purpose="x")
    await app.ledger.refund(held.escrow_id)
    await until(app, datetime(2026, 3, 3, 23, 59, tzinfo=UTC))
    # bob's 500 chatty prize is today's z_earned too, but prizes are not earnings to judge
    assert await paid(app, "alice") == [("competition.top", 30)]
    assert await paid(app, "bob") == [("competition.chatty", 500)]
    assert await paid(app, "carol") == []


async def test_one_failing_competition_does_not_stop_the_others(make_app: MakeApp,
                                                                monkeypatch: Any) -> None:
    app = await competitions_app(make_app)
    await book(app, "alice", TUESDAY, messages_sent=60, gifs_posted=6)
    plugin: Competitions = app.plugin("competitions")
    original = plugin.settle

    async def broken(channel: str, day: date, comp: Any, *args: Any) -> Any:
        if comp.id == "gif_enthusiast":
            raise RuntimeError("boom")
        return await original(channel, day, comp, *args)

    monkeypatch.setattr(plugin, "settle", broken)
    await until(app, datetime(2026, 3, 3, 23, 59, tzinfo=UTC))
    assert await paid(app, "alice") == [("competition.chatterbox", 20)]
    monkeypatch.setattr(plugin, "settle", original)
    app = await app.restart()  # the next start catches the failed one up (today, after 23:59)
    await app.advance(seconds=1)
    assert await paid(app, "alice") == [("competition.chatterbox", 20),
                                        ("competition.gif_enthusiast", 15)]


async def test_a_counter_nobody_keeps_is_reported_at_start_and_skipped(
        make_app: MakeApp, caplog: pytest.LogCaptureFixture) -> None:
    config = {"daily": [
        {"id": "hugs", "description": "Hugger", "reward": 5,
         "condition": {"type": "daily_threshold", "field": "hugs_given", "threshold": 1}},
        {"id": "chatty", "description": "Chatty", "reward": 5,
         "condition": {"type": "daily_threshold", "field": "messages_sent", "threshold": 1}}]}
    with caplog.at_level(logging.WARNING):
        app = await competitions_app(make_app, config)
    assert any("'hugs'" in r.message and "hugs_given" in r.message and "messages_sent"
               in r.message for r in caplog.records)
    await book(app, "alice", TUESDAY, messages_sent=2, hugs_given=3)
    await until(app, datetime(2026, 3, 3, 23, 59, tzinfo=UTC))
    assert await paid(app, "alice") == [("competition.chatty", 5)]
    reply = (await app.pm("alice", "competitions"))[0]
    assert "Chatty" in reply and "Hugger" not in reply


@pytest.mark.parametrize(("entry", "message"), [
    ({"reward": 5, "reward_percent_of_earnings": 10}, "exactly one"),
    ({}, "exactly one"),
    ({"reward": 0}, "between 1"),
])
def test_bad_competitions_are_config_errors(entry: dict[str, Any], message: str) -> None:
    from economy_core.config import parse_config

    data = {"channels": [{"channel": "x"}], "plugins": {
        "enabled": ["competitions"], "competitions": {"daily": [dict(
            {"id": "a", "description": "A",
             "condition": {"type": "daily_top", "field": "z_earned"}}, **entry)]}}}
    with pytest.raises(ConfigError, match=message):
        parse_config(data, schemas={"competitions": CompetitionsConfig}, env={})
    twice = {"id": "a", "description": "A", "reward": 1,
             "condition": {"type": "daily_top", "field": "z_earned"}}
    data["plugins"]["competitions"] = {"daily": [twice, twice]}  # type: ignore[index]
    with pytest.raises(ConfigError, match="used twice"):
        parse_config(data, schemas={"competitions": CompetitionsConfig}, env={})


async def test_the_competitions_command_lists_them_with_your_progress(
        make_app: MakeApp) -> None:
    app = await competitions_app(make_app)
    await book(app, "alice", TUESDAY, messages_sent=12)
    reply = (await app.pm("alice", "competitions"))[0]
    assert reply.splitlines() == [
        "🏆 Daily competitions (judged at 23:59):",
        "• GIF enthusiast: 5 GIFs in a day → 15 Z (you: 0)",
        "• Social butterfly: 5 kudos given in a day → 15 Z (you: 0)",
        "• Top earner: the most earned in a day → 25 % of that day's earnings (you: 0)",
        "• Chatterbox: 50 chat lines in a day → 20 Z (you: 12)"]


# -- once per day and id --------------------------------------------------------------------------


async def test_a_restart_at_2359_or_after_midnight_pays_once(make_app: MakeApp) -> None:
    app = await competitions_app(make_app)
    await book(app, "alice", TUESDAY, messages_sent=50)
    await until(app, datetime(2026, 3, 3, 23, 58, 50, tzinfo=UTC))
    await app.app.stop()  # down at 23:59
    await app.clock.set(datetime(2026, 3, 3, 23, 59, 20, tzinfo=UTC))
    app = await app.restart()
    await app.advance(seconds=1)
    assert await paid(app, "alice") == [("competition.chatterbox", 20)]
    for later in (datetime(2026, 3, 3, 23, 59, 40, tzinfo=UTC),
                  datetime(2026, 3, 4, 0, 30, tzinfo=UTC)):
        await app.clock.set(later)
        app = await app.restart()
        await app.advance(minutes=1)
    assert await paid(app, "alice") == [("competition.chatterbox", 20)]
    assert len(app.chat_lines()) == 1

    late = await competitions_app(make_app, db="late.db")  # down over 23:59 entirely
    await book(late, "bob", TUESDAY, messages_sent=50)
    await late.app.stop()
    await late.clock.set(datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
    late = await late.restart()
    await late.advance(seconds=1)  # yesterday is caught up
    assert await paid(late, "bob") == [("competition.chatterbox", 20)]


async def test_every_competition_is_paid_once_whatever_commit_a_crash_hits(
        make_app: MakeApp) -> None:
    async def build(db: str) -> AppHarness:
        app = await competitions_app(make_app, db=db,
                                     start=datetime(2026, 3, 3, 23, 57, tzinfo=UTC))
        await book(app, "alice", TUESDAY, messages_sent=60, gifs_posted=5, z_earned=50)
        await book(app, "bob", TUESDAY, kudos_given=5, z_earned=80)
        await book(app, "carol", TUESDAY, messages_sent=51, gifs_posted=9)
        return app

    expected = Counter({("alice", "competition.chatterbox", 20): 1,
                        ("alice", "competition.gif_enthusiast", 15): 1,
                        ("bob", "competition.social_butterfly", 15): 1,
                        ("bob", "competition.top_earner_bonus", 20): 1,
                        ("carol", "competition.chatterbox", 20): 1,
                        ("carol", "competition.gif_enthusiast", 15): 1})

    async def check(app: AppHarness, point: int | None) -> None:
        assert await app.ledger.verify() == []
        found: Counter[tuple[str, str | None, int]] = Counter()
        for user in ("alice", "bob", "carol"):
            found.update((user, p.trigger_id, p.amount) for p in await prizes(app, user))
        assert found == expected, point

    await at_every_commit(build, [("wait", 4), ("wait", 1)], check, at_least=4)


# -- the channel's day ----------------------------------------------------------------------------


async def test_judged_at_local_2359_across_both_dst_changes(make_app: MakeApp) -> None:
    days = [date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30),
            date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26)]
    app = await competitions_app(make_app, tz="Europe/Berlin",
                                 start=datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN))
    for day in days:
        await until(app, datetime.combine(day, datetime.min.time(), BERLIN) + timedelta(hours=12))
        await book(app, "alice", day, messages_sent=50)
        await until(app, datetime.combine(day, datetime.min.time(), BERLIN)
                    + timedelta(hours=23, minutes=58))
        assert [p.metadata["day"] for p in await prizes(app, "alice")] == [
            d.isoformat() for d in days[:days.index(day)]]
        await app.advance(minutes=1)  # 23:59 local, whatever the UTC offset
    postings = await prizes(app, "alice")
    assert [p.metadata["day"] for p in postings] == [d.isoformat() for d in days]
    assert [p.at.astimezone(BERLIN).strftime("%H:%M") for p in postings] == ["23:59"] * 6
    assert [p.at.astimezone(UTC).hour for p in postings] == [22, 21, 21, 21, 22, 22]
