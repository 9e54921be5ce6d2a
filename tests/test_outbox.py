"""The outbox against a recording transport: splitting, priority, merging, quiet, retries, chat
dedupe, budget and folding, pacing by CyTube's limiter (its mirror in ``economy_core.ratelimit``
too), flush, close and the PMs kept across a restart. Real monotonic time; no fixed sleeps to
wait for things (``flush`` and bounded polling do the waiting)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from economy_core.clock import FakeClock
from economy_core.db import make_engine
from economy_core.outbox import Outbox, PendingMessage, split_text, summary_text
from economy_core.outbox_store import OutboxStore
from economy_core.ratelimit import (
    CYTUBE_ANTIFLOOD_DEFAULT,
    CYTUBE_PM,
    CyTubeLimiter,
    Limits,
    SendPlanner,
)
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
        self._ok_then_fail: int | None = None
        self.gate: asyncio.Event | None = None

    def fail(self, n: int) -> None:
        self._failures = n

    def fail_after(self, n: int) -> None:
        """The next ``n`` sends succeed, every later one raises."""
        self._ok_then_fail = n

    async def _attempt(self, channel: str, to: str | None, text: str) -> None:
        self.attempts += 1
        if self.gate is not None:
            await self.gate.wait()
        if self._ok_then_fail is not None:
            if self._ok_then_fail == 0:
                raise ConnectionError("nats down")
            self._ok_then_fail -= 1
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
    await box.start()
    box.chat("room", "line 0")
    box.chat("room", "line 1")
    await wait_until(lambda: len(transport.sent) == 2, 2.0)
    box.chat("room", "line 2")  # the budget is used up: these wait for the rolling minute
    box.chat("room", "line 3")
    box.reply("room", "alice", "a reply is not held")
    await wait_until(lambda: len(transport.sent) == 3, 2.0)
    assert transport.texts() == ["line 0", "line 1", "a reply is not held"]
    assert box.depth() == 2  # waiting, not dropped
    assert not await box.flush(0.2)


async def test_a_chat_backlog_beyond_the_next_minute_is_folded_into_a_summary(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox(chat_per_minute=3)
    box.chat("room", "alice beat bob", summary="challenge results")
    box.chat("room", "carol beat dan", summary="challenge results")
    box.chat("room", "erin beat fay", summary="challenge results")  # the queue is full now
    box.chat("room", "gus beat hal", summary="challenge results")
    box.chat("room", "ivy beat jon", summary="challenge results")
    assert box.depth() == 3  # never more queued than the next minute can send
    box.chat("other", "a line in another channel")  # its own queue and budget
    await box.start()
    assert await box.flush(2.0)
    assert [s.text for s in transport.sent if s.channel == "room"] == [
        "alice beat bob", "carol beat dan", "…and 3 more challenge results"]
    assert [s.text for s in transport.sent if s.channel == "other"] == [
        "a line in another channel"]


async def test_a_summary_names_every_noun_it_stands_for(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox(chat_per_minute=2)
    box.chat("room", "first")
    box.chat("room", "alice beat bob", summary="challenge results")
    box.chat("room", "rain!")  # default noun
    box.chat("room", "carol beat dan", summary="challenge results")
    await box.start()
    assert await box.flush(2.0)
    assert transport.texts() == [
        "first", "…and 3 more (challenge results: 2, announcements: 1)"]
    assert summary_text({"wins": 4}) == "…and 4 more wins"


async def test_folding_keeps_the_slot_of_the_folded_line_among_notifications(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox(chat_per_minute=1)
    box.chat("room", "☔ rain for 2 users")
    box.chat("room", "☔ rain for 3 users")  # folded into the first slot
    box.notify("room", "ann", "+5 for ann", transactional=True)
    await box.start()
    assert await box.flush(2.0)
    assert transport.texts() == ["…and 2 more announcements", "+5 for ann"]


async def test_a_folded_line_still_counts_for_the_duplicate_window(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox(chat_per_minute=1)
    box.chat("room", "one")
    box.chat("room", "two")  # folded
    box.chat("room", "two")  # a duplicate of a line queued 0 s ago: dropped, not folded
    await box.start()
    assert await box.flush(2.0)
    assert transport.texts() == ["…and 2 more announcements"]


# -- CyTube's limiter, mirrored -------------------------------------------------------------------

T0 = 1_700_000_000_000  # a Date.now() in ms


def test_the_limiter_lets_a_burst_through_then_one_per_gap() -> None:
    limiter = CyTubeLimiter(now_ms=lambda: 0)
    assert [limiter.throttle(CYTUBE_PM, T0) for _ in range(20)] == [False] * 20
    assert limiter.throttle(CYTUBE_PM, T0) is True  # the 21st at once: dropped
    assert limiter.throttle(CYTUBE_PM, T0 + 99) is True  # 99 ms < 1000/10
    assert limiter.throttle(CYTUBE_PM, T0 + 100) is False  # sustained: lastTime moves
    assert limiter.throttle(CYTUBE_PM, T0 + 150) is True  # measured from the last accepted
    assert limiter.throttle(CYTUBE_PM, T0 + 200) is False
    assert (limiter.count, limiter.last_time, limiter.dropped, limiter.allowed) == (
        20, T0 + 200, 3, 22)


def test_the_burst_comes_back_only_after_more_than_the_cooldown() -> None:
    limiter = CyTubeLimiter()
    for _ in range(20):
        assert not limiter.throttle(CYTUBE_PM, T0)
    # lastTime < now - cooldown is strict: exactly 2000 ms later is no cooldown (count stays
    # 20; the message passes as sustained) ...
    assert not limiter.throttle(CYTUBE_PM, T0 + 2000)
    assert limiter.throttle(CYTUBE_PM, T0 + 2000)
    # ... 2001 ms of silence is: count starts again at 1 and 19 more go at once
    assert not limiter.throttle(CYTUBE_PM, T0 + 4001)
    assert limiter.count == 1
    assert [limiter.throttle(CYTUBE_PM, T0 + 4001) for _ in range(20)] == [False] * 19 + [True]


def test_pms_and_chat_share_one_limiter_with_their_own_options() -> None:
    limiter = CyTubeLimiter()
    for _ in range(10):  # ten PMs: count 10, above the antiflood burst of 4
        assert not limiter.throttle(CYTUBE_PM, T0)
    chat = CYTUBE_ANTIFLOOD_DEFAULT  # burst 4, sustained 1/s, cooldown 4 s
    assert limiter.throttle(chat, T0 + 500)  # needs 1000 ms since the last message
    assert not limiter.throttle(chat, T0 + 1000)
    assert limiter.count == 10  # a sustained pass does not count
    assert not limiter.throttle(CYTUBE_PM, T0 + 1000)  # a PM still has burst left (11 < 20)
    assert limiter.throttle(chat, T0 + 1999)
    assert not limiter.throttle(chat, T0 + 5001)  # > 4 s of silence: cooled down
    assert limiter.count == 1


def test_limits_default_their_cooldown_to_burst_over_sustained() -> None:
    assert CYTUBE_PM.cooldown_seconds == 2.0 and CYTUBE_PM.gap_seconds == 0.1
    assert Limits(4, 1.0, 4.0).cooldown_seconds == 4.0
    assert Limits(3, 2.0).cooldown_seconds == 1.5
    with pytest.raises(ValueError):
        Limits(0, 1.0)
    with pytest.raises(ValueError):
        SendPlanner(-0.01)


def test_the_planner_sends_a_burst_at_once_then_keeps_gap_plus_margin() -> None:
    planner = SendPlanner(margin=0.015, cooldown_margin=0.1)
    now = 100.0
    for _ in range(20):
        assert planner.ready_at(CYTUBE_PM, now) == now
        planner.record(CYTUBE_PM, now)
    assert planner.ready_at(CYTUBE_PM, now) == pytest.approx(now + 0.115)
    planner.record(CYTUBE_PM, now + 0.115)
    # after the cooldown plus its margin the burst is back
    later = now + 0.115 + 2.1
    assert planner.ready_at(CYTUBE_PM, later - 0.001, backlog=50) == pytest.approx(later)
    assert planner.ready_at(CYTUBE_PM, later) == later
    planner.record(CYTUBE_PM, later)
    assert planner.count == 1
    # chat under antiflood right after a PM: count 1 < 4, but other options keep the margin
    # (transit must not swap the two)
    assert planner.ready_at(CYTUBE_ANTIFLOOD_DEFAULT, later) == pytest.approx(later + 0.015)
    assert planner.ready_at(CYTUBE_PM, later) == later


def test_a_long_backlog_waits_for_the_cooldown_and_goes_as_a_fresh_burst() -> None:
    planner = SendPlanner(margin=0.02, cooldown_margin=0.1)
    assert planner.block_threshold(CYTUBE_PM) == 18  # 2.1 s / 0.12 s
    assert planner.block_threshold(CYTUBE_ANTIFLOOD_DEFAULT) == math.inf  # 4.1 s > 4 gaps
    for _ in range(20):
        planner.record(CYTUBE_PM, 50.0)
    assert planner.ready_at(CYTUBE_PM, 50.0, backlog=17) == pytest.approx(50.12)
    assert planner.ready_at(CYTUBE_PM, 50.0, backlog=18) == pytest.approx(52.1)


_LIMITS = st.sampled_from([CYTUBE_PM, CYTUBE_ANTIFLOOD_DEFAULT, Limits(2, 5.0),
                           Limits(3, 10.0, 0.5), Limits(20, 10.0, 0.05), Limits(5, 50.0)])


@settings(max_examples=300, deadline=None)
@given(data=st.data(), margin_ms=st.integers(2, 30), cooldown_margin_ms=st.integers(2, 150),
       epoch_ms=st.integers(0, 999), chat_limits=_LIMITS)
def test_planned_sends_are_never_dropped_by_the_exact_limiter(
        data: st.DataObject, margin_ms: int, cooldown_margin_ms: int, epoch_ms: int,
        chat_limits: Limits) -> None:
    """Whatever the pattern (bursts, pauses around the cooldown, long and short backlogs, PMs
    and chat mixed), sends at or after the planner's time reach CyTube's exact limiter (integer
    ms, any phase of its clock) delayed by transit jitter below the smaller margin minus 1 ms,
    in arrival order (so possibly swapped): none is dropped."""
    planner = SendPlanner(margin=margin_ms / 1000, cooldown_margin=cooldown_margin_ms / 1000)
    jitter_max = (min(margin_ms, cooldown_margin_ms) - 1) / 1000 * 0.999
    now = 10.0
    arrivals: list[tuple[float, int, Limits]] = []
    steps = data.draw(st.lists(st.tuples(
        st.booleans(),  # a chat line (else a PM)
        st.one_of(st.just(0.0), st.floats(0, 0.3), st.floats(1.5, 4.5)),  # idle before asking
        st.floats(0, 0.05),  # how much later than allowed it actually goes
        st.floats(0, 1),  # its transit jitter (fraction of the most allowed)
        st.integers(1, 40)), min_size=1, max_size=80))  # the backlog it is part of
    for index, (is_chat, idle, late, jitter, backlog) in enumerate(steps):
        limits = chat_limits if is_chat else CYTUBE_PM
        now += idle
        at = planner.ready_at(limits, now, backlog) + late
        assert at >= now
        planner.record(limits, at)
        now = at
        arrivals.append((at + jitter * jitter_max, index, limits))
    limiter = CyTubeLimiter()
    for arrival, _, limits in sorted(arrivals, key=lambda a: (a[0], a[1])):
        limiter.throttle(limits, int(arrival * 1000) + epoch_ms)
    assert limiter.dropped == 0


# -- pacing ---------------------------------------------------------------------------------------

def _replay(sent: Sequence[Sent], chat: Limits = CYTUBE_PM,
            pm: Limits = CYTUBE_PM) -> CyTubeLimiter:
    """The recorded sends of one channel through CyTube's exact limiter."""
    limiter = CyTubeLimiter()
    for s in sent:
        limiter.throttle(chat if s.to is None else pm, int(s.at * 1000))
    return limiter


async def test_a_lone_reply_leaves_at_once(make_outbox: MakeOutbox,
                                          transport: FakeTransport) -> None:
    box = make_outbox()
    await box.start()
    for i in range(3):  # one after the other, each alone in the queue
        asked = time.monotonic()
        box.reply("room", f"user{i}", "your balance: 5")
        await wait_until(lambda i=i: len(transport.sent) == i + 1, 1.0, interval=0.001)
        assert transport.sent[-1].at - asked < 0.05


async def test_twenty_at_once_go_in_one_burst_and_the_backlog_at_the_sustained_rate(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    margin = 0.01
    box = make_outbox(margin_seconds=margin)
    await box.start()
    started = time.monotonic()
    for i in range(26):
        box.reply("room", f"user{i:02d}", f"reply {i}")
    assert await box.flush(5.0)
    times = [s.at for s in transport.sent]
    assert transport.texts() == [f"reply {i}" for i in range(26)]
    assert times[19] - started < 0.1  # the burst: all twenty before one gap could pass
    gaps = [b - a for a, b in itertools.pairwise(times[19:])]
    assert min(gaps) >= 0.1 + margin - 0.002  # then 1/sustained + margin apart
    assert _replay(transport.sent).dropped == 0


async def test_a_long_backlog_goes_in_bursts_one_cooldown_apart(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    limits = Limits(5, 50.0)  # CyTube's shape, 10× faster: burst 5, gap 20 ms, cooldown 100 ms
    box = make_outbox(pm_limits=limits, margin_seconds=0.005, cooldown_margin_seconds=0.01)
    await box.start()
    for i in range(17):
        box.notify("room", f"user{i:02d}", f"note {i}", transactional=True)
    assert await box.flush(5.0)
    times = [s.at for s in transport.sent]
    bursts = [times[0:5], times[5:10], times[10:15]]
    assert all(b[-1] - b[0] < 0.02 for b in bursts)  # each burst at once ...
    assert all(nxt[0] - prev[-1] >= 0.11 - 0.002  # ... one cooldown + margin apart
               for prev, nxt in itertools.pairwise(bursts))
    assert times[15] - times[14] >= 0.025 - 0.002  # a short rest: one per gap again
    assert _replay(transport.sent, pm=limits).dropped == 0


async def test_replies_overtake_a_backlog_of_notifications(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox()
    for i in range(25):
        box.notify("room", f"user{i:02d}", f"note {i}", transactional=True)
    await box.start()
    await wait_until(lambda: len(transport.sent) >= 20, 2.0, interval=0.001)
    box.reply("room", "alice", "reply a")
    box.reply("room", "bob", "reply b")
    assert await box.flush(5.0)
    texts = transport.texts()
    assert texts.index("reply a") < texts.index("note 24")
    assert texts.index("reply b") == texts.index("reply a") + 1
    assert _replay(transport.sent).dropped == 0


async def test_the_limiter_budget_is_shared_by_pms_and_chat(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox(pm_limits=Limits(4, 20.0), margin_seconds=0.005)
    await box.start()
    for i in range(3):
        box.reply("room", "alice", f"r{i}")
    box.chat("room", "c0")
    box.chat("room", "c1")  # the fifth message: waits one gap after the fourth
    assert await box.flush(2.0)
    times = [s.at for s in transport.sent]
    assert times[4] - times[3] >= 0.05 + 0.005 - 0.002
    assert times[3] - times[0] < 0.05


async def test_chat_below_moderator_follows_the_channels_antiflood(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    antiflood = Limits(2, 10.0, 0.2)  # CyTube's default is 4, 1/s, 4 s; smaller here for speed
    ranks: dict[str, int | None] = {"room": None, "modroom": 2}
    box = make_outbox(chat_antiflood=antiflood, bot_rank=ranks.get, margin_seconds=0.005)
    await box.start()
    for i in range(4):
        box.chat("room", f"line {i}")
        box.chat("modroom", f"line {i}")
    assert await box.flush(3.0)
    room = [s for s in transport.sent if s.channel == "room"]
    mod = [s for s in transport.sent if s.channel == "modroom"]
    assert [s.text for s in room] == [f"line {i}" for i in range(4)]
    assert min(b.at - a.at for a, b in itertools.pairwise(room[1:])) >= 0.1  # antiflood gap
    assert mod[-1].at - mod[0].at < 0.05  # a moderator's chat: the PM limits, one burst
    assert _replay(room, chat=antiflood).dropped == 0


async def test_channels_are_paced_independently(make_outbox: MakeOutbox,
                                                transport: FakeTransport) -> None:
    box = make_outbox(pm_limits=Limits(1, 5.0))
    await box.start()
    box.reply("one", "alice", "a1")
    box.reply("one", "alice", "a2")
    box.reply("two", "bob", "b1")
    await wait_until(lambda: len(transport.sent) >= 2, 1.0)
    first_two = {(s.channel, s.text) for s in transport.sent[:2]}
    assert first_two == {("one", "a1"), ("two", "b1")}
    assert await box.flush(2.0)


async def test_a_high_priority_message_overtakes_while_waiting_for_the_limiter(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    box = make_outbox(pm_limits=Limits(1, 10.0))
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
    box = make_outbox()
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


# -- close: a bounded stop, money PMs kept for the next start -------------------------------------

class MemoryStore:
    """A :class:`~economy_core.outbox.PendingStore` in memory."""

    def __init__(self) -> None:
        self.rows: dict[int, PendingMessage] = {}
        self._ids = itertools.count(1)

    async def load(self) -> list[PendingMessage]:
        return list(self.rows.values())

    async def save(self, messages: Sequence[PendingMessage], forget: Sequence[int]) -> None:
        await self.forget(forget)
        for message in messages:
            row = next(self._ids)
            self.rows[row] = attrs.evolve(message, id=row)

    async def forget(self, ids: Sequence[int]) -> None:
        for row in ids:
            self.rows.pop(row, None)


def _queue_a_busy_room(box: Outbox, n: int = 100) -> None:
    for i in range(n):
        box.reply("room", f"asker{i:03d}", f"reply {i}")
        box.notify("room", f"payee{i:03d}", f"you won {i} Z", transactional=True)
        box.notify("room", f"walker{i:03d}", f"milestone {i}")
        box.chat("room", f"duel {i} settled", summary="challenge results")


async def test_close_returns_within_its_grace_and_keeps_only_the_money_pms(
        make_outbox: MakeOutbox, transport: FakeTransport,
        caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()
    box = make_outbox(store=store, shutdown_seconds=0.5, log=logging.getLogger("test.close"))
    _queue_a_busy_room(box, 150)
    await box.start()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="test.close"):
        await box.close()
    assert time.monotonic() - started < 2.0
    sent = set(transport.texts())
    kept = {m.text for m in store.rows.values()}
    money = {f"reply {i}" for i in range(150)} | {f"you won {i} Z" for i in range(150)}
    assert kept and not kept & sent and kept | (sent & money) == money  # each once
    assert all(m.reply == m.text.startswith("reply") for m in store.rows.values())
    assert not any("milestone" in t or "duel" in t for t in kept)
    [line] = [r.getMessage() for r in caplog.records]
    assert f"{len(kept)} PM(s) kept for the next start" in line
    milestones_sent = sum("milestone" in t for t in sent)
    chat_sent = sum(s.to is None for s in transport.sent)
    # the chat queue never held more than the budget (10): the rest was folded, not queued
    assert f"dropped {150 - milestones_sent} notification(s), {10 - chat_sent} chat" in line
    assert box.depth() == 0


async def test_close_is_bounded_while_the_transport_hangs(
        make_outbox: MakeOutbox, transport: FakeTransport) -> None:
    store = MemoryStore()
    transport.gate = asyncio.Event()  # every send hangs (a stalled connection)
    box = make_outbox(store=store, shutdown_seconds=0.3)
    _queue_a_busy_room(box, 200)
    await box.start()
    await wait_until(lambda: transport.attempts == 1, 1.0)
    started = time.monotonic()
    await box.close()
    assert time.monotonic() - started < 2.0
    assert len(store.rows) == 400 and transport.sent == []  # the abandoned send is kept too


async def test_money_pms_kept_at_close_are_sent_first_after_the_next_start(
        tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 3, 3, 20, 0, tzinfo=UTC))
    engine = make_engine(str(tmp_path / "outbox.db"))
    try:
        store = OutboxStore(engine, clock)
        await store.start()
        down = FakeTransport()
        down.fail(10**9)
        box = Outbox(down, store=store, retry_seconds=0.01, max_chars=40,
                     merge_window_seconds=0.0)
        box.reply("room", "alice", "\n".join(f"line {i} of a long reply" for i in range(3)))
        box.notify("room", "bob", "carol tipped you 5", transactional=True)
        box.notify("room", "bob", "you reached 1 h")  # not about money: dropped at close
        box.chat("room", "🎰 jackpot!")  # chat: dropped at close
        await box.start()
        await box.close(timeout=0.05)
        kept = await store.load()
        assert [(m.channel, m.username, m.reply) for m in kept] == [
            ("room", "alice", True), ("room", "bob", False)]

        up = FakeTransport()
        box2 = Outbox(up, store=store, retry_seconds=0.01, max_chars=40,
                      merge_window_seconds=0.0)
        box2.notify("room", "dave", "queued before start", transactional=True)
        await box2.start()
        assert await box2.flush(2.0)
        assert up.texts() == ["line 0 of a long reply", "line 1 of a long reply",
                              "line 2 of a long reply", "carol tipped you 5",
                              "queued before start"]
        await wait_until(lambda: not box2._sent_stored, 2.0)
        assert await store.load() == []  # deleted once sent
        await box2.close()
        assert await store.load() == []
    finally:
        await engine.dispose()


async def test_a_kept_pm_unsent_again_is_kept_once_with_only_its_unsent_part(
        tmp_path: Path) -> None:
    engine = make_engine(str(tmp_path / "outbox.db"))
    try:
        store = OutboxStore(engine, FakeClock())
        await store.start()
        text = "part one of the text\npart two of the text"  # two chunks of 20
        await store.save([PendingMessage("room", "alice", text, True)], [])
        transport = FakeTransport()
        transport.fail_after(1)  # "part one" goes, then the connection is lost
        box = Outbox(transport, store=store, max_chars=20, retry_seconds=0.01)
        await box.start()
        await wait_until(lambda: transport.attempts >= 2, 1.0)
        await box.close(timeout=0.05)
        assert transport.texts() == ["part one of the text"]
        assert [(m.username, m.text) for m in await store.load()] == [
            ("alice", "part two of the text")]
    finally:
        await engine.dispose()


class NotYetConnected(FakeTransport):
    """A transport that has not connected yet: sending raises until ``connect()``."""

    def __init__(self) -> None:
        super().__init__()
        self.up = asyncio.Event()

    def connect(self) -> None:
        self.up.set()

    async def first_connection(self) -> None:
        await self.up.wait()

    async def _attempt(self, channel: str, to: str | None, text: str) -> None:
        if not self.up.is_set():
            raise ConnectionError("not connected to NATS")
        await super()._attempt(channel, to, text)


async def test_nothing_is_tried_before_the_first_connection(
        caplog: pytest.LogCaptureFixture) -> None:
    transport = NotYetConnected()
    box = Outbox(transport, retry_seconds=0.01, log=logging.getLogger("test.outbox"))
    with caplog.at_level(logging.INFO, logger="test.outbox"):
        box.notify("room", "alice", "your welcome wallet", transactional=True)
        await box.start()
        assert not await box.flush(0.1)  # waiting, quietly
        assert transport.attempts == 0
        transport.connect()
        assert await box.flush(2.0)
    await box.close(timeout=1.0)
    assert transport.texts("alice") == ["your welcome wallet"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
