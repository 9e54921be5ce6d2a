"""The announcer (SPEC §2.6): declared kinds, the operator's gates, tolerant templates, display
names, the 30 s duplicate rule, coalescing, and the chat budget's summary line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import attrs
import pytest

from economy_core import Announcement, CommandCall, Contract, Rest, command, hookimpl
from economy_core.cli import main
from economy_core.config import ConfigError
from economy_core.testing import AppHarness, MakeApp


class Herald:
    """Posts lines of its two kinds on command."""

    name = "herald"
    contract = Contract(announcements=(
        Announcement("herald_news", "a news line", "news items"),
        Announcement("herald_gossip", "a gossip line", "rumours"),
    ))

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.results: list[bool] = []

    @command("news", help="announce news: news <template>")
    async def news(self, call: CommandCall, text: Rest) -> str:
        ok = await self.ctx.announcer.announce(call.channel, "herald_news", str(text),
                                               user=call.username, n=len(self.results))
        self.results.append(ok)
        return "ok" if ok else "dropped"

    @command("gossip", help="announce gossip: gossip <text>")
    async def gossip(self, call: CommandCall, text: Rest) -> str:
        ok = await self.ctx.announcer.announce(call.channel, "herald_gossip", "{text}",
                                               text=str(text))
        return "ok" if ok else "dropped"


class Titles:
    """Answers the display-name hook for bob."""

    name = "titles"

    def __init__(self, ctx: Any) -> None:
        pass

    @hookimpl
    def economy_display_name(self, channel: str, username: str) -> str | None:
        return f"{username} [Sir]" if username.casefold() == "bob" else None


async def herald_app(make_app: MakeApp, core: dict[str, Any] | None = None,
                     plugins: list[Any] | None = None, db: str = "economy.db") -> AppHarness:
    return await make_app(plugins=plugins or [Herald], config=core or {}, db=db)


async def test_lines_go_out_with_display_names(make_app: MakeApp) -> None:
    app = await herald_app(make_app, plugins=[Herald, Titles])
    await app.pm("alice", "news hello from {user}")
    await app.pm("bob", "news hello from {user}")
    assert app.chat_lines() == ["hello from alice", "hello from bob [Sir]"]


async def test_only_declared_kinds(make_app: MakeApp) -> None:
    app = await herald_app(make_app, plugins=[Herald, Titles])
    announcer = app.app.plugins["titles"].context.announcer
    with pytest.raises(ValueError, match="plugin 'herald' declared"):
        await announcer.announce("testroom", "herald_news", "x")
    with pytest.raises(ValueError, match="no plugin declared"):
        announcer.enabled("nothing_such")


async def test_kinds_are_claimed_once(make_app: MakeApp) -> None:
    class Copycat:
        name = "copycat"
        contract = Contract(announcements=(Announcement("herald_news", "mine too"),))

        def __init__(self, ctx: Any) -> None:
            pass

    with pytest.raises(Exception, match="announcement kind 'herald_news' is declared by both "
                                        "plugin 'herald' and plugin 'copycat'"):
        await herald_app(make_app, plugins=[Herald, Copycat])


async def test_gates_switch_kinds_off(make_app: MakeApp) -> None:
    app = await herald_app(make_app, {"announcements": {"disabled": ["herald_news"]}})
    assert (await app.pm("alice", "news hi"))[0] == "dropped"
    assert (await app.pm("alice", "gossip hi"))[0] == "ok"
    assert app.chat_lines() == ["hi"]
    herald = app.plugin("herald")
    assert not herald.ctx.announcer.enabled("herald_news")
    assert herald.ctx.announcer.enabled("herald_gossip")


async def test_unknown_kinds_stop_start_up_and_reload(make_app: MakeApp,
                                                      tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"announcements.disabled\[1\]: unknown announcement "
                                          r"kind 'nope' \(kinds of the enabled plugins: "
                                          r"herald_gossip, herald_news\)"):
        await herald_app(make_app, {"announcements": {"disabled": ["herald_news", "nope"]}})
    app = await herald_app(make_app, db="b.db")
    core = app.app.core
    bad = attrs.evolve(app.app.config, core=attrs.evolve(
        core, announcements=attrs.evolve(core.announcements, disabled=["nope"])))
    with pytest.raises(ConfigError, match="unknown announcement kind 'nope'"):
        await app.app.reload_config(bad)


async def test_a_reload_switches_kinds_at_once(make_app: MakeApp) -> None:
    app = await herald_app(make_app)
    core = app.app.core
    off = attrs.evolve(app.app.config, core=attrs.evolve(
        core, announcements=attrs.evolve(core.announcements, disabled=["herald_gossip"])))
    assert await app.app.reload_config(off) == []
    assert (await app.pm("alice", "gossip hi"))[0] == "dropped"
    assert (await app.pm("alice", "news hi"))[0] == "ok"


def test_config_check_names_unknown_kinds(tmp_path: Path, capsys: Any) -> None:
    cfg = tmp_path / "economy.toml"
    cfg.write_text('[[channels]]\nchannel = "room"\n[announcements]\n'
                   'disabled = ["rain_drop", "no_such_kind"]\n'
                   '[plugins]\nenabled = ["rain"]\n', encoding="utf-8")
    assert main(["--config", str(cfg), "config", "check"]) == 1
    err = capsys.readouterr().err
    assert "unknown announcement kind 'no_such_kind'" in err and "rain_drop" in err
    assert "'rain_drop' (" not in err


async def test_a_broken_template_is_skipped_with_a_warning(make_app: MakeApp,
                                                           caplog: Any) -> None:
    app = await herald_app(make_app)
    with caplog.at_level(logging.WARNING):
        assert (await app.pm("alice", "news {user.nope} {missing}"))[0] == "dropped"
    assert app.chat_lines() == []
    assert "failed" in caplog.text
    announcer = app.plugin("herald").ctx.announcer
    assert await announcer.announce("testroom", "herald_news", "{missing}", fallback="plan B")
    await app.settle()
    assert app.chat_lines() == ["plan B"]


async def test_the_same_text_within_30_seconds_is_dropped(make_app: MakeApp) -> None:
    app = await herald_app(make_app)
    assert (await app.pm("alice", "gossip same"))[0] == "ok"
    await app.advance(seconds=29)
    assert (await app.pm("alice", "gossip same"))[0] == "dropped"
    await app.advance(seconds=1)
    assert (await app.pm("alice", "gossip same"))[0] == "ok"
    assert app.chat_lines() == ["same", "same"]


async def test_coalescing_merges_a_kinds_burst(make_app: MakeApp) -> None:
    """A kind's first line goes at once; the next ones within 2 s are held and go as ONE line
    when the 2 s since the first are up; another kind is not held."""
    app = await herald_app(make_app)
    herald = app.plugin("herald")
    announcer = herald.ctx.announcer
    for text in ("one", "two", "three"):
        assert await announcer.announce("testroom", "herald_gossip", "{t}", t=text)
    assert await announcer.announce("testroom", "herald_news", "other kind")
    await app.app.outbox.flush()
    assert app.chat_lines() == ["one", "other kind"]
    await app.clock.advance(seconds=1.9)
    await app.app.outbox.flush()
    assert app.chat_lines() == ["one", "other kind"]
    await app.clock.advance(seconds=0.1)
    await app.app.outbox.flush()
    assert app.chat_lines() == ["one", "other kind", "two | three"]
    assert await announcer.announce("testroom", "herald_gossip", "{t}", t="four")
    await app.clock.advance(seconds=2)
    await app.app.outbox.flush()
    assert app.chat_lines()[-1] == "four"  # held after the merged line, then alone
    await app.clock.advance(seconds=5)
    assert await announcer.announce("testroom", "herald_gossip", "{t}", t="five")
    await app.app.outbox.flush()
    assert app.chat_lines()[-1] == "five"  # a quiet kind: at once


async def test_settle_and_shutdown_send_held_lines(make_app: MakeApp) -> None:
    app = await herald_app(make_app)
    announcer = app.plugin("herald").ctx.announcer
    await announcer.announce("testroom", "herald_gossip", "a")
    await announcer.announce("testroom", "herald_gossip", "b")
    await app.settle()
    assert app.chat_lines() == ["a", "b"]
    await announcer.announce("testroom", "herald_gossip", "c")
    await app.app.stop()
    assert app.chat_lines() == ["a", "b", "c"]


async def test_coalescing_can_be_off(make_app: MakeApp) -> None:
    app = await herald_app(make_app, {"announcements": {"coalesce_seconds": 0}})
    announcer = app.plugin("herald").ctx.announcer
    for text in ("x", "y", "z"):
        await announcer.announce("testroom", "herald_gossip", "{t}", t=text)
    await app.app.outbox.flush()
    assert app.chat_lines() == ["x", "y", "z"]


async def test_a_backlog_is_folded_into_a_summary_with_the_kinds_noun(
        make_app: MakeApp) -> None:
    app = await herald_app(make_app, {"announcements": {"coalesce_seconds": 0},
                                      "outbox": {"chat_per_minute": 2}})
    announcer = app.plugin("herald").ctx.announcer
    for n in range(6):
        await announcer.announce("testroom", "herald_news", "news {n}", n=n)
    await app.app.outbox.flush()
    assert app.chat_lines() == ["news 0", "…and 5 more news items"]


async def test_plugins_list_their_kinds(capsys: Any) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "announcement rain_drop:" in out and "announcement shoutout:" in out


PENDING_MIGRATION: set[str] = set()
"""Plugins still posting raw chat (none: every built-in goes through the announcer)."""

ADMINS_OWN_TEXT = {"plugins/admin/plugin.py"}
"""Where an admin's ``announce <text>`` is posted verbatim (SPEC §2.6: an admin's own words are
not an automatic line: no template, no merging, no duplicate suppression)."""


def test_builtin_plugins_post_public_lines_through_the_announcer() -> None:
    """SPEC §2.6: every automatic public line goes through ctx.announcer (gates, templates,
    display names, merging); ``ctx.outbox.chat`` is for an admin's own text."""
    import ast

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in sorted((root / "plugins").rglob("*.py")):
        name = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr == "chat"
                    and isinstance(node.value, ast.Attribute) and node.value.attr == "outbox"
                    and name not in PENDING_MIGRATION | ADMINS_OWN_TEXT):
                offenders.append(f"{name}:{node.lineno}")
    assert offenders == []
