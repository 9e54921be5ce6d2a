"""Plugins declare what they write, keep, need and offer; the core checks it before anything is
constructed, and holds plugins to it while they run."""

from __future__ import annotations

from typing import Any

import pluggy
import pytest
import sqlalchemy as sa

from economy_core import (
    MODERATION,
    ApiRequest,
    CapabilityError,
    CommandCall,
    Contract,
    Counter,
    Kind,
    LedgerTx,
    PluginContext,
    PostingType,
    Schema,
    command,
    endpoint,
    hookimpl,
    hookspec,
    hookspecs,
)
from economy_core.manager import PluginInfo, PluginLoadError, check_plugins, load_app_config
from economy_core.testing import MakeApp

CHANNEL = "testroom"


class Constructed(Exception):
    """Raised by a plugin that must never be constructed (its declarations are refused)."""


def never_built(name: str, **attributes: Any) -> type:
    """A plugin class whose construction fails the test: checks run before any construction."""

    def init(self: Any, ctx: Any) -> None:
        raise Constructed(name)

    return type(name.title(), (), {"name": name, "__init__": init, **attributes})


def refusal(*classes: type) -> str:
    with pytest.raises(PluginLoadError) as raised:
        check_plugins([PluginInfo(c.name, c) for c in classes])  # type: ignore[attr-defined]
    return str(raised.value)


# -- start-up refusals name both sides ------------------------------------------------------------


def test_a_required_plugin_that_is_not_enabled_is_named() -> None:
    needy = never_built("needy", contract=Contract(requires=("ghost",)))
    assert "plugin 'needy' requires plugin 'ghost', which is not enabled" in refusal(needy)


def test_two_plugins_claiming_one_posting_type() -> None:
    a = never_built("alpha", contract=Contract(
        posting_types=(PostingType("prize", "prize", Kind.EARN),)))
    b = never_built("beta", contract=Contract(
        posting_types=(PostingType("prize", "a prize", Kind.EARN),)))
    assert "posting type 'prize' is declared by both plugin 'alpha' and plugin 'beta'" in \
        refusal(a, b)


def test_a_plugin_claiming_a_core_posting_type_or_counter() -> None:
    greedy = never_built("greedy", contract=Contract(
        posting_types=(PostingType("refund", "refund", Kind.CORRECTION),),
        counters=(Counter("z_earned", "earned"),)))
    text = refusal(greedy)
    assert "posting type 'refund' is declared by both the core and plugin 'greedy'" in text
    assert "daily counter 'z_earned' is declared by both the core and plugin 'greedy'" in text


def test_two_plugins_claiming_one_counter() -> None:
    a = never_built("alpha", contract=Contract(counters=(Counter("hugs", "hugs"),)))
    b = never_built("beta", contract=Contract(counters=(Counter("hugs", "hugs given"),)))
    assert "daily counter 'hugs' is declared by both plugin 'alpha' and plugin 'beta'" in \
        refusal(a, b)


def _cmd() -> Any:
    async def run(self: Any, call: CommandCall) -> str:
        return "x"

    return run


def test_two_plugins_claiming_one_command_word_or_a_core_command() -> None:
    a = never_built("alpha", hug=command("hug", help="hug")(_cmd()))
    b = never_built("beta", cuddle=command("cuddle", help="cuddle", aliases=("hug",))(_cmd()))
    c = never_built("gamma", about=command("about", help="mine")(_cmd()))
    text = refusal(a, b, c)
    assert "command 'hug' is declared by both plugin 'alpha' and plugin 'beta'" in text
    assert "command 'about' is declared by both the core and plugin 'gamma'" in text


def _api() -> Any:
    async def run(self: Any, request: ApiRequest) -> dict[str, Any]:
        return {}

    return run


def test_an_endpoint_declared_twice() -> None:
    a = never_built("alpha", get=endpoint("hugs.get", help="hugs")(_api()))
    b = never_built("beta", read=endpoint("hugs.get", help="hugs")(_api()))
    assert "endpoint 'hugs.get' is declared by both plugin 'alpha' and plugin 'beta'" in \
        refusal(a, b)


class HugSpecs:
    @hookspec
    def economy_hugged(self, channel: str, username: str) -> None:
        """Someone was hugged."""


def _publish(pluginmanager: pluggy.PluginManager) -> None:
    pluginmanager.add_hookspecs(HugSpecs)


def test_a_hook_published_twice_or_not_statically() -> None:
    a = never_built("alpha", economy_addhooks=staticmethod(hookimpl(_publish)))
    b = never_built("beta", economy_addhooks=staticmethod(hookimpl(_publish)))
    assert "plugin 'beta': hook 'economy_hugged' is published by plugin 'alpha' already" in \
        refusal(a, b)

    def method(self: Any, pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(HugSpecs)

    c = never_built("gamma", economy_addhooks=hookimpl(method))
    assert "economy_addhooks must be a @staticmethod" in refusal(c)


def test_an_unknown_capability() -> None:
    odd = never_built("odd", contract=Contract(capabilities=("time_travel",)))
    assert "unknown capability 'time_travel'" in refusal(odd)


def test_config_check_refuses_what_start_would(tmp_path: Any) -> None:
    path = tmp_path / "economy.toml"
    path.write_text('[[channels]]\nchannel = "lounge"\n[plugins]\n'
                    'enabled = ["streaks", "wallet"]\n', encoding="utf-8")
    with pytest.raises(PluginLoadError, match="'streaks' requires plugin 'presence'"):
        load_app_config(path)


def test_the_catalogue_lists_what_the_builtins_declare() -> None:
    from economy_core.testing import resolve_plugins

    catalogue = check_plugins(resolve_plugins(
        ["presence", "wallet", "streaks", "gambling", "rain", "maintenance", "chat_triggers"]))
    assert catalogue.type_owner["welcome_wallet"] == "presence"
    assert catalogue.label("streak_bonus") == "streak bonus"
    assert catalogue.label("refund") == "refund"  # the core's own
    assert catalogue.counter_owner["minutes_present"] == "presence"
    assert catalogue.publisher_of("economy_user_arrived") == "presence"
    assert catalogue.publisher_of("economy_earning_triggers") == "chat_triggers"
    assert catalogue.plugins["streaks"].contract.requires == ("presence",)
    assert "balance" in catalogue.plugins["wallet"].commands


# -- held to the contract while running --


class Shopkeeper:
    """Writes its own posting types (and, on request, things it did not declare)."""

    name = "shopkeeper"
    contract = Contract(
        posting_types=(PostingType("shopkeeper_sale", "a sale at the shop", Kind.SPEND),
                       PostingType("shopkeeper_gift", "a gift from the shop", Kind.EARN)),
        counters=(Counter("shopkeeper_visits", "shop visits"),))
    schema = Schema(sa.MetaData())
    own = sa.Table("shopkeeper_notes", schema.metadata, sa.Column("note", sa.String(50)))

    def __init__(self, ctx: PluginContext[None]) -> None:
        self.ctx = ctx


async def shop_app(make_app: MakeApp, *extra: Any) -> Any:
    app = await make_app(plugins=["presence", "wallet", Shopkeeper, *extra])
    return app


async def test_declared_types_are_written_and_history_shows_their_labels(
        make_app: MakeApp) -> None:
    app = await shop_app(make_app)
    ledger = app.plugin("shopkeeper").ctx.ledger
    assert (await ledger.credit(CHANNEL, "alice", 50, type="shopkeeper_gift")).ok
    assert (await ledger.debit(CHANNEL, "alice", 20, type="shopkeeper_sale")).ok
    await ledger.bump_daily(CHANNEL, "alice", app.clock.local_date(app.app.tz),
                            "shopkeeper_visits")
    [reply] = await app.pm("alice", "history")
    assert "a sale at the shop" in reply and "a gift from the shop" in reply


@pytest.mark.parametrize(("type_", "kind", "reason"), [
    ("admin_grant", Kind.EARN, "which it did not declare"),
    ("welcome_wallet", Kind.EARN, "which belongs to plugin 'presence'"),
    ("shopkeeper_sale", Kind.EARN, "declared as spend"),
])
async def test_undeclared_foreign_or_mis_kinded_types_are_refused_before_writing(
        make_app: MakeApp, type_: str, kind: Kind, reason: str) -> None:
    app = await shop_app(make_app)
    ledger = app.plugin("shopkeeper").ctx.ledger
    with pytest.raises(ValueError, match=reason):
        await ledger.credit(CHANNEL, "alice", 50, type=type_, kind=kind)

    async def inside(tx: LedgerTx) -> None:
        await tx.credit(CHANNEL, "alice", 50, type=type_, kind=kind)

    with pytest.raises(ValueError, match=reason):
        await ledger.atomic(inside)
    assert await app.balance("alice") == 0 and await app.ledger.verify() == []


async def test_a_counter_nobody_declared_is_refused(make_app: MakeApp) -> None:
    app = await shop_app(make_app)
    ledger = app.plugin("shopkeeper").ctx.ledger
    day = app.clock.local_date(app.app.tz)
    with pytest.raises(ValueError, match="daily counter 'hugs', which no enabled plugin"):
        await ledger.bump_daily(CHANNEL, "alice", day, "hugs")
    await ledger.bump_daily(CHANNEL, "alice", day, "minutes_present")  # presence declares it


async def test_plugins_write_only_their_own_tables(make_app: MakeApp) -> None:
    app = await shop_app(make_app)
    ctx = app.plugin("shopkeeper").ctx
    async with ctx.db.begin() as conn:
        await conn.execute(Shopkeeper.own.insert().values(note="fine"))
    for statement in (sa.text("UPDATE core_accounts SET balance = 1000000"),
                      sa.text("INSERT INTO presence_users VALUES ('x','y','z',NULL,NULL,0)"),
                      sa.text("DELETE FROM core_transactions")):
        with pytest.raises(PermissionError, match="may only write its own tables"):
            async with ctx.db.begin() as conn:
                await conn.execute(statement)

        async def sneaky(tx: LedgerTx, statement: Any = statement) -> None:
            await tx.conn.execute(statement)

        with pytest.raises(PermissionError):
            await ctx.ledger.atomic(sneaky)
    async with ctx.db.connect() as conn:  # reading is fine
        assert await conn.scalar(sa.text("SELECT count(*) FROM core_accounts")) == 0


async def test_the_plugin_view_has_no_service_switches_and_no_ban(make_app: MakeApp) -> None:
    app = await shop_app(make_app)
    ctx = app.plugin("shopkeeper").ctx
    for name in ("close", "start", "set_earn_gate", "set_commit_barrier", "for_source",
                 "set_write_policy"):
        assert not hasattr(ctx.ledger, name), name
    assert not hasattr(ctx.identity, "ban") and not hasattr(ctx.identity, "unban")
    assert not hasattr(ctx.db, "sync_engine")
    with pytest.raises(CapabilityError, match="'moderation' capability"):
        _ = ctx.moderation


class Moderator:
    name = "moderator"
    contract = Contract(capabilities=(MODERATION,))

    def __init__(self, ctx: PluginContext[None]) -> None:
        self.ctx = ctx


async def test_a_declared_capability_is_granted(make_app: MakeApp) -> None:
    app = await make_app(plugins=["wallet", Moderator])
    ctx = app.plugin("moderator").ctx
    assert await ctx.moderation.ban(CHANNEL, "mallory", by="boss", reason="spam",
                                    at=app.clock.now())
    assert ctx.identity.is_banned(CHANNEL, "mallory")
    assert await app.pm("mallory", "balance") == ["⛔ Your economy access is suspended."]


async def test_currency_word_is_one_helper(make_app: MakeApp) -> None:
    app = await shop_app(make_app)
    ctx = app.plugin("shopkeeper").ctx
    assert (ctx.currency_word(1), ctx.currency_word(2), ctx.currency_word(0)) == (
        "Z-Coin", "Z-Coins", "Z-Coins")


# -- published hooks --


class Hugger:
    """Publishes economy_hugged and calls it through the spec function."""

    name = "hugger"

    @staticmethod
    @hookimpl
    def economy_addhooks(pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(HugSpecs)

    def __init__(self, ctx: PluginContext[None]) -> None:
        self.ctx = ctx

    @command("hug", help="Hug someone")
    async def hug(self, call: CommandCall, who: str) -> str:
        await self.ctx.hooks.broadcast(HugSpecs.economy_hugged, channel=call.channel,
                                       username=who)
        return "hugged"


class HugCounter:
    """Consumes economy_hugged, optionally."""

    name = "hugcounter"
    hugs: list[str] = []  # noqa: RUF012

    def __init__(self, ctx: PluginContext[None]) -> None:
        self.ctx = ctx
        HugCounter.hugs = []

    @hookimpl(optionalhook=True)
    def economy_hugged(self, channel: str, username: str) -> None:
        HugCounter.hugs.append(username)


async def test_a_published_hook_reaches_its_optional_consumers(make_app: MakeApp) -> None:
    app = await make_app(plugins=[Hugger, HugCounter])
    assert await app.pm("alice", "hug bob") == ["hugged"]
    assert HugCounter.hugs == ["bob"]
    assert app.app.catalogue.publisher_of("economy_hugged") == "hugger"


async def test_an_optional_consumer_without_its_publisher_starts_and_is_never_called(
        make_app: MakeApp) -> None:
    await make_app(plugins=[HugCounter])
    assert HugCounter.hugs == []


class StrictHugCounter:
    name = "stricthugs"

    def __init__(self, ctx: PluginContext[None]) -> None:
        self.ctx = ctx

    @hookimpl
    def economy_hugged(self, channel: str) -> None: ...


async def test_a_required_consumer_without_its_publisher_stops_start_up(
        make_app: MakeApp) -> None:
    with pytest.raises(PluginLoadError, match=r"stricthugs.*economy_hugged"):
        await make_app(plugins=[StrictHugCounter])


async def test_hooks_are_called_by_spec_function_with_checked_arguments(
        make_app: MakeApp) -> None:
    app = await make_app(plugins=[Hugger, HugCounter])
    hooks = app.plugin("hugger").ctx.hooks
    with pytest.raises(TypeError, match="not a hook spec"):
        await hooks.broadcast("economy_hugged", channel=CHANNEL, username="x")  # type: ignore
    with pytest.raises(TypeError, match="not usernmae"):
        await hooks.broadcast(HugSpecs.economy_hugged, channel=CHANNEL, usernmae="x")
    assert await hooks.collect(hookspecs.economy_reward_lines, channel=CHANNEL) == []


# -- schemas: the version is the list of steps --


def test_schema_version_is_its_steps() -> None:
    schema = Schema(sa.MetaData())
    assert schema.version == 1 and schema.steps == {}

    @schema.upgrade("add a column")
    def two(conn: sa.Connection) -> None: ...

    @schema.upgrade("add an index")
    def three(conn: sa.Connection) -> None: ...

    assert schema.version == 3
    assert schema.steps == {2: two, 3: three}
    assert schema.history == [(2, "add a column"), (3, "add an index")]
    with pytest.raises(ValueError, match="description"):
        schema.upgrade("  ")


def test_a_plugin_with_bare_metadata_is_told_to_declare_a_schema() -> None:
    from economy_core.storage import schema_of

    class Old:
        name = "old"
        metadata = sa.MetaData()

    with pytest.raises(TypeError, match="schema = Schema"):
        schema_of(Old)


async def test_upgrade_steps_run_on_an_old_database(make_app: MakeApp, tmp_path: Any) -> None:
    metadata = sa.MetaData()
    sa.Table("notes_items", metadata, sa.Column("id", sa.Integer, primary_key=True))
    schema = Schema(metadata)

    class Notes:
        name = "notes"

        def __init__(self, ctx: PluginContext[None]) -> None:
            self.ctx = ctx

    Notes.schema = schema  # type: ignore[attr-defined]
    app = await make_app(plugins=[Notes], db="notes.db")
    await app.app.stop()
    ran: list[int] = []

    @schema.upgrade("add a title")
    def add_title(conn: sa.Connection) -> None:
        ran.append(2)
        conn.execute(sa.text("ALTER TABLE notes_items ADD COLUMN title TEXT"))

    await make_app(plugins=[Notes], db="notes.db")
    assert ran == [2]
