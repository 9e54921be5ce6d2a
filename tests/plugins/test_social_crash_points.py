"""The bot's process killed at every commit of a shop-and-approvals scenario (tests/crash.py):
each approval is either pending with its escrow or resolved exactly once (approved: delivered
and its escrow released; rejected: refunded), no Z appears or vanishes, every balance equals its
postings — whichever commit the crash hit."""

from __future__ import annotations

from economy_core.testing import AppHarness, MakeApp, merge_config

from ..crash import at_every_commit
from .test_social_kit import social_app
from .test_social_properties import CONFIG, FUNDS, USERS, approvals, check


async def test_approvals_survive_a_crash_at_any_commit(make_app: MakeApp) -> None:
    async def build(db: str) -> AppHarness:
        config = merge_config(CONFIG, {"admin": {"owner_level": 1}})  # boss joins at rank 1
        return await social_app(make_app, config, users=USERS, balance=FUNDS, db=db)

    steps = [("join", "boss"),
             ("pm", "alice", "buy gif https://x.test/a.gif"),
             ("pm", "bob", "buy gif https://x.test/b.gif"),
             ("pm", "carol", "buy gif https://x.test/c.gif"),
             ("pm", "boss", "approve_gif @alice"),
             ("pm", "boss", "reject_gif @bob"),
             ("pm", "boss", "approve 3"),
             ("pm", "alice", "tip @bob 100"),
             ("pm", "carol", "buy title Boss"),
             ("wait", 1)]

    async def verify(app: AppHarness, point: int | None) -> None:
        await check(app)
        if point is None:  # the clean run: everything was decided
            assert [r.status for r in await approvals(app)] == ["approved", "rejected",
                                                               "approved"]

    commits = await at_every_commit(build, steps, verify, at_least=8)
    assert commits >= 8, commits
