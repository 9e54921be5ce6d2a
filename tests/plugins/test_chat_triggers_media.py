"""chat_triggers: a media announcement repeated for the item that is still playing (CyTube sends
``changeMedia`` again, e.g. when the robot rejoins) keeps the current item — its likers, per-item
comment counts, first-after-media slot and who watches it from the start — while the same item
announced after it ended is a new play."""

from __future__ import annotations

from economy_core.testing import MakeApp

from .test_chat_triggers_kit import chat_room

FIRST = "chat.first_after_media_change"
COMMENT = "content.comment_during_media"
LIKE = "content.like_current"
SURVIVED = "content.survived_full_media"
CONFIG = {"comment_during_media": {"reward_per_message": 1, "max_per_item_base": 2,
                                   "scale_with_duration": False}}


async def test_a_repeat_while_the_item_plays_keeps_the_item(make_app: MakeApp) -> None:
    room = await chat_room(make_app, CONFIG)
    await room.media("Feature", 600, media_id="f")
    await room.wait(5)
    await room.say("alice", "first!")
    await room.say("alice", "second")
    [liked] = await room.pm("alice", "like")
    assert "+2 Z" in liked
    assert (await room.earned("alice", FIRST), await room.earned("alice", COMMENT)) == (3, 2)
    await room.join("eve")  # arrives after the start: does not watch it from the start
    await room.wait(60)
    await room.media("Feature", 600, media_id="f")  # the same play, announced again
    await room.wait(5)
    await room.say("bob", "what did I miss")  # within 30 s of the repeat: no new slot
    assert await room.earned("bob", FIRST) == 0
    await room.say("alice", "third")  # her per-item comment cap is used up
    assert await room.earned("alice", COMMENT) == 2
    [again] = await room.pm("alice", "like")
    assert "already liked" in again
    assert await room.earned("alice", SURVIVED) == 0  # the repeat ended nothing
    await room.wait(540)  # 600 s after the real start (only 540 s after the repeat)
    await room.say("carol", "is it over?")
    assert await room.earned("carol", COMMENT) == 0  # the item ended by its real start
    await room.media("Next", 600, media_id="n")
    survivors = {p.username for p in await room.all_postings() if p.trigger_id == SURVIVED}
    assert survivors == {"alice", "bob", "carol", "dave"}  # not eve


async def test_the_same_item_after_it_ended_is_a_new_play(make_app: MakeApp) -> None:
    room = await chat_room(make_app, CONFIG)
    await room.media("Short", 60, media_id="s")
    await room.wait(5)
    await room.say("alice", "first!")
    await room.say("alice", "more")
    await room.pm("alice", "like")
    await room.wait(60)  # ended at 20:01:00
    await room.media("Short", 60, media_id="s")  # queued again: a new play
    assert await room.earned("alice", SURVIVED) == 5  # the first play ran to its end
    await room.wait(5)
    await room.say("bob", "again!")
    assert await room.earned("bob", FIRST) == 3
    await room.say("alice", "one")
    await room.say("alice", "two")
    assert await room.earned("alice", COMMENT) == 4  # a fresh per-item cap
    [liked] = await room.pm("alice", "like")
    assert "+2 Z" in liked
    assert await room.earned("alice", LIKE) == 4


async def test_a_live_item_announced_again_is_the_same_item(make_app: MakeApp) -> None:
    room = await chat_room(make_app, CONFIG)
    await room.media("Live", 0, media_id="live")
    await room.pm("alice", "like")
    await room.wait(hours=3)
    await room.media("Live", 0, media_id="live")
    [again] = await room.pm("alice", "like")
    assert "already liked" in again
    await room.media("Other live", 0, media_id="other")  # another id: a new item
    [liked] = await room.pm("alice", "like")
    assert "+2 Z" in liked
