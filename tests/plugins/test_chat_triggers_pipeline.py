"""chat_triggers: the pipeline's promises (SPEC §3.3, economy_core.triggers): every trigger on
one line, third-party triggers through ``economy_earning_triggers`` with the same caps,
multipliers, counters and analytics, isolation of a failing trigger, state from before the line,
who is never paid, caps that survive a restart, and the writer losing nothing at shutdown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from economy_core import Contract, Counter
from economy_core.hookspecs import hookimpl
from economy_core.hooktypes import AwardRequest, Multiplier
from economy_core.testing import MakeApp
from economy_core.triggers import Cap, ChatContext, TriggerHit

from .test_chat_triggers_kit import CHANNEL, CHAT_BOT, SPEC_NOW, Room, chat_room

ALL_TRIGGERS = [
    "chat.long_message", "chat.first_message_of_day", "chat.conversation_starter",
    "chat.first_after_media_change", "content.comment_during_media", "chat.laugh_received",
    "chat.kudos_received", "social.greeted_newcomer", "social.mentioned_by_other",
    "social.bot_interaction", "content.like_current", "content.survived_full_media",
]
SECTIONS = {
    "chat.long_message": "long_message", "chat.first_message_of_day": "first_message_of_day",
    "chat.conversation_starter": "conversation_starter",
    "chat.first_after_media_change": "first_after_media_change",
    "content.comment_during_media": "comment_during_media",
    "chat.laugh_received": "laugh_received", "chat.kudos_received": "kudos_received",
    "social.greeted_newcomer": "greeted_newcomer",
    "social.mentioned_by_other": "mentioned_by_other",
    "social.bot_interaction": "bot_interaction", "content.like_current": "like_current",
    "content.survived_full_media": "survived_full_media",
}
WITH_BOT = {"bot_interaction": {"bot_username": CHAT_BOT}}


async def busy_evening(room: Room) -> None:
    """A few minutes of room life in which every built-in trigger fires at least once."""
    await room.media("Movie", 600)
    await room.wait(5)
    await room.say("alice", "first! this movie is going to be so good, bob")
    await room.say("carol", "lol")
    await room.join("eve")
    await room.say("bob", "welcome eve")
    await room.say("bob", "alice++")
    await room.say(CHAT_BOT, "hello bob, nice to see you")
    await room.pm("alice", "like")
    await room.wait(600)
    await room.media("Next", 600, media_id="next")


async def test_every_trigger_fires_in_a_busy_evening(make_app: MakeApp) -> None:
    room = await chat_room(make_app, WITH_BOT)
    await busy_evening(room)
    fired = {p.trigger_id for p in await room.all_postings()}
    assert fired == set(ALL_TRIGGERS)
    assert {p.username for p in await room.all_postings()
            if p.trigger_id == "content.survived_full_media"} == {"alice", "bob", "carol", "dave"}
    assert await room.app.ledger.verify(CHANNEL) == []


@pytest.mark.parametrize("trigger", ALL_TRIGGERS)
async def test_a_disabled_trigger_never_pays(make_app: MakeApp, trigger: str) -> None:
    section = SECTIONS[trigger]
    config = {**WITH_BOT, section: {**WITH_BOT.get(section, {}), "enabled": False}}
    room = await chat_room(make_app, config)
    await busy_evening(room)
    fired = {p.trigger_id for p in await room.all_postings()}
    assert fired == set(ALL_TRIGGERS) - {trigger}


@pytest.mark.parametrize("trigger", ALL_TRIGGERS)
async def test_rewards_lists_only_visible_triggers(make_app: MakeApp, trigger: str) -> None:
    section = SECTIONS[trigger]
    room = await chat_room(make_app, {**WITH_BOT,
                                      section: {**WITH_BOT.get(section, {}), "hidden": False}})
    [reply] = await room.pm("alice", "rewards")
    lines = reply.splitlines()
    chat_lines = [line for line in lines if "more way(s) to earn" not in line]
    assert len(chat_lines) == 2  # the header and the one visible trigger
    assert "…and 11 more way(s) to earn" in reply
    room_default = await chat_room(make_app, WITH_BOT, db="hidden.db")
    [hidden] = await room_default.pm("alice", "rewards")
    assert "…and 12 more way(s) to earn" in hidden and len(hidden.splitlines()) == 2


async def test_rewards_text_of_visible_triggers(make_app: MakeApp) -> None:
    visible = {s: {"hidden": False} for s in SECTIONS.values()}
    visible["bot_interaction"] = {"hidden": False, "bot_username": CHAT_BOT}
    room = await chat_room(make_app, visible)
    [reply] = await room.pm("alice", "rewards")
    assert "Chat lines of 30+ characters: 1 Z each (up to 30 an hour)" in reply
    assert "Chatting while something plays: 0.5 Z a line" in reply
    assert f"Getting an answer from {CHAT_BOT}: 2 Z (up to 10 a day)" in reply
    assert "more way(s)" not in reply


# -- third-party triggers ---------------------------------------------------------------------


class Boom:
    trigger_id = "test.boom"

    def describe(self) -> str | None:
        return None

    async def check(self, ctx: ChatContext) -> Sequence[TriggerHit]:
        raise RuntimeError("this trigger is broken")


class Spy:
    """Pays 1 per line (twice a day at most) and remembers what it saw."""

    trigger_id = "test.spy"

    def __init__(self) -> None:
        self.seen: list[ChatContext] = []

    def describe(self) -> str | None:
        return "Being watched: 1 Z"

    async def check(self, ctx: ChatContext) -> Sequence[TriggerHit]:
        self.seen.append(ctx)
        return [TriggerHit(ctx.username, 1, self.trigger_id, reason="seen",
                           caps=(Cap.per_day(2),), counters={"spied_on": 1})]


class Sloppy:
    """Answers with malformed hits (and one good one)."""

    trigger_id = "test.sloppy"

    def describe(self) -> str | None:
        return None

    async def check(self, ctx: ChatContext) -> Sequence[TriggerHit]:
        return [TriggerHit("", 1, self.trigger_id), TriggerHit("bob", -1, self.trigger_id),
                TriggerHit("bob", float("nan"), self.trigger_id),
                TriggerHit("bob", 1, "has spaces"), TriggerHit("x" * 101, 1, self.trigger_id),
                TriggerHit("bob", 1, self.trigger_id, counters={"c": 0}),
                "not a hit",  # type: ignore[list-item]
                TriggerHit("bob", 1, self.trigger_id, related_user=ctx.username)]


class ThirdParty:
    """A plugin adding three triggers: one broken, one sloppy, one spying."""

    name = "thirdparty"
    contract = Contract(counters=(Counter("spied_on", "spied on"),))

    def __init__(self, ctx: Any) -> None:
        self.spy = Spy()

    @hookimpl
    def economy_earning_triggers(self) -> list[Any]:
        return [Boom(), Sloppy(), self.spy, "not a trigger"]


class Doubler:
    name = "doubler"

    def __init__(self, ctx: Any) -> None:
        pass

    @hookimpl
    def economy_award_multiplier(self, award: AwardRequest) -> Multiplier | None:
        return Multiplier("double", 2.0) if award.source == "chat_triggers" else None


async def test_a_raising_trigger_never_stops_the_others(make_app: MakeApp) -> None:
    room = await chat_room(make_app, plugins=[ThirdParty])
    await room.say("alice", "a long enough line to earn the long message reward")
    paid = {p.trigger_id for p in await room.postings("alice")}
    assert {"chat.long_message", "chat.first_message_of_day", "test.spy"} <= paid
    assert (await room.daily("alice"))["messages_sent"] == 1
    metrics = room.app.app.metrics.render()
    assert 'chat_triggers_trigger_errors_total{trigger="test.boom"} 1' in metrics


async def test_malformed_hits_are_dropped(make_app: MakeApp) -> None:
    room = await chat_room(make_app, plugins=[ThirdParty])
    await room.say("alice", "hello")
    [sloppy] = [p for p in await room.all_postings() if p.trigger_id == "test.sloppy"]
    assert (sloppy.username, sloppy.amount, sloppy.related_user) == ("bob", 1, "alice")
    assert await room.app.ledger.verify(CHANNEL) == []


async def test_third_party_hits_get_caps_counters_analytics_and_listing(
        make_app: MakeApp) -> None:
    room = await chat_room(make_app, plugins=[ThirdParty])
    for i in range(4):
        await room.say("alice", f"hi {i}")
    assert await room.earned("alice", "test.spy") == 2  # its daily cap
    assert (await room.daily("alice"))["spied_on"] == 2
    [stats] = await room.pm("alice", "econ:triggers", rank=5)
    assert "test.spy: 2 hits, 1 users, 2 Z" in stats
    [rewards] = await room.pm("alice", "rewards")
    assert "Being watched: 1 Z" in rewards


async def test_triggers_see_the_channel_before_the_line(make_app: MakeApp) -> None:
    room = await chat_room(make_app, plugins=[ThirdParty])
    spy = room.app.plugin("thirdparty").spy
    await room.media("Feature", 600)
    await room.say("alice", "one")
    await room.wait(3)
    await room.say("bob", "two")
    first, second = spy.seen
    assert (first.last_speaker, first.last_line_at) == (None, None)
    assert (second.last_speaker, second.last_line_at) == ("alice", SPEC_NOW)
    assert first.media is not None and first.media.title == "Feature"
    assert "bob" in first.present and second.is_present("alice")
    # built-ins read the same snapshot: one claimant after the media change, silence before
    assert await room.earned("alice", "chat.first_after_media_change") == 3
    assert await room.earned("bob", "chat.first_after_media_change") == 0
    assert await room.earned("alice", "chat.conversation_starter") == 10
    assert await room.earned("bob", "chat.conversation_starter") == 0


async def test_multipliers_apply_and_fractions_accumulate(make_app: MakeApp) -> None:
    room = await chat_room(make_app, plugins=[Doubler])
    await room.say("alice", "hi")
    await room.wait(minutes=11)
    await room.say("bob", "a line that is long enough for the long message")
    [long] = await room.postings("bob", "chat.long_message")
    assert long.amount == 2 and long.metadata["factor"] == 2.0
    assert long.metadata["factors"] == {"double": 2.0}
    await room.media("Feature", 600)
    await room.wait(60)
    await room.say("carol", "x")
    assert await room.earned("carol", "content.comment_during_media") == 1  # 0.5 x 2


# -- who is never paid --------------------------------------------------------------------------


async def test_banned_sender_earns_and_counts_nothing(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    await room.app.app.identity.ban(CHANNEL, "alice", by="admin", reason="test",
                                    at=room.app.clock.now())
    await room.say("alice", "a long line that would pay anyone else, bob++ carol")
    assert await room.all_postings() == []
    assert "messages_sent" not in await room.daily("alice")


async def test_a_banned_line_changes_no_channel_state(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    await room.app.app.identity.ban(CHANNEL, "carol", by="admin", reason="test",
                                    at=room.app.clock.now())
    await room.say("carol", "a joke nobody may laugh at")
    await room.say("dave", "lol")  # no joke yet: the banned line is none
    assert [p.trigger_id for p in await room.all_postings()
            if p.trigger_id == "chat.laugh_received"] == []
    assert await room.earned("dave", "chat.conversation_starter") == 10  # silence unbroken
    await room.media("Feature", 600)
    await room.wait(5)
    await room.say("carol", "first!")  # within the window, but banned: takes no slot
    await room.say("bob", "so what is this movie about")
    assert await room.earned("bob", "chat.first_after_media_change") == 3
    await room.say("carol", "and another joke")
    await room.say("alice", "haha")  # laughs at bob's line, the last one that counts
    assert [(p.username, p.related_user) for p in await room.all_postings()
            if p.trigger_id == "chat.laugh_received"] == [("bob", "alice")]
    assert await room.all_postings() == [p for p in await room.all_postings()
                                         if p.username != "carol"]


async def test_banned_targets_are_never_paid(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    await room.say("bob", "a joke")
    await room.app.app.identity.ban(CHANNEL, "bob", by="admin", reason="test",
                                    at=room.app.clock.now())
    before = await room.earned("bob")
    await room.say("carol", "lol bob++ bob")
    assert await room.earned("bob") == before
    assert "kudos_given" not in await room.daily("carol")


async def test_ignored_users_and_the_bot_are_never_paid(make_app: MakeApp) -> None:
    room = await chat_room(make_app, users=("alice", "bob", "CyTubeBot", "ZCoinBot"))
    await room.say("CyTubeBot", "beep boop, a very long line from a bot here")
    await room.say("ZCoinBot", "and one from the economy bot itself, long too")
    assert await room.all_postings() == []
    await room.say("alice", "CyTubeBot++ ZCoinBot++ hi CyTubeBot and ZCoinBot")
    paid = {p.username for p in await room.all_postings()}
    assert paid == {"alice"}


class UserStats:
    """A stand-in for kryten-userstats: alice and alice_alt are one person."""

    async def __call__(self, subject: str, payload: dict[str, Any],
                       timeout: float) -> dict[str, Any]:
        name = payload["username"].casefold()
        if name in ("alice", "alice_alt"):
            return {"success": True, "data": {"canonical": "alice",
                                              "aliases": ["alice", "alice_alt"]}}
        return {"success": True, "data": {"canonical": name, "aliases": []}}


async def test_self_exclusion_is_alias_aware(make_app: MakeApp) -> None:
    room = await chat_room(make_app, users=("alice", "bob", "alice_alt"))
    room.app.app._requester = UserStats()
    await room.say("alice", "a joke about cats")
    await room.say("alice_alt", "lol alice++ great one alice")
    assert await room.earned("alice") == 15  # first line + conversation start, nothing else
    await room.say("bob", "haha")
    assert await room.earned("alice", "chat.laugh_received") == 2
    await room.leave("alice_alt")
    await room.wait(minutes=10)
    await room.join("alice_alt")
    await room.say("alice", "welcome alice_alt")
    assert await room.earned("alice", "social.greeted_newcomer") == 0
    await room.say("bob", "welcome alice_alt")  # the join was not consumed by alice
    assert await room.earned("bob", "social.greeted_newcomer") == 3


async def test_aliases_of_one_person_are_paid_once_per_line_and_joke(make_app: MakeApp) -> None:
    room = await chat_room(make_app, users=("alice", "bob", "carol", "alice_alt"))
    room.app.app._requester = UserStats()
    await room.say("bob", "alice++ alice_alt++ ALICE++")  # one person, three tokens
    kudos = [p for p in await room.all_postings() if p.trigger_id == "chat.kudos_received"]
    assert [(p.username, p.amount) for p in kudos] == [("alice", 3)]
    assert (await room.daily("bob"))["kudos_given"] == 1
    await room.say("carol", "alice and alice_alt, are you two the same?")
    mentions = [p for p in await room.all_postings()
                if p.trigger_id == "social.mentioned_by_other"]
    assert [p.username for p in mentions] == ["alice"]
    await room.say("bob", "a joke about cats")
    await room.say("alice", "lol")
    await room.say("alice_alt", "lol")  # the same laugher under another name
    await room.say("carol", "lol")
    laughs = [p for p in await room.postings("bob", "chat.laugh_received")]
    assert [p.related_user for p in laughs] == ["alice", "carol"]


# -- caps, restarts, the writer -----------------------------------------------------------------


async def test_caps_survive_a_restart(make_app: MakeApp) -> None:
    room = await chat_room(make_app, {"long_message": {"max_per_hour": 2}})
    await room.say("alice", "first long line, long enough to pay 1")
    await room.say("alice", "second long line, long enough to pay 1")
    await room.restart()
    await room.app.seed(["alice", "bob"])
    await room.say("alice", "third long line, long enough to pay 1?")
    assert await room.earned("alice", "chat.long_message") == 2
    assert await room.earned("alice", "chat.first_message_of_day") == 5
    await room.wait(hours=1)
    await room.say("alice", "fourth long line, an hour later: pays")
    assert await room.earned("alice", "chat.long_message") == 3


async def test_first_message_pays_again_the_next_day(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    await room.say("alice", "morning")
    await room.say("alice", "again")
    assert await room.earned("alice", "chat.first_message_of_day") == 5
    assert (await room.daily("alice"))["first_message_claimed"] == 1
    await room.wait(hours=5)
    await room.say("alice", "a new day")
    assert await room.earned("alice", "chat.first_message_of_day") == 10


async def test_lines_queued_at_shutdown_are_written(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    for i in range(20):
        await room.app.chat("alice", f"line number {i} which is long enough to pay")
    await room.restart()  # stops the app: the writer drains first
    assert await room.earned("alice", "chat.long_message") == 20
    assert (await room.daily("alice"))["messages_sent"] == 20


async def test_withheld_new_accounts_are_not_paid(make_app: MakeApp) -> None:
    room = await chat_room(make_app, core={"onboarding": {"min_messages_to_earn": 3}},
                           users=("newbie", "bob"))
    await room.say("newbie", "a long line from someone very new here")
    assert await room.earned("newbie") == 0
    assert (await room.daily("newbie"))["messages_sent"] == 1
    await room.media("Feature", 600)
    [reply] = await room.pm("newbie", "like")
    assert reply == "👍 You liked “Feature”."
    await room.say("newbie", "two")
    await room.say("newbie", "three, and now a long enough line")
    assert await room.earned("newbie", "chat.long_message") == 1


async def test_counters_and_analytics(make_app: MakeApp) -> None:
    room = await chat_room(make_app, WITH_BOT)
    await busy_evening(room)
    await room.say("alice", "look https://media.giphy.com/media/x/giphy.gif and "
                            "https://x.test/a.gif?w=1 and https://x.test/a.png")
    alice, bob, carol = [await room.daily(u) for u in ("alice", "bob", "carol")]
    assert alice["messages_sent"] == 2 and alice["long_messages"] == 2
    assert alice["gifs_posted"] == 2 and alice["laughs_received"] == 1
    assert alice["kudos_received"] == 1 and bob["kudos_given"] == 1
    assert bob["bot_interactions"] == 1 and carol["messages_sent"] == 1
    [stats] = await room.pm("alice", "econ:triggers", rank=5)
    assert "content.survived_full_media: 4 hits, 4 users, 20 Z" in stats
    assert "chat.first_message_of_day: 3 hits, 3 users, 15 Z" in stats
    # every chat trigger fired; only the occasion trigger waits for an events plugin
    assert "No hits: content.present_at_event_start\n" in stats + "\n"
    [fresh] = await (await chat_room(make_app, db="other.db")).pm("bob", "econ:triggers",
                                                                  rank=5)
    assert "no hits yet" in fresh and "💤 No hits: chat.long_message" in fresh
    [refused] = await room.pm("bob", "econ:triggers", rank=1)
    assert "admin only" in refused.lower()


async def test_day_close_forgets_per_user_analytics_rows(make_app: MakeApp) -> None:
    import sqlalchemy as sa
    from economy_plugins.chat_triggers import tables

    room = await chat_room(make_app)
    await room.say("alice", "hello there")

    async def count(table: sa.Table) -> int:
        async with room.app.app.engine.connect() as conn:
            found: int = (await conn.execute(sa.select(sa.func.count()).select_from(table))
                          ).scalar_one()
        return found

    assert await count(tables.analytics_users) == 2
    await room.wait(hours=4)  # past midnight: the day closes
    assert await count(tables.analytics_users) == 0
    assert await count(tables.analytics) == 2  # the totals stay
    [stats] = await room.pm("alice", "econ:triggers", rank=5)
    assert "no hits yet" in stats


async def test_a_failed_batch_moves_no_money_and_the_writer_carries_on(
        make_app: MakeApp, monkeypatch: pytest.MonkeyPatch) -> None:
    from economy_plugins.chat_triggers import writer

    room = await chat_room(make_app)
    real = writer.analytics.record

    async def broken(conn: Any, tallies: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(writer.analytics, "record", broken)
    await room.app.chat("alice", "a long line that should have paid something")
    await room.plugin.drain()
    assert room.plugin.writer.failed_batches == 1
    assert await room.earned("alice") == 0 and "messages_sent" not in await room.daily("alice")
    await room.app.media("Feature", duration_s=600)
    [reply] = await room.pm("alice", "like")
    assert "went wrong" in reply and room.plugin.writer.failed_batches == 2
    monkeypatch.setattr(writer.analytics, "record", real)
    room.plugin.writer.failed_batches = 0
    [retry] = await room.pm("alice", "like")
    assert "+2 Z" in retry
    await room.say("bob", "and this long line is paid again, as usual")
    assert await room.earned("bob", "chat.long_message") == 1
    assert await room.app.ledger.verify(CHANNEL) == []
