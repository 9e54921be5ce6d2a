"""chat_triggers: the pure text detection behind laughs, kudos, mentions and gif links."""

from __future__ import annotations

import pytest
from economy_plugins.chat_triggers.detect import (
    LineFacts,
    gif_links,
    is_laugh,
    kudos_targets,
    name_tokens,
)


@pytest.mark.parametrize("text", [
    "lol", "LOL", "looool", "lolol", "lmao", "LMFAOOO", "rofl", "kek", "I'm dead",
    "hahaha", "HAHA", "ahaha", "hahah that's good", "hehehe", "😂", "ok 🤣", "💀💀",
    "that was great lol!"])
def test_laughs(text: str) -> None:
    assert is_laugh(text)


@pytest.mark.parametrize("text", [
    "hello", "ha", "ha ha", "hah", "deadline", "lollipop", "he", "school", "kekw?", "",
    "the dead line", "shah"])
def test_not_laughs(text: str) -> None:
    assert is_laugh(text) == ("dead" in text.split())


@pytest.mark.parametrize(("text", "targets"), [
    ("bob++", ("bob",)),
    ("bob++ @dave++ bob++", ("bob", "dave")),
    ("thanks @Bob++ and BOB++", ("Bob",)),
    ("c++ rocks", ("c",)),
    ("x++y", ("x",)),
    ("a+++", ("a",)),
    ("i like c++", ("c",)),
    ("foo.bar++", ()),
    ("(bob++)", ()),
    ("bob ++", ()),
    ("++", ()),
    ("ünï++", ()),
    ("abcdefghijklmnopqrstu++", ()),
])
def test_kudos_tokens(text: str, targets: tuple[str, ...]) -> None:
    assert kudos_targets(text) == targets


def test_name_tokens_are_whole_words() -> None:
    assert name_tokens("Hey @Bob, bobby's here; dave! x-y z_9") == {
        "hey", "bob", "bobby", "s", "here", "dave", "x-y", "z_9"}
    assert "alice" not in name_tokens("malice")


@pytest.mark.parametrize(("text", "count"), [
    ("https://x.test/a.gif", 1),
    ("see https://x.test/a.GIF?size=large now", 1),
    ("https://media.giphy.com/media/abc/giphy.webp", 1),
    ("https://giphy.com/gifs/cat-abc", 1),
    ("https://tenor.com/view/cat-123", 1),
    ("https://i.imgur.com/x.gif and https://i.imgur.com/y.png", 1),
    ("https://x.test/a.gif.png", 0),
    ("a.gif without a link", 0),
    ("https://notgiphy.com/x", 0),
    ("https://[::1/x.gif", 0),
])
def test_gif_links(text: str, count: int) -> None:
    assert gif_links(text) == count


def test_line_facts() -> None:
    facts = LineFacts.of("lol bob++ https://x.test/a.gif 😂")
    assert facts.laugh and facts.kudos == ("bob",) and facts.gifs == 1
    assert facts.length == len("lol bob++ https://x.test/a.gif 😂")
