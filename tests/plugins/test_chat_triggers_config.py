"""chat_triggers: every config key changes behaviour (``enabled`` and ``hidden`` are covered for
every trigger in test_chat_triggers_pipeline), and bad values are refused at start-up."""

from __future__ import annotations

from typing import Any

import pytest
from economy_plugins.chat_triggers import ChatTriggersConfig

from economy_core.config import ConfigError, parse_config
from economy_core.events import RelayedChat
from economy_core.testing import MakeApp

from .test_chat_triggers_kit import CHANNEL, CHAT_BOT, chat_room
from .test_chat_triggers_pipeline import ALL_TRIGGERS, busy_evening

REWARDS = {
    "long_message": ("reward", 4, "chat.long_message"),
    "first_message_of_day": ("reward", 6, "chat.first_message_of_day"),
    "conversation_starter": ("reward", 7, "chat.conversation_starter"),
    "first_after_media_change": ("reward", 8, "chat.first_after_media_change"),
    "comment_during_media": ("reward_per_message", 9, "content.comment_during_media"),
    "laugh_received": ("reward_per_laugher", 11, "chat.laugh_received"),
    "kudos_received": ("reward", 12, "chat.kudos_received"),
    "greeted_newcomer": ("reward", 13, "social.greeted_newcomer"),
    "mentioned_by_other": ("reward", 14, "social.mentioned_by_other"),
    "bot_interaction": ("reward", 15, "social.bot_interaction"),
    "like_current": ("reward", 16, "content.like_current"),
    "survived_full_media": ("reward", 17, "content.survived_full_media"),
}


async def test_every_reward_is_configurable(make_app: MakeApp) -> None:
    config: dict[str, Any] = {section: {key: value}
                              for section, (key, value, _) in REWARDS.items()}
    config["bot_interaction"]["bot_username"] = CHAT_BOT
    room = await chat_room(make_app, config)
    await busy_evening(room)
    amounts = {(p.trigger_id, p.amount) for p in await room.all_postings()}
    assert amounts == {(trigger, value) for _, value, trigger in REWARDS.values()}
    assert {t for t, _ in amounts} == set(ALL_TRIGGERS)


async def test_long_message_min_chars(make_app: MakeApp) -> None:
    room = await chat_room(make_app, {"long_message": {"min_chars": 10}})
    await room.say("alice", "0123456789")
    await room.say("bob", "012345678")
    assert await room.earned("alice", "chat.long_message") == 1
    assert await room.earned("bob", "chat.long_message") == 0
    assert (await room.daily("alice"))["long_messages"] == 1
    assert "long_messages" not in await room.daily("bob")


async def test_conversation_starter_min_silence(make_app: MakeApp) -> None:
    room = await chat_room(make_app, {"conversation_starter": {"min_silence_minutes": 2}})
    await room.say("alice", "hi")
    await room.wait(minutes=1)
    await room.say("bob", "hi")
    await room.wait(minutes=2)
    await room.say("carol", "anyone?")
    assert [await room.earned(u, "chat.conversation_starter")
            for u in ("alice", "bob", "carol")] == [10, 0, 10]


@pytest.mark.parametrize(("window", "paid"), [(30, 3), (5, 0)])
async def test_first_after_media_change_window(make_app: MakeApp, window: int,
                                               paid: int) -> None:
    room = await chat_room(make_app, {"first_after_media_change": {"window_seconds": window}})
    await room.media("Feature", 600)
    await room.wait(6)
    await room.say("alice", "nice")
    assert await room.earned("alice", "chat.first_after_media_change") == paid


async def test_comment_cap_base_and_scaling(make_app: MakeApp) -> None:
    room = await chat_room(make_app, {"comment_during_media": {
        "reward_per_message": 1, "max_per_item_base": 3, "scale_with_duration": False}})
    await room.media("Long one", 120 * 60)
    for i in range(6):
        await room.say("alice", f"c{i}")
    assert await room.earned("alice", "content.comment_during_media") == 3
    scaled = await chat_room(make_app, {"comment_during_media": {
        "reward_per_message": 1, "max_per_item_base": 3}}, db="scaled.db")
    await scaled.media("Long one", 120 * 60)  # max(3, floor(3 x 120 / 30)) = 12
    for i in range(15):
        await scaled.say("alice", f"c{i}")
    assert await scaled.earned("alice", "content.comment_during_media") == 12


async def test_max_laughers_per_joke(make_app: MakeApp) -> None:
    room = await chat_room(make_app, {"laugh_received": {"max_laughers_per_joke": 2}},
                           users=("alice", "bob", "carol", "dave", "erin"))
    await room.say("alice", "a joke")
    for user in ("bob", "carol", "dave"):
        await room.say(user, "haha")
    assert await room.earned("alice", "chat.laugh_received") == 4
    await room.say("bob", "lol")  # the same laugher twice: once per joke
    assert await room.earned("alice", "chat.laugh_received") == 4
    await room.wait(minutes=5)  # a rolling 5 minutes per teller
    await room.say("alice", "another joke")
    await room.say("erin", "lmfao")
    assert await room.earned("alice", "chat.laugh_received") == 6


@pytest.mark.parametrize(("recent", "paid"), [(30, 3), (5, 0)])
async def test_kudos_recent_minutes(make_app: MakeApp, recent: int, paid: int) -> None:
    room = await chat_room(make_app, {"kudos_received": {"recent_minutes": recent}})
    await room.leave("bob")
    await room.wait(minutes=10)
    await room.say("alice", "bob++ for earlier")
    assert await room.earned("bob", "chat.kudos_received") == paid


async def test_kudos_needs_an_account(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    await room.join("newcomer")  # present, but no account
    await room.say("alice", "newcomer++")
    assert await room.earned("newcomer") == 0


async def test_kudos_cap_per_pair_and_hour(make_app: MakeApp) -> None:
    room = await chat_room(make_app, {"kudos_received": {"max_per_hour_same_user": 2}})
    for i in range(3):
        await room.say("alice", f"bob++ #{i}")
    await room.say("carol", "bob++")
    assert await room.earned("bob", "chat.kudos_received") == 3 * 3
    assert (await room.daily("alice"))["kudos_given"] == 2


async def test_greeting_window_and_presence_debounce(make_app: MakeApp) -> None:
    room = await chat_room(make_app, {"greeted_newcomer": {"window_seconds": 10}},
                           users=("alice", "bob"),
                           core={"plugins": {"presence": {"join_debounce_minutes": 0}}})
    await room.join("carol")
    await room.wait(30)
    await room.say("alice", "hi carol")
    assert await room.earned("alice", "social.greeted_newcomer") == 0  # after 10 s
    await room.leave("carol")
    await room.wait(minutes=1)
    await room.join("carol")  # genuine: no debounce
    await room.wait(5)
    await room.say("bob", "welcome carol")
    assert await room.earned("bob", "social.greeted_newcomer") == 3


async def test_greeting_one_per_line_and_not_oneself(make_app: MakeApp) -> None:
    room = await chat_room(make_app, users=("alice",))
    await room.join("bob")
    await room.join("carol")
    await room.say("bob", "hi bob and carol and bob")
    assert [p.related_user for p in await room.postings("bob", "social.greeted_newcomer")] \
        == ["carol"]
    await room.say("alice", "welcome carol and bob")
    assert [p.related_user for p in await room.postings("alice", "social.greeted_newcomer")] \
        == ["bob"]


@pytest.mark.parametrize(("excluded", "paid"), [(True, 0), (False, 3)])
async def test_greeting_the_chat_bot(make_app: MakeApp, excluded: bool, paid: int) -> None:
    room = await chat_room(make_app, {"bot_interaction": {"bot_username": CHAT_BOT},
                                      "greeted_newcomer": {"bot_joins_excluded": excluded}})
    await room.join(CHAT_BOT)
    await room.say("alice", f"hello {CHAT_BOT}")
    assert await room.earned("alice", "social.greeted_newcomer") == paid
    assert await room.earned(CHAT_BOT) == 0


async def test_mention_cap_per_pair(make_app: MakeApp) -> None:
    room = await chat_room(make_app, {"mentioned_by_other": {"max_per_hour_same_user": 2}})
    for i in range(4):
        await room.say("alice", f"carol? {i}")
    assert await room.earned("carol", "social.mentioned_by_other") == 2
    await room.say("alice", "zed is not here, nor is alice")  # absent users and oneself
    assert await room.earned("alice", "social.mentioned_by_other") == 0


async def test_bot_interaction_cap_and_username(make_app: MakeApp) -> None:
    room = await chat_room(make_app, {"bot_interaction": {"bot_username": CHAT_BOT,
                                                          "max_per_day": 2}})
    for i in range(4):
        await room.say("alice", f"hey bot {i}")
        await room.say(CHAT_BOT, "hello human")
        await room.say(CHAT_BOT, "and hello again")  # once per human line
    assert await room.earned("alice", "social.bot_interaction") == 4
    assert (await room.daily("alice"))["bot_interactions"] == 2
    assert await room.earned(CHAT_BOT) == 0 and "messages_sent" not in \
        await room.daily(CHAT_BOT)
    off = await chat_room(make_app, db="off.db")
    await off.say("alice", "hey bot")
    await off.say(CHAT_BOT, "hello human")
    assert await off.earned("alice", "social.bot_interaction") == 0
    assert await off.earned(CHAT_BOT, "chat.first_message_of_day") == 5  # just a user


async def test_like_switched_off(make_app: MakeApp) -> None:
    room = await chat_room(make_app, {"like_current": {"enabled": False}})
    await room.media("Feature", 600)
    assert await room.pm("alice", "like") == ["Liking does not pay here right now."]


@pytest.mark.parametrize(("percent", "paid"), [(80, 0), (50, 5)])
async def test_survived_full_media_percent(make_app: MakeApp, percent: int,
                                           paid: int) -> None:
    room = await chat_room(make_app,
                           {"survived_full_media": {"min_presence_percent": percent}})
    await room.media("Feature", 600)
    await room.wait(360)  # 60 %
    await room.leave("bob")
    await room.join("erin")
    await room.media("Next", 600, media_id="n")
    assert await room.earned("alice", "content.survived_full_media") == paid
    assert await room.earned("bob", "content.survived_full_media") == 0  # left
    assert await room.earned("erin", "content.survived_full_media") == 0  # came late


async def test_survived_needs_a_duration(make_app: MakeApp) -> None:
    room = await chat_room(make_app)
    await room.media("Live stream", 0)
    await room.wait(hours=2)
    await room.media("Next", 600, media_id="n")
    assert await room.earned("alice") == 0


@pytest.mark.parametrize(("data", "message"), [
    ({"long_message": {"reward": -1}}, "plugins.chat_triggers.long_message.reward"),
    ({"comment_during_media": {"reward_per_message": float("inf")}}, "reward_per_message"),
    ({"bot_interaction": {"bot_username": "not a name"}}, "bot_username"),
    ({"laugh_received": {"max_laughers_per_joke": 0}}, "max_laughers_per_joke"),
    ({"survived_full_media": {"min_presence_percent": 101}}, "min_presence_percent"),
    ({"kudos_received": {"self_excluded": False}}, "self_excluded"),
])
def test_bad_values_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"plugins": {"enabled": ["chat_triggers"], "chat_triggers": data}},
                     schemas={"chat_triggers": ChatTriggersConfig}, env={})
    assert message in str(caught.value)


async def test_lines_relayed_through_the_economy_bot_account_pay_bot_interaction(
        make_app: MakeApp) -> None:
    """SPEC §3.3: a line from the bot's own account that the economy did not send (an LLM bot
    talking through the same robot) pays the previous human speaker, with no bot_username set."""
    room = await chat_room(make_app, {"bot_interaction": {"max_per_day": 3}})
    app = room.app.app
    for i in range(5):
        await room.say("alice", f"hey bot {i}")
        await app.handle_event(RelayedChat(CHANNEL, "ZCoinBot", "hi alice!", app.clock.now()))
        await app.handle_event(RelayedChat(CHANNEL, "ZCoinBot", "anything else?",
                                           app.clock.now()))
        await room.settle()
    assert await room.earned("alice", "social.bot_interaction") == 6  # 3 a day, 2 Z each
    assert (await room.daily("alice"))["bot_interactions"] == 3
    assert await room.earned("ZCoinBot") == 0
    off = await chat_room(make_app, {"bot_interaction": {"enabled": False}}, db="off.db")
    await off.say("bob", "hey bot")
    await off.app.app.handle_event(RelayedChat(CHANNEL, "ZCoinBot", "hi", off.app.clock.now()))
    await off.settle()
    assert await off.earned("bob", "social.bot_interaction") == 0
