"""Maintenance: SPEC §3.5 and acceptance scenario 10 (SPEC §8), through the real scheduler,
ledger and router on a SQLite file, time driven by the FakeClock (Tue 2026-03-03 20:00 UTC).

The app starts after 03:00, so its start-up catch-up for 03-03 runs at the first clock step;
``maintenance_app`` takes that step before any balance exists (the catch-up then records an
empty run for 03-03), so the scenarios see only the 03:00 run of 03-04."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest
from economy_plugins.maintenance import Maintenance

from economy_core.clock import FakeClock
from economy_core.hookspecs import hookimpl
from economy_core.ledger import Award, Kind, LedgerTx, Posting
from economy_core.testing import AppHarness, MakeApp

CHANNEL = "testchan"
NIGHT = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)


async def maintenance_app(make_app: MakeApp, config: dict[str, Any] | None = None, *,
                          balances: dict[str, int] | None = None,
                          core: dict[str, Any] | None = None, extra: Sequence[Any] = (),
                          **kwargs: Any) -> AppHarness:
    overrides: dict[str, Any] = {"plugins": {"maintenance": config or {}}, **(core or {})}
    app = await make_app(plugins=[Maintenance, "wallet", *extra], config=overrides,
                         channel=CHANNEL, **kwargs)
    await app.advance(0)  # the start-up catch-up for today, on an empty ledger
    if balances:
        await give(app, balances)
    return app


async def give(app: AppHarness, balances: dict[str, int]) -> None:
    await app.ledger.credit_many(CHANNEL, [
        Award(username=u, amount=n, type="admin_grant", kind=Kind.CORRECTION)
        for u, n in balances.items()])


async def postings_of(app: AppHarness, user: str, type: str) -> list[Posting]:
    return [p for p in reversed(await app.ledger.history(CHANNEL, user, limit=10_000))
            if p.type == type]


async def balances(app: AppHarness, users: list[str]) -> dict[str, int]:
    return {u: await app.balance(u) for u in users}


async def test_scenario_10_interest_at_three(make_app: MakeApp) -> None:
    app = await maintenance_app(make_app, balances={"alice": 10_000, "bob": 100_000,
                                                    "carol": 99})
    await app.clock.set(datetime(2026, 3, 4, 2, 59, tzinfo=UTC))
    assert await balances(app, ["alice", "bob", "carol"]) == {
        "alice": 10_000, "bob": 100_000, "carol": 99}
    await app.clock.set(NIGHT)
    await app.settle()
    assert await balances(app, ["alice", "bob", "carol"]) == {
        "alice": 10_010, "bob": 100_010, "carol": 99}
    [interest] = await postings_of(app, "alice", "interest")
    assert (interest.amount, interest.kind, interest.trigger_id, interest.at) == (
        10, Kind.EARN, "maintenance.interest", NIGHT)
    [bob] = await postings_of(app, "bob", "interest")
    assert bob.tx_id == interest.tx_id  # one batched transaction
    assert await postings_of(app, "carol", "interest") == []
    account = await app.ledger.account(CHANNEL, "alice")
    assert account.lifetime_earned == 10  # earn-class
    assert await app.ledger.verify() == []


async def test_scenario_10_decay_at_three(make_app: MakeApp) -> None:
    app = await maintenance_app(make_app, {"mode": "decay"},
                                balances={"dave": 100_000, "erin": 40_000})
    await app.clock.set(NIGHT)
    assert await balances(app, ["dave", "erin"]) == {"dave": 99_500, "erin": 40_000}
    [fee] = await postings_of(app, "dave", "decay")
    assert (fee.amount, fee.reason, fee.kind, fee.trigger_id) == (
        -500, "Vault maintenance fee", Kind.CORRECTION, "maintenance.decay")
    assert (await app.ledger.account(CHANNEL, "dave")).lifetime_spent == 0  # not a spend
    assert await postings_of(app, "erin", "decay") == []
    history = "\n".join(await app.pm("dave", "history"))
    assert "Vault maintenance fee" in history
    assert await app.ledger.verify() == []


class Committed:
    """Records the postings of every committed ledger transaction."""

    name = "committed"

    def __init__(self, ctx: Any) -> None:
        self.seen: list[list[Posting]] = []

    @hookimpl
    async def economy_transaction_committed(self, postings: Sequence[Posting]) -> None:
        self.seen.append(list(postings))


async def test_decay_is_one_transaction(make_app: MakeApp) -> None:
    app = await maintenance_app(make_app, {"mode": "decay"}, extra=[Committed],
                                balances={"dave": 100_000, "erin": 60_000, "finn": 1_000})
    await app.clock.set(NIGHT)
    await app.settle()
    decays = [[(p.user_key, p.amount) for p in seen] for seen in app.plugin("committed").seen
              if any(p.type == "decay" for p in seen)]
    assert decays == [[("dave", -500), ("erin", -300)]]  # committed together, in one go
    run = await app.plugin("maintenance").last_run(CHANNEL)
    assert run is not None and (run.accounts, run.total) == (2, 800)


async def test_a_failing_decay_moves_nothing_and_runs_again(
        make_app: MakeApp, monkeypatch: pytest.MonkeyPatch) -> None:
    app = await maintenance_app(make_app, {"mode": "decay"},
                                balances={"dave": 100_000, "erin": 60_000})
    debit = LedgerTx.debit

    async def failing_for_erin(self: LedgerTx, channel: str, username: str, amount: int,
                               **kwargs: Any) -> Any:
        if username == "erin":
            raise RuntimeError("disk full")
        return await debit(self, channel, username, amount, **kwargs)

    monkeypatch.setattr(LedgerTx, "debit", failing_for_erin)
    await app.clock.set(NIGHT)  # the job fails (logged): dave's fee rolls back with it
    assert await balances(app, ["dave", "erin"]) == {"dave": 100_000, "erin": 60_000}
    last = await app.plugin("maintenance").last_run(CHANNEL)
    assert last is not None and last.day == date(2026, 3, 3)  # the start-up run only
    monkeypatch.setattr(LedgerTx, "debit", debit)
    await app.plugin("maintenance").run_all()  # the retry for the same night
    assert await balances(app, ["dave", "erin"]) == {"dave": 99_500, "erin": 59_700}


async def spend_before_the_job_writes(app: AppHarness, monkeypatch: pytest.MonkeyPatch,
                                      spends: dict[str, int]) -> None:
    """Make the given spends commit after the nightly job has started but just before its
    ledger transaction opens (where a job that read balances first would already have planned
    its amounts)."""
    ledger = app.plugin("maintenance").ctx.ledger
    atomic = ledger.atomic

    async def spend_first(fn: Any) -> Any:
        for user, amount in spends.items():
            assert (await app.ledger.debit(CHANNEL, user, amount)).ok
        return await atomic(fn)

    monkeypatch.setattr(ledger, "atomic", spend_first)


async def test_interest_follows_the_balance_at_the_moment_it_is_paid(
        make_app: MakeApp, monkeypatch: pytest.MonkeyPatch) -> None:
    app = await maintenance_app(make_app, {"interest": {"daily_rate": 0.01,
                                                        "max_daily_interest": 1000}},
                                balances={"alice": 10_000, "bob": 150, "carol": 5_000})
    await spend_before_the_job_writes(app, monkeypatch, {"alice": 9_000, "bob": 100})
    await app.clock.set(NIGHT)
    # alice earns on 1,000 (not 10,000); bob fell below min_balance_to_earn; carol as usual
    assert await balances(app, ["alice", "bob", "carol"]) == {
        "alice": 1_010, "bob": 50, "carol": 5_050}
    assert await app.ledger.verify() == []


async def test_decay_follows_the_balance_at_the_moment_it_is_taken(
        make_app: MakeApp, monkeypatch: pytest.MonkeyPatch) -> None:
    app = await maintenance_app(make_app, {"mode": "decay"},
                                balances={"dave": 100_000, "erin": 60_000})
    await spend_before_the_job_writes(app, monkeypatch, {"dave": 20_000, "erin": 20_000})
    await app.clock.set(NIGHT)
    assert await balances(app, ["dave", "erin"]) == {"dave": 79_600, "erin": 40_000}
    [fee] = await postings_of(app, "dave", "decay")
    assert fee.metadata["balance"] == 80_000


async def test_interest_keys_change_who_gets_what(make_app: MakeApp) -> None:
    app = await maintenance_app(
        make_app, {"interest": {"daily_rate": 0.05, "max_daily_interest": 1000,
                                "min_balance_to_earn": 500}},
        balances={"alice": 499, "bob": 500, "carol": 1_010, "dave": 100_000})
    await app.clock.set(NIGHT)
    assert await balances(app, ["alice", "bob", "carol", "dave"]) == {
        "alice": 499, "bob": 525, "carol": 1_060, "dave": 101_000}


async def test_interest_amounts_are_exact_and_zero_pays_nothing(make_app: MakeApp) -> None:
    app = await maintenance_app(make_app, {"interest": {"daily_rate": 0.29,
                                                        "max_daily_interest": 1000,
                                                        "min_balance_to_earn": 1}},
                                balances={"alice": 100, "bob": 3})
    await app.clock.set(NIGHT)
    assert await app.balance("alice") == 129  # 0.29 × 100 is 29 (floating point says 28.99…)
    assert await app.balance("bob") == 3  # floor(0.87) = 0: no zero row either
    assert await postings_of(app, "bob", "interest") == []


async def test_banned_users_are_skipped(make_app: MakeApp) -> None:
    app = await maintenance_app(make_app, balances={"alice": 10_000, "mallory": 10_000})
    await app.app.identity.ban(CHANNEL, "mallory", by="admin", reason="test",
                               at=app.clock.now())
    await app.clock.set(NIGHT)
    assert await balances(app, ["alice", "mallory"]) == {"alice": 10_010, "mallory": 10_000}


async def test_banned_users_keep_their_balance_under_decay(make_app: MakeApp) -> None:
    app = await maintenance_app(make_app, {"mode": "decay"},
                                balances={"alice": 60_000, "mallory": 60_000})
    await app.app.identity.ban(CHANNEL, "mallory", by="admin", reason="test",
                               at=app.clock.now())
    await app.clock.set(NIGHT)
    assert await balances(app, ["alice", "mallory"]) == {"alice": 59_700, "mallory": 60_000}


async def test_decay_keys_change_who_pays_what(make_app: MakeApp) -> None:
    app = await maintenance_app(
        make_app, {"mode": "decay", "decay": {"daily_rate": 0.1, "exempt_below": 1_000,
                                              "label": "Storage fee"}},
        balances={"alice": 999, "bob": 1_000, "carol": 12_345})
    await app.clock.set(NIGHT)
    assert await balances(app, ["alice", "bob", "carol"]) == {
        "alice": 999, "bob": 900, "carol": 11_111}
    [fee] = await postings_of(app, "carol", "decay")
    assert fee.reason == "Storage fee" and fee.metadata["balance"] == 12_345


async def test_full_decay_empties_but_never_goes_negative(make_app: MakeApp) -> None:
    app = await maintenance_app(make_app, {"mode": "decay", "decay": {"daily_rate": 1.0,
                                                                      "exempt_below": 1}},
                                balances={"alice": 777})
    await app.clock.set(NIGHT)
    assert await app.balance("alice") == 0
    await app.advance(days=1)
    assert await app.balance("alice") == 0
    assert await app.ledger.verify() == []


async def test_mode_none_moves_and_records_nothing(make_app: MakeApp) -> None:
    app = await maintenance_app(make_app, {"mode": "none"},
                                balances={"alice": 10_000, "bob": 100_000})
    await app.advance(days=3)
    assert await balances(app, ["alice", "bob"]) == {"alice": 10_000, "bob": 100_000}
    assert await app.plugin("maintenance").last_run(CHANNEL) is None


async def test_runs_every_night_once(make_app: MakeApp) -> None:
    app = await maintenance_app(make_app, balances={"alice": 10_000})
    await app.advance(days=3)  # 03-04, 03-05 and 03-06 at 03:00
    days = [p.at.date() for p in await postings_of(app, "alice", "interest")]
    assert days == [date(2026, 3, 4), date(2026, 3, 5), date(2026, 3, 6)]


async def test_running_the_job_twice_for_one_date_moves_nothing(make_app: MakeApp) -> None:
    app = await maintenance_app(make_app, balances={"alice": 10_000})
    await app.clock.set(NIGHT)
    plugin = app.plugin("maintenance")
    assert await plugin.run(CHANNEL, date(2026, 3, 4)) is None
    assert await plugin.run_all() == []
    assert await app.balance("alice") == 10_010
    app = await app.restart()  # a restart after 03:00 runs the catch-up: nothing to do
    await app.advance(minutes=1)
    assert await app.balance("alice") == 10_010
    assert await app.plugin("maintenance").run(CHANNEL, date(2026, 3, 4)) is None
    assert len(await postings_of(app, "alice", "interest")) == 1


async def test_missed_run_is_made_up_at_start(make_app: MakeApp) -> None:
    app = await maintenance_app(make_app, balances={"alice": 10_000})
    await app.app.stop()  # the bot is down over the night
    await app.clock.set(datetime(2026, 3, 4, 9, 30, tzinfo=UTC))
    app = await app.restart()
    await app.advance(0)
    assert await app.balance("alice") == 10_010
    [interest] = await postings_of(app, "alice", "interest")
    assert interest.at == datetime(2026, 3, 4, 9, 30, tzinfo=UTC)
    await app.advance(hours=17, minutes=29)
    assert await app.balance("alice") == 10_010
    await app.advance(minutes=1)  # 03-05 03:00 runs as usual
    assert await app.balance("alice") == 10_020


async def test_start_before_three_waits_for_three(make_app: MakeApp) -> None:
    app = await maintenance_app(make_app, balances={"alice": 10_000})
    await app.app.stop()
    await app.clock.set(datetime(2026, 3, 4, 1, 0, tzinfo=UTC))
    app = await app.restart()
    await app.advance(minutes=119)
    assert await app.balance("alice") == 10_000
    await app.advance(minutes=1)
    assert await app.balance("alice") == 10_010


async def test_three_oclock_is_channel_time(make_app: MakeApp) -> None:
    app = await maintenance_app(make_app, core={"clock": {"timezone": "America/New_York"}},
                                balances={"alice": 10_000})
    await app.clock.set(datetime(2026, 3, 4, 7, 59, tzinfo=UTC))  # 02:59 in New York
    assert await app.balance("alice") == 10_000
    await app.clock.set(datetime(2026, 3, 4, 8, 0, tzinfo=UTC))
    assert await app.balance("alice") == 10_010


async def test_withheld_newcomers_get_no_interest_and_the_run_still_counts(
        make_app: MakeApp) -> None:
    app = await maintenance_app(make_app, core={"onboarding": {"min_account_age_minutes": 60}})
    await app.join("newbie")  # first seen now, 20:00
    await give(app, {"newbie": 10_000})
    plugin = app.plugin("maintenance")
    assert await plugin.run(CHANNEL, date(2026, 3, 3)) is None  # ran (empty) at start
    run = await plugin.run(CHANNEL, date(2026, 3, 10))  # an explicit run while newbie is new
    assert run is not None and run.accounts == 0
    assert await app.balance("newbie") == 10_000
    await app.clock.set(NIGHT)  # 7 hours old now
    assert await app.balance("newbie") == 10_010


async def test_admin_command_shows_mode_next_and_last_run(make_app: MakeApp) -> None:
    app = await maintenance_app(make_app, balances={"alice": 10_000, "bob": 5_000})
    await app.clock.set(NIGHT)
    [reply] = await app.pm("boss", "maintenance", rank=4)
    assert "interest: 0.1 % a night on balances from 100 Z, at most 10 Z" in reply
    assert "Next run: 2026-03-05 03:00 UTC" in reply
    assert "Last run: 2026-03-04 (interest), 2 account(s), +15 Z" in reply
    [refused] = await app.pm("alice", "maintenance", rank=1)
    assert "admin" in refused.lower()


async def test_admin_command_before_any_run_and_when_off(make_app: MakeApp) -> None:
    app = await make_app(plugins=[Maintenance], channel=CHANNEL,
                         config={"plugins": {"maintenance": {"mode": "none"}}})
    [reply] = await app.pm("boss", "maintenance", rank=4)
    assert "off (mode none)" in reply and "Last run: none yet" in reply
    assert "Next run" not in reply


async def test_rewards_lines_follow_the_mode(make_app: MakeApp) -> None:
    app = await maintenance_app(make_app)
    assert ("Savings: 0.1 % interest each night on balances from 100 Z (at most 10 Z)"
            in "\n".join(await app.pm("alice", "rewards")))
    decay = await make_app(plugins=[Maintenance, "wallet"], db="decay.db", channel=CHANNEL,
                           config={"plugins": {"maintenance": {"mode": "decay"}}})
    assert ("balances from 50,000 Z pay a 0.5 % nightly Vault maintenance fee"
            in "\n".join(await decay.pm("alice", "rewards")))


async def test_a_clock_that_starts_before_three_runs_no_catch_up(make_app: MakeApp) -> None:
    clock = FakeClock(datetime(2026, 3, 4, 2, 0, tzinfo=UTC))
    app = await make_app(plugins=[Maintenance], channel=CHANNEL, clock=clock)
    await give(app, {"alice": 10_000})
    await app.advance(minutes=59)
    assert await app.balance("alice") == 10_000
    await app.advance(minutes=1)
    assert await app.balance("alice") == 10_010


@pytest.mark.parametrize("bad", [{"mode": "sometimes"}, {"interest": {"daily_rate": 1.5}},
                                 {"interest": {"max_daily_interest": -1}},
                                 {"decay": {"daily_rate": -0.1}}, {"decay": {"label": " "}},
                                 {"decay": {"exempt_below": 0}}])
async def test_bad_config_is_refused(make_app: MakeApp, bad: dict[str, Any]) -> None:
    from economy_core.config import ConfigError

    with pytest.raises(ConfigError):
        await make_app(plugins=[Maintenance], config={"plugins": {"maintenance": bad}})
