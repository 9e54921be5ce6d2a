"""chat_triggers: the SPEC §8 acceptance scenarios 11, 13, 14, 16, 17, 19 and 20, through the
real router, pipeline, writer and ledger on a SQLite file, time driven by the FakeClock."""

from __future__ import annotations

from economy_core.testing import MakeApp

from .test_chat_triggers_kit import CHANNEL, chat_room

LONG = "chat.long_message"
LAUGH = "chat.laugh_received"
KUDOS = "chat.kudos_received"
COMMENT = "content.comment_during_media"
LIKE = "content.like_current"
GREETED = "social.greeted_newcomer"
MENTIONED = "social.mentioned_by_other"


async def test_scenario_11_long_message_length_and_hourly_cap(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    await room.say("alice", "hi")  # alice chatted today
    await room.wait(minutes=5)
    await room.say("bob", "hey")  # bob spoke 1 min ago
    await room.wait(minutes=1)
    before = await room.balance("alice")
    await room.say("alice", "x" * 30)
    assert await room.balance("alice") == before + 1
    await room.say("alice", "y" * 29)
    assert await room.balance("alice") == before + 1
    for i in range(29):
        await room.say("alice", f"{i:02d} " + "z" * 28)
    assert await room.balance("alice") == before + 30
    await room.say("alice", "w" * 31)  # the 31st long line within the hour
    assert await room.balance("alice") == before + 30
    assert (await room.daily("alice"))["long_messages"] == 31
    await room.wait(hours=1)
    await room.say("alice", "v" * 40)
    assert await room.earned("alice", LONG) == 31


async def test_scenario_13_laughs_pay_the_joke_teller(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    await room.say("bob", "why did the chicken cross the road")
    await room.say("carol", "lmao")
    [paid] = await room.postings("bob", LAUGH)
    assert (paid.amount, paid.related_user) == (2, "carol")
    await room.say("dave", "😂")
    assert await room.earned("bob", LAUGH) == 4
    await room.say("bob", "and another one for you")
    await room.say("bob", "lol")  # laughing at his own line
    assert await room.earned("bob", LAUGH) == 4
    assert (await room.daily("bob"))["laughs_received"] == 2


async def test_scenario_14_kudos(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    bob_before, dave_before = await room.balance("bob"), await room.balance("dave")
    await room.say("carol", "bob++ @dave++ bob++")
    assert await room.balance("bob") == bob_before + 3
    assert await room.balance("dave") == dave_before + 3
    assert (await room.daily("carol"))["kudos_given"] == 2
    assert (await room.daily("bob"))["kudos_received"] == 1
    await room.say("carol", "carol++")
    assert await room.earned("carol", KUDOS) == 0
    await room.say("carol", "c++ rocks")  # there is no user c
    assert [p.username for p in await room.all_postings() if p.trigger_id == KUDOS] \
        == ["bob", "dave"]
    assert (await room.daily("carol"))["kudos_given"] == 2
    assert room.app.pms_to("bob") == [] and room.app.pms_to("carol") == []


async def test_scenario_16_comments_during_media_with_item_cap(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    await room.media("Thirty", 30 * 60)
    await room.wait(minutes=1)
    await room.say("alice", "what is this")
    await room.say("alice", "oh I know it")
    assert await room.earned("alice", COMMENT) == 1
    for i in range(10):
        await room.say("alice", f"line {i}")
    assert await room.earned("alice", COMMENT) == 5  # lines past the 10th pay nothing
    await room.media("Sixty", 60 * 60, media_id="y")
    await room.wait(minutes=1)
    for i in range(25):
        await room.say("alice", f"again {i}")
    assert await room.earned("alice", COMMENT) == 5 + 10  # cap 20 lines x 0.5


async def test_scenario_17_like_the_current_item(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    [reply] = await room.pm("alice", "like")
    assert "nothing playing" in reply.lower()
    await room.media("Night of the Lepus", 88 * 60)
    before = await room.balance("alice")
    [reply] = await room.pm("alice", "like")
    assert "Night of the Lepus" in reply and "+2 Z" in reply
    assert await room.balance("alice") == before + 2
    [again] = await room.pm("alice", "like")
    assert "already liked" in again
    assert await room.balance("alice") == before + 2
    await room.wait(minutes=89)  # the item is over
    [reply] = await room.pm("bob", "like")
    assert "nothing playing" in reply.lower()
    assert await room.earned("bob", LIKE) == 0


async def test_scenario_19_greeting_a_genuine_newcomer(make_app: MakeApp) -> None:
    # presence judges arrivals (join debounce); chat_triggers pays the greeter
    room = await chat_room(make_app, users=("alice", "bob", "carol"))
    await room.join("dave")  # 20:00:00
    await room.wait(30)
    await room.say("alice", "welcome dave!")
    assert await room.earned("alice", GREETED) == 3
    await room.wait(10)
    await room.say("bob", "hi dave")
    assert await room.earned("bob", GREETED) == 0
    # a bounced rejoin is not genuine: nobody can greet it
    await room.wait(minutes=10)
    await room.leave("dave")
    await room.wait(minutes=1)
    await room.join("dave")
    await room.wait(5)
    await room.say("carol", "welcome back dave")
    assert await room.earned("carol", GREETED) == 0


async def test_scenario_20_mentions_capped_per_pair_and_hour(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    before = await room.balance("bob")
    for i in range(6):
        await room.say("alice", f"bob, what do you think about number {i}?")
        await room.wait(minutes=5)
    assert await room.balance("bob") == before + 5
    assert all(p.related_user == "alice" for p in await room.postings("bob", MENTIONED))
    await room.say("carol", "bob!")  # another sender has a cap of their own
    assert await room.balance("bob") == before + 6
    await room.wait(hours=1)
    await room.say("alice", "bob again")
    assert await room.balance("bob") == before + 7


async def test_ledger_stays_consistent(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    await room.say("alice", "a line long enough to be paid for sure")
    await room.say("bob", "lol alice++")
    assert await room.app.ledger.verify(CHANNEL) == []
