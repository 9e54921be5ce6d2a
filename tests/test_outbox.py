"""The outbox against a recording transport: splitting, priority, merging, quiet, retries, chat
dedupe and budget, pacing, flush and close. Real monotonic time with small gaps; no fixed sleeps
to wait for things (``flush`` and bounded polling do the waiting)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from economy_core.clock import FakeClock
from economy_core.outbox import Outbox, split_text
from economy_core.testing import wait_until

HINT = "(PM 'quiet' to mute these)"


@attrs.define
class Sent:
    channel: str
    to: str | None
    text: str
    at: float


class FakeTransport:
    """Records sends with their monotonic time; ``fail(n)`` makes the next n sends raise."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.attempts = 0
        self._failures = 0
        self.gate: asyncio.Event | None = None

    def fail(self, n: int) -> None:
        self._failures = n

    async def _attempt(self, channel: str, to: str | None, text: str) -> None:
        self.attempts += 1
        if self.gate is not None:
            await self.gate.wait()
        if self._failures > 0:
            self._failures -= 1
            raise ConnectionError("nats down")
        self.sent.append(Sent(channel, to, text, time.monotonic()))

    async def send_pm(self, channel: str, username: str, text: str) -> None:
        await self._attempt(channel, username, text)

    async def send_chat(self, channel: str, text: str) -> None:
        await self._attempt(channel, None, text)

    def texts(self, to: str | None = None) -> list[str]:
        return [s.text for s in self.sent if to is None or s.to == to]


MakeOutbox = Callable[..., Outbox]


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
async def make_outbox(transport: FakeTransport) -> AsyncIterator[MakeOutbox]:
    made: list[Outbox] = []

    def factory(**kwargs: Any) -> Outbox:
        kwargs.setdefault("min_gap_seconds", 0.0)
        kwargs.setdefault("merge_window_seconds", 0.0)
        kwargs.setdefault("retry_seconds", 0.01)
        box = Outbox(transport, **kwargs)
        made.append(box)
        return box

    yield factory
    for box in made:
        await box.close(timeout=1.0)


# -- splitting ------------------------------------------------------------------------------------

def test_split_packs_whole_lines_up_to_the_limit() -> None:
    text = "\n".join(["a" * 10, "b" * 10, "c" * 10])
    assert split_text(text, 21) == ["a" * 10 + "\n" + "b" * 10, "c" * 10]
    assert split_text(text, 32) == [text]


def test_split_cuts_a_long_line_at_spaces_then_hard() -> None:
    words = " ".join(["word"] * 20)  # 99 chars
    chunks = split_text(words, 30)
    assert all(len(c) <= 30 for c in chunks)
    assert " ".join(chunks) == words
    assert split_text("x" * 65, 30) == ["x" * 30, "x" * 30, "x" * 5]


def test_split_ignores_blank_text() -> None:
    assert split_text("  \n \n", 30) == []


# -- replies, priority ----------------------------------------------------------------------------

async def test_reply_chunks_are_sent_consecutively_and_within_limit(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox(max_chars=40)
    lines = [f"line {i:02d} " + "z" * 20 for i in range(6)]  # 28 chars each: one per chunk
    box.reply("room", "alice", "\n".join(lines))
    box.notify("room", "bob", "you got 5")
    await box.start()
    assert await box.flush(2.0)
    assert transport.texts() == [*lines, f"you got 5\n{HINT}"]
    assert all(len(s.text) <= 40 for s in transport.sent)


async def test_a_sequence_is_several_replies_sent_back_to_back(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox()
    box.reply("room", "alice", ["first", "   ", "second"])
    await box.start()
    assert await box.flush(2.0)
    assert transport.texts() == ["first", "second"]


async def test_replies_first_then_notifications_and_chat_in_queue_order(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox()
    box.chat("room", "chat 1")
    box.notify("room", "bob", "note 1", transactional=True)
    box.reply("room", "alice", "reply 1")
    box.chat("room", "chat 2")
    box.notify("room", "carol", "note 2", transactional=True)
    box.reply("room", "dave", "reply 2")
    await box.start()
    assert await box.flush(2.0)
    assert transport.texts() == ["reply 1", "reply 2", "chat 1", "note 1", "chat 2", "note 2"]


async def test_an_announcement_stays_ahead_of_the_pms_it_announces_under_backlog(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    """RELIABILITY 5: a drop announced in chat, then one PM per recipient — with PMs already
    waiting, the announcement must still go before the PMs queued after it."""
    box = make_outbox()
    for i in range(5):
        box.notify("room", f"earlier{i}", f"older note {i}", transactional=True)
    box.chat("room", "☔ rain for 3 users")
    for user in ("ann", "ben", "cat"):
        box.notify("room", user, f"+5 for {user}", transactional=True)
    await box.start()
    assert await box.flush(2.0)
    texts = transport.texts()
    assert texts.index("☔ rain for 3 users") < min(texts.index(f"+5 for {u}")
                                                  for u in ("ann", "ben", "cat"))


async def test_empty_text_is_ignored(make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox()
    box.reply("room", "alice", "  ")
    box.notify("room", "alice", "\n")
    box.chat("room", "")
    assert box.depth() == 0
    await box.start()
    assert await box.flush(1.0)
    assert transport.sent == []


# -- notifications: merging, quiet, hint ----------------------------------------------------------

async def test_notifications_waiting_within_the_window_merge_into_one_pm(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox(merge_window_seconds=5.0)
    box.notify("room", "alice", "milestone: +10")
    box.notify("room", "ALICE", "streak: +20")
    box.notify("room", "bob", "for bob")
    await box.start()
    assert await box.flush(2.0)
    assert transport.texts("alice") == [f"milestone: +10\nstreak: +20\n{HINT}"]
    assert transport.texts("bob") == [f"for bob\n{HINT}"]


async def test_no_merge_outside_the_window(make_outbox: MakeOutbox,
                                           transport: FakeTransport) -> None:
    box = make_outbox(merge_window_seconds=0.0)
    box.notify("room", "alice", "one", transactional=True)
    box.notify("room", "alice", "two", transactional=True)
    await box.start()
    assert await box.flush(2.0)
    assert transport.texts("alice") == ["one", "two"]


async def test_no_merge_into_a_notification_already_being_sent(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox(merge_window_seconds=5.0)
    transport.gate = asyncio.Event()
    box.notify("room", "alice", "first", transactional=True)
    await box.start()
    await wait_until(lambda: transport.attempts == 1, 2.0)  # in flight, held by the gate
    box.notify("room", "alice", "second", transactional=True)
    transport.gate.set()
    assert await box.flush(2.0)
    assert transport.texts("alice") == ["first", "second"]


async def test_merged_pm_is_split_at_max_chars_with_the_hint_once_at_the_end(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox(merge_window_seconds=5.0, max_chars=40)
    notes = [f"note {i}: " + "n" * 25 for i in range(4)]  # 33 chars each
    for note in notes:
        box.notify("room", "alice", note)
    await box.start()
    assert await box.flush(2.0)
    sent = transport.texts("alice")
    assert all(len(t) <= 40 for t in sent)
    assert "\n".join(sent) == "\n".join([*notes, HINT])
    assert sum(t.count(HINT) for t in sent) == 1 and sent[-1].endswith(HINT)


async def test_quiet_users_miss_non_transactional_notifications_only(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    quiet = {("room", "alice")}
    box = make_outbox(is_quiet=lambda c, u: (c, u.lower()) in quiet)
    box.notify("room", "alice", "you reached 1 h")
    box.notify("room", "alice", "bob tipped you 5", transactional=True)
    box.reply("room", "alice", "your balance: 5")
    box.notify("room", "carol", "you reached 1 h")
    await box.start()
    assert await box.flush(2.0)
    assert transport.texts("alice") == ["your balance: 5", "bob tipped you 5"]
    assert transport.texts("carol") == [f"you reached 1 h\n{HINT}"]


async def test_quiet_is_judged_when_queued(make_outbox: MakeOutbox,
                                           transport: FakeTransport) -> None:
    quiet: set[str] = set()
    box = make_outbox(is_quiet=lambda c, u: u in quiet)
    box.notify("room", "alice", "queued while loud")
    quiet.add("alice")
    await box.start()
    assert await box.flush(2.0)
    assert transport.texts("alice") == [f"queued while loud\n{HINT}"]


# -- failures -------------------------------------------------------------------------------------

async def test_failed_sends_are_retried_in_order_without_loss(
        make_outbox: MakeOutbox, transport: FakeTransport,
        caplog: pytest.LogCaptureFixture) -> None:
    box = make_outbox(retry_seconds=0.02, log=logging.getLogger("test.outbox"))
    transport.fail(5)
    for i in range(3):
        box.reply("room", "alice", f"reply {i}")
    box.notify("room", "bob", "tip received", transactional=True)
    with caplog.at_level(logging.INFO, logger="test.outbox"):
        await box.start()
        assert await box.flush(5.0)
    assert transport.texts() == ["reply 0", "reply 1", "reply 2", "tip received"]
    assert transport.attempts == 4 + 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per outage, not per retry
    assert any("again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


async def test_a_second_outage_warns_again(make_outbox: MakeOutbox, transport: FakeTransport,
                                           caplog: pytest.LogCaptureFixture) -> None:
    box = make_outbox(retry_seconds=0.01, log=logging.getLogger("test.outbox2"))
    with caplog.at_level(logging.WARNING, logger="test.outbox2"):
        await box.start()
        transport.fail(2)
        box.reply("room", "alice", "one")
        assert await box.flush(2.0)
        transport.fail(2)
        box.reply("room", "alice", "two")
        assert await box.flush(2.0)
    assert transport.texts() == ["one", "two"]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


async def test_a_multi_chunk_reply_survives_a_failure_mid_way(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox(max_chars=20, retry_seconds=0.01)
    text = "\n".join(f"part {i} of the reply" for i in range(3))  # 18 chars per line
    box.reply("room", "alice", text)
    transport.gate = asyncio.Event()
    await box.start()
    await wait_until(lambda: transport.attempts == 1, 2.0)
    box.reply("room", "bob", "other reply")
    transport.fail(3)
    transport.gate.set()
    assert await box.flush(2.0)
    assert transport.texts() == [f"part {i} of the reply" for i in range(3)] + ["other reply"]


# -- chat -----------------------------------------------------------------------------------------

async def test_identical_chat_within_30_s_is_dropped(make_outbox: MakeOutbox,
                                                     transport: FakeTransport) -> None:
    box = make_outbox()
    box.chat("room", "🎰 jackpot!")
    box.chat("room", "🎰 jackpot!")
    box.chat("other", "🎰 jackpot!")  # another channel: its own history
    box.chat("room", "something else")
    await box.start()
    assert await box.flush(2.0)
    assert [s.text for s in transport.sent if s.channel == "other"] == ["🎰 jackpot!"]
    assert [s.text for s in transport.sent if s.channel == "room"] == [
        "🎰 jackpot!", "something else"]
    box.chat("room", "🎰 jackpot!")
    assert await box.flush(1.0)
    assert [s.text for s in transport.sent if s.channel == "room"].count("🎰 jackpot!") == 1


async def test_the_duplicate_window_follows_the_injected_clock(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    clock = FakeClock(datetime(2026, 3, 3, 20, 0, tzinfo=UTC))
    box = make_outbox(clock=clock)
    await box.start()
    box.chat("room", "☔ rain!")
    await clock.advance(seconds=29)  # no real time passes here, only the economy's
    box.chat("room", "☔ rain!")  # within 30 s on the clock: dropped
    await clock.advance(seconds=1)
    box.chat("room", "☔ rain!")  # 30 s after the first: a new line
    await clock.advance(minutes=45)
    box.chat("room", "☔ rain!")
    box.chat("room", "☔ rain!")  # the same instant on the clock: dropped
    assert await box.flush(2.0)
    assert transport.texts() == ["☔ rain!"] * 3


async def test_the_merge_window_follows_the_injected_clock(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    clock = FakeClock(datetime(2026, 3, 3, 20, 0, tzinfo=UTC))
    box = make_outbox(clock=clock, merge_window_seconds=5.0)
    box.notify("room", "alice", "one", transactional=True)
    await clock.advance(seconds=4)
    box.notify("room", "alice", "two", transactional=True)  # 4 s later on the clock: merged
    await clock.advance(minutes=45)
    box.notify("room", "alice", "three", transactional=True)  # still unsent, but not merged
    await box.start()
    assert await box.flush(2.0)
    assert transport.texts("alice") == ["one\ntwo", "three"]


async def test_chat_budget_holds_the_excess_while_pms_still_flow(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox(chat_per_minute=2)
    for i in range(4):
        box.chat("room", f"line {i}")
    await box.start()
    await wait_until(lambda: len(transport.sent) == 2, 2.0)
    box.reply("room", "alice", "a reply is not held")
    await wait_until(lambda: len(transport.sent) == 3, 2.0)
    assert transport.texts() == ["line 0", "line 1", "a reply is not held"]
    assert box.depth() == 2  # waiting for the rolling minute, not dropped
    assert not await box.flush(0.2)


# -- pacing ---------------------------------------------------------------------------------------

async def test_sends_in_one_channel_are_at_least_the_gap_apart(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    gap = 0.05
    box = make_outbox(min_gap_seconds=gap)
    started = time.monotonic()
    await box.start()
    for i in range(5):
        box.reply("room", "alice", f"r{i}")
    box.notify("room", "bob", "n", transactional=True)
    box.chat("room", "c")
    assert await box.flush(5.0)
    times = [s.at for s in transport.sent]
    assert len(times) == 7
    assert times[0] - started < gap  # the first goes at once
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= gap - 0.005


async def test_channels_are_paced_independently(make_outbox: MakeOutbox,
                                                transport: FakeTransport) -> None:
    box = make_outbox(min_gap_seconds=0.2)
    await box.start()
    box.reply("one", "alice", "a1")
    box.reply("one", "alice", "a2")
    box.reply("two", "bob", "b1")
    await wait_until(lambda: len(transport.sent) >= 2, 1.0)
    first_two = {(s.channel, s.text) for s in transport.sent[:2]}
    assert first_two == {("one", "a1"), ("two", "b1")}
    assert await box.flush(2.0)


async def test_a_high_priority_message_overtakes_while_waiting_for_the_gap(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox(min_gap_seconds=0.1)
    await box.start()
    box.chat("room", "chat first")
    await wait_until(lambda: len(transport.sent) == 1, 1.0)
    box.chat("room", "chat second")
    box.reply("room", "alice", "reply")  # queued during the gap: goes before the chat
    assert await box.flush(2.0)
    assert transport.texts() == ["chat first", "reply", "chat second"]


# -- depth, flush, close --------------------------------------------------------------------------

async def test_depth_is_reported_as_it_changes(make_outbox: MakeOutbox,
                                               transport: FakeTransport) -> None:
    seen: list[int] = []
    box = make_outbox(on_depth=seen.append, max_chars=20)
    box.reply("room", "alice", "one line\n" + "x" * 18)  # two chunks
    box.chat("room", "hello")
    assert box.depth() == 3
    await box.start()
    assert await box.flush(2.0)
    assert box.depth() == 0
    assert seen[:2] == [2, 3] and seen[-1] == 0


async def test_flush_times_out_while_the_transport_is_down(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox(retry_seconds=0.01)
    transport.fail(10_000)
    box.reply("room", "alice", "held")
    await box.start()
    assert not await box.flush(0.1)
    assert box.depth() == 1
    transport.fail(0)
    assert await box.flush(2.0)
    assert transport.texts() == ["held"]


async def test_close_flushes_then_stops(make_outbox: MakeOutbox,
                                        transport: FakeTransport) -> None:
    box = make_outbox(min_gap_seconds=0.01)
    await box.start()
    for i in range(3):
        box.reply("room", "alice", f"r{i}")
    await box.close(timeout=2.0)
    assert transport.texts() == ["r0", "r1", "r2"]
    box.reply("room", "alice", "after close")
    assert box.depth() == 0
    assert transport.texts() == ["r0", "r1", "r2"]


async def test_enqueue_before_start_is_sent_on_start(make_outbox: MakeOutbox,
                                                     transport: FakeTransport) -> None:
    box = make_outbox()
    box.reply("room", "alice", "early")
    assert box.depth() == 1
    assert transport.sent == []
    await box.start()
    assert await box.flush(2.0)
    assert transport.texts() == ["early"]
