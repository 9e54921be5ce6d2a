"""economy_core.config: strict TOML to attrs, env expansion, plugin sections, rendering."""

# setting() is an attrs field specifier, which RUF009 cannot know:

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from economy_core.config import (
    AppConfig,
    ChannelConfig,
    ConfigError,
    CoreConfig,
    MetricsConfig,
    NatsConfig,
    config_path,
    expand_env,
    load_config,
    parse_config,
    render_default_config,
    render_effective_config,
    setting,
    structure,
    unstructure,
)

# -- made-up plugin schemas (the core knows no plugin) --------------------------------------------


@attrs.frozen
class Flip:
    min_wager: int = setting(10, validator=attrs.validators.ge(1), help="Smallest flip wager")
    odds: float = setting(0.5, help="Chance to win")


@attrs.frozen
class Prize:
    name: str = setting(help="What is won")
    amount: int = setting(0, help="How much")


@attrs.frozen
class GamesConfig:
    """Games of chance."""

    enabled: bool = setting(True, help="Master switch")
    mode: Literal["fair", "house"] = setting("house", help="Who is favoured")
    payouts: dict[int, int] = setting(factory=lambda: {1: 10, 3: 30}, help="Roll -> payout")
    names: tuple[str, ...] = setting(("a", "b"), help="Names")
    prizes: list[Prize] = setting(factory=lambda: [Prize("cup", 5)], help="Prizes")
    motto: str | None = setting(None, help="Optional motto")
    api_key: str = setting("", secret=True, help="Secret key")
    flip: Flip = setting(factory=Flip, help="The flip game")


@attrs.frozen
class GreeterConfig:
    text: str = setting("hi ${name}? no: $$ stays {user}", help="Greeting")
    delays: list[float] = setting(factory=lambda: [1.0, 2.5], help="Delays")


@attrs.frozen
class NeedsKey:
    key: str = setting(help="Required, no default")


SCHEMAS: dict[str, type | None] = {
    "gambling": GamesConfig, "greeter": GreeterConfig, "bare": None, "strict": NeedsKey,
}


ROOM = [{"domain": "cytu.be", "channel": "mychannel"}]
"""The one thing a config file must name (tests of other keys add it)."""


def parse(data: dict[str, Any], env: dict[str, str] | None = None) -> AppConfig:
    """Parse ``data``, naming the channel when the test does not (a file must name it)."""
    data = {"channels": ROOM, **data} if isinstance(data, dict) else data
    return parse_config(data, schemas=SCHEMAS, env=env or {})


def problems(data: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(data, env)
    return info.value.problems


# -- defaults -------------------------------------------------------------------------------------


def test_an_empty_document_names_no_channel_and_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({}, schemas=SCHEMAS, env={})
    assert raised.value.problems == [
        'channels: missing: name the room(s) to run in ([[channels]] with domain = "cytu.be" '
        'and channel = "yourroom")']


def test_a_document_naming_its_channel_gets_the_documented_defaults() -> None:
    config = parse({})
    core = config.core
    assert core == CoreConfig()
    assert core.nats.servers == [] and core.nats.user == "" and core.nats.password == ""
    assert core.channels == [ChannelConfig("cytu.be", "mychannel")]
    assert core.database.url == "sqlite+aiosqlite:///economy.db"
    assert (core.metrics.host, core.metrics.port) == ("127.0.0.1", 28290)
    assert (core.currency.name, core.currency.symbol, core.currency.plural) == (
        "Z-Coin", "Z", "Z-Coins")
    assert core.bot.username == "ZCoinBot"
    assert core.admin.owner_level == 4
    assert core.commands.rate_limit_per_minute == 10
    assert core.clock.tz == ZoneInfo("UTC")
    outbox = core.outbox
    assert (outbox.pm_burst, outbox.pm_per_second, outbox.margin_seconds,
            outbox.cooldown_margin_seconds, outbox.chat_per_minute, outbox.max_chars,
            outbox.merge_window_seconds, outbox.shutdown_seconds) == (
        20, 10.0, 0.02, 0.1, 10, 240, 1.0, 1.0)
    antiflood = outbox.chat_antiflood
    assert (antiflood.enabled, antiflood.burst, antiflood.per_second,
            antiflood.cooldown_seconds) == (False, 4, 1.0, 4.0)
    assert core.log.level == "INFO"
    assert core.ignored_users == ["CyTubeBot", "NepBot"]
    assert config.enabled == () and config.plugins == {}


def test_values_are_structured_into_the_declared_types() -> None:
    config = parse({
        "channels": [{"channel": "one"}, {"domain": "example.org", "channel": "two"}],
        "clock": {"timezone": "Europe/Berlin"},
        "outbox": {"pm_per_second": 3},
        "plugins": {"enabled": ["gambling"],
                    "gambling": {"payouts": {"2": 20}, "names": ["x"], "motto": "go",
                                 "mode": "fair", "prizes": [{"name": "hat"}]}},
    })
    assert [c.channel for c in config.core.channels] == ["one", "two"]
    assert config.core.channels[1].domain == "example.org"
    assert config.core.clock.tz == ZoneInfo("Europe/Berlin")
    rate = config.core.outbox.pm_per_second
    assert rate == 3.0 and type(rate) is float  # an int IS accepted for a float
    games = config.plugins["gambling"]
    assert games == GamesConfig(mode="fair", payouts={2: 20}, names=("x",),
                                prizes=[Prize("hat", 0)], motto="go")


def test_enabled_plugins_get_their_config_or_none_and_keep_the_listed_order() -> None:
    config = parse({"plugins": {"enabled": ["greeter", "bare", "gambling"]}})
    assert config.enabled == ("greeter", "bare", "gambling")
    assert config.plugins == {"greeter": GreeterConfig(), "bare": None, "gambling": GamesConfig()}


# -- unknown keys and wrong types -----------------------------------------------------------------


def test_unknown_keys_at_every_depth_name_the_path_and_the_expected_keys() -> None:
    found = problems({
        "colour": "red",
        "metrics": {"prot": 1},
        "channels": [{"channel": "a"}, {"chanel": "b"}],
        "plugins": {"enabled": ["gambling"],
                    "gambling": {"flip": {"max_wager": 5}, "prizes": [{"name": "x", "n": 1}]}},
    })
    assert ("metrics.prot: unknown key (expected one of: host, port, refresh_seconds, "
            "persist_seconds)") in found
    assert "channels[1].chanel: unknown key (expected one of: domain, channel)" in found
    assert "plugins.gambling.flip.max_wager: unknown key (expected one of: min_wager, odds)" \
        in found
    assert "plugins.gambling.prizes[0].n: unknown key (expected one of: name, amount)" in found
    top = [p for p in found if p.startswith("colour:")]
    assert len(top) == 1 and "unknown key" in top[0] and "plugins" in top[0]
    assert "channels[1].channel: missing: which room to run in" in found
    assert len(found) == 6


def test_the_issue_example_message_is_exact() -> None:
    found = problems({"plugins": {"enabled": ["gambling"],
                                  "gambling": {"flip": {"min_wager": "ten"}}}})
    assert found == ['plugins.gambling.flip.min_wager: expected int, got "ten"']


@pytest.mark.parametrize(("data", "expected"), [
    ({"channels": [{"channel": 5}]}, "channels[0].channel: expected str, got 5"),
    ({"metrics": {"port": "10"}}, 'metrics.port: expected int, got "10"'),
    ({"metrics": {"port": True}}, "metrics.port: expected int, got true"),
    ({"metrics": {"port": 1.5}}, "metrics.port: expected int, got 1.5"),
    ({"outbox": {"pm_per_second": False}}, "outbox.pm_per_second: expected float, got false"),
    ({"outbox": {"pm_per_second": "2"}}, 'outbox.pm_per_second: expected float, got "2"'),
    ({"bot": {"username": 1}}, "bot.username: expected str, got 1"),
    ({"metrics": 5}, "metrics: expected a table, got 5"),
    ({"ignored_users": "CyTubeBot"}, 'ignored_users: expected an array, got "CyTubeBot"'),
    ({"ignored_users": ["a", 2]}, "ignored_users[1]: expected str, got 2"),
    ({"channels": {"channel": "x"}}, "channels: expected an array, got a table"),
])
def test_wrong_types_are_reported_with_path_and_expected_type(data: dict[str, Any],
                                                              expected: str) -> None:
    assert problems(data) == [expected]


def test_bool_and_int_are_never_interchangeable_in_plugins_either() -> None:
    found = problems({"plugins": {"enabled": ["gambling"],
                                  "gambling": {"enabled": 1, "flip": {"min_wager": False}}}})
    assert found == ["plugins.gambling.enabled: expected bool, got 1",
                     "plugins.gambling.flip.min_wager: expected int, got false"]


def test_int_keyed_tables_literals_and_optional_values() -> None:
    found = problems({"plugins": {"enabled": ["gambling"], "gambling": {
        "payouts": {"1": 5, "two": 6, "3": "x"},
        "mode": "rigged",
        "motto": 7,
        "names": "abc",
    }}})
    assert found == [
        'plugins.gambling.mode: expected one of "fair", "house", got "rigged"',
        'plugins.gambling.payouts.two: expected an integer key, got "two"',
        'plugins.gambling.payouts.3: expected int, got "x"',
        'plugins.gambling.names: expected an array, got "abc"',
        "plugins.gambling.motto: expected str, got 7",
    ]


def test_a_missing_required_key_is_named() -> None:
    assert problems({"plugins": {"enabled": ["strict"]}}) == [
        "plugins.strict.key: required key is missing"]
    config = parse({"plugins": {"enabled": ["strict"], "strict": {"key": "k"}}})
    assert config.plugins["strict"] == NeedsKey("k")


# -- validators -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "expected"), [
    ({"metrics": {"port": 70000}}, "metrics.port: must be between 0 and 65535, got 70000"),
    ({"metrics": {"port": -1}}, "metrics.port: must be between 0 and 65535, got -1"),
    ({"admin": {"owner_level": 6}}, "admin.owner_level: must be between 0 and 5, got 6"),
    ({"commands": {"rate_limit_per_minute": 0}},
     "commands.rate_limit_per_minute: must be >= 1, got 0"),
    ({"log": {"level": "info"}},
     "log.level: must be one of DEBUG, INFO, WARNING, ERROR, got 'info'"),
    ({"channels": []}, "channels: at least one channel is required"),
    ({"channels": [{"channel": " "}]}, "channels[0].channel: must not be empty"),
])
def test_core_validators_report_at_the_field(data: dict[str, Any], expected: str) -> None:
    assert problems(data) == [expected]


def test_metrics_port_zero_means_off_and_is_valid() -> None:
    assert parse({"metrics": {"port": 0}}).core.metrics == MetricsConfig(port=0)


def test_an_invalid_timezone_is_rejected() -> None:
    found = problems({"clock": {"timezone": "Mars/Olympus_Mons"}})
    assert len(found) == 1
    assert found[0].startswith("clock.timezone: unknown timezone 'Mars/Olympus_Mons'")


def test_plugin_attrs_validator_messages_map_to_their_dotted_path() -> None:
    found = problems({"plugins": {"enabled": ["gambling"],
                                  "gambling": {"flip": {"min_wager": 0}}}})
    assert len(found) == 1
    assert found[0].startswith("plugins.gambling.flip.min_wager: ")
    assert "must be >= 1" in found[0]


def test_unknown_keys_and_validator_failures_in_one_table_are_reported_together() -> None:
    assert problems({"metrics": {"prot": 1, "port": 70000}}) == [
        ("metrics.prot: unknown key (expected one of: host, port, refresh_seconds, "
         "persist_seconds)"),
        "metrics.port: must be between 0 and 65535, got 70000",
    ]


def test_every_problem_across_core_plugins_and_environment_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        parse({
            "nats": {"user": "${NATS_USER}"},
            "metrics": {"port": "x"},
            "clock": {"timezone": "Nowhere/Land"},
            "plugins": {"enabled": ["gambling", "nope"],
                        "gambling": {"flip": {"min_wager": "ten"}},
                        "ghost": {}},
        })
    found = info.value.problems
    assert len(found) == 6, found
    assert "nats.user: environment variable NATS_USER is not set" in found
    assert 'metrics.port: expected int, got "x"' in found
    assert any(p.startswith("clock.timezone: unknown timezone") for p in found)
    assert 'plugins.gambling.flip.min_wager: expected int, got "ten"' in found
    assert any(p.startswith("plugins.enabled: unknown plugin 'nope'") for p in found)
    assert any(p.startswith("plugins.ghost: ") for p in found)
    assert str(info.value).splitlines() == found


# -- environment expansion ------------------------------------------------------------------------


def test_env_variables_expand_with_defaults_and_dollar_escapes() -> None:
    env = {"HOST": "nats.example", "EMPTY": "", "PW": "s3cr$t"}
    config = parse({
        "nats": {"servers": ["nats://${HOST}:4222", "nats://${OTHER:-backup}:4222"],
                 "user": "${EMPTY:-fallback}", "password": "${PW}"},
        "currency": {"symbol": "$$", "name": "${EMPTY}Coin"},
        "bot": {"username": "price $5 $$HOME"},
    }, env)
    assert config.core.nats == NatsConfig(
        servers=["nats://nats.example:4222", "nats://backup:4222"], user="fallback",
        password="s3cr$t")
    assert config.core.currency.symbol == "$"
    assert config.core.currency.name == "Coin"  # set but empty: ${VAR} gives ""
    assert config.core.bot.username == "price $5 $HOME"
    assert type(config.core.nats.user) is str


def test_a_missing_variable_fails_with_its_path_and_every_one_is_reported() -> None:
    found = problems({"nats": {"servers": ["${A}", "x${B}y"]},
                      "plugins": {"enabled": ["greeter"], "greeter": {"text": "${C}"}}})
    assert found == ["nats.servers[0]: environment variable A is not set",
                     "nats.servers[1]: environment variable B is not set",
                     "plugins.greeter.text: environment variable C is not set"]


def test_expanded_text_may_stand_for_numbers_and_booleans_but_literal_text_may_not() -> None:
    config = parse({"metrics": {"port": "${PORT:-9000}"},
                    "outbox": {"margin_seconds": "${GAP}"},
                    "plugins": {"enabled": ["gambling"], "gambling": {"enabled": "${ON}"}}},
                   {"GAP": "0.5", "ON": "false"})
    assert config.core.metrics.port == 9000
    assert config.core.outbox.margin_seconds == 0.5
    assert config.plugins["gambling"].enabled is False
    assert problems({"metrics": {"port": "${PORT}"}}, {"PORT": "eighty"}) == [
        'metrics.port: expected int, got "eighty"']


def test_expand_env_directly() -> None:
    data = {"a": ["${X}", {"b": "$${X} ${Y:-d}"}], "n": 3}
    assert expand_env(data, {"X": "1"}) == {"a": ["1", {"b": "${X} d"}], "n": 3}
    with pytest.raises(ConfigError) as info:
        expand_env({"a": {"b": "${MISSING}"}}, {}, "root")
    assert info.value.problems == ["root.a.b: environment variable MISSING is not set"]
    with pytest.raises(ConfigError) as info:
        expand_env("${not closed", {}, "k")
    assert info.value.problems[0].startswith("k: invalid reference '${not closed'")


# -- [plugins] ------------------------------------------------------------------------------------


def test_an_unknown_enabled_name_fails_and_lists_the_installed_plugins() -> None:
    assert problems({"plugins": {"enabled": ["gambling", "lottery"]}}) == [
        "plugins.enabled: unknown plugin 'lottery' (installed: bare, gambling, greeter, strict)"]


def test_a_section_for_a_plugin_that_is_not_installed_is_an_error() -> None:
    found = problems({"plugins": {"enabled": [], "lottery": {"x": 1}}})
    assert found == ["plugins.lottery: no installed plugin is named 'lottery' "
                     "(installed: bare, gambling, greeter, strict)"]


def test_sections_of_disabled_plugins_are_neither_checked_nor_structured() -> None:
    config = parse({"plugins": {"enabled": ["greeter"],
                                "gambling": {"flip": {"min_wager": "ten"}, "junk": 1}}})
    assert config.enabled == ("greeter",)
    assert set(config.plugins) == {"greeter"}
    # once enabled, the same section is checked
    assert len(problems({"plugins": {"enabled": ["gambling"],
                                     "gambling": {"flip": {"min_wager": "ten"}, "junk": 1}}})) == 2


def test_no_plugin_loads_unless_listed() -> None:
    assert parse({"plugins": {"greeter": {"text": "x"}}}).enabled == ()


def test_a_plugin_without_config_accepts_only_an_empty_section() -> None:
    assert parse({"plugins": {"enabled": ["bare"], "bare": {}}}).plugins == {"bare": None}
    assert problems({"plugins": {"enabled": ["bare"], "bare": {"x": 1}}}) == [
        "plugins.bare.x: unknown key (plugin 'bare' has no settings)"]


@pytest.mark.parametrize(("plugins", "expected"), [
    ({"enabled": "gambling"},
     'plugins.enabled: expected an array of plugin names, got "gambling"'),
    ({"enabled": ["greeter", 3]}, "plugins.enabled[1]: expected str, got 3"),
    ({"enabled": ["greeter", "greeter"]}, "plugins.enabled: 'greeter' is listed more than once"),
    ({"enabled": ["greeter"], "greeter": "loud"}, 'plugins.greeter: expected a table, got "loud"'),
])
def test_malformed_plugins_tables(plugins: dict[str, Any], expected: str) -> None:
    assert problems({"plugins": plugins}) == [expected]


def test_plugins_must_be_a_table() -> None:
    assert problems({"plugins": ["greeter"]}) == ["plugins: expected a table, got an array"]


# -- files ----------------------------------------------------------------------------------------


def test_load_config_reads_utf8_and_records_the_source(tmp_path: Path) -> None:
    path = tmp_path / "economy.toml"
    path.write_bytes('[[channels]]\nchannel = "lounge"\n[currency]\nname = "Zł-Münze"\n'
                     '[plugins]\nenabled = ["greeter"]\n'.encode())
    config = load_config(path, schemas=SCHEMAS, env={})
    assert config.core.currency.name == "Zł-Münze"
    assert config.enabled == ("greeter",)
    assert config.source == str(path)


def test_a_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path, schemas=SCHEMAS, env={})
    assert info.value.problems == [
        f"{path}: no such file (create one with `cytube-economy config init`)"]


def test_a_toml_syntax_error_names_the_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "economy.toml"
    path.write_text('[metrics]\nport = 1\nhost = \n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, schemas=SCHEMAS, env={})
    [message] = info.value.problems
    assert message.startswith(f"{path}: invalid TOML: ")
    assert "line 3" in message and "column" in message


def test_a_file_that_is_not_utf8_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "economy.toml"
    path.write_bytes(b'[currency]\nname = "M\xfcnze"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, schemas=SCHEMAS, env={})
    assert info.value.problems[0].startswith(f"{path}: not UTF-8 text")


def test_load_config_reports_structure_problems_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "economy.toml"
    path.write_text('[[channels]]\nchannel = "lounge"\n[plugins]\nenabled = ["gambling"]\n'
                    '[plugins.gambling.flip]\nmin_wager = "ten"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, schemas=SCHEMAS, env={})
    assert str(info.value) == 'plugins.gambling.flip.min_wager: expected int, got "ten"'


def test_config_path_precedence_cli_then_env_then_default() -> None:
    env = {"CYTUBE_ECONOMY_CONFIG": "/etc/economy/env.toml"}
    assert config_path("/tmp/cli.toml", env) == Path("/tmp/cli.toml")
    assert config_path(None, env) == Path("/etc/economy/env.toml")
    assert config_path(None, {}) == Path("economy.toml")
    assert config_path(None, {"CYTUBE_ECONOMY_CONFIG": ""}) == Path("economy.toml")
    assert config_path("", env) == Path("/etc/economy/env.toml")


# -- rendering ------------------------------------------------------------------------------------


def defaults(enabled: tuple[str, ...]) -> AppConfig:
    configs = {name: (cls() if (cls := SCHEMAS[name]) is not None else None) for name in enabled}
    return AppConfig(core=CoreConfig(), enabled=enabled, plugins=configs)


def test_the_default_file_parses_back_into_exactly_the_defaults() -> None:
    schemas = {k: v for k, v in SCHEMAS.items() if k != "strict"}  # strict has no default
    for enabled in [(), ("gambling",), ("greeter", "bare", "gambling")]:
        text = render_default_config(schemas, enabled)
        parsed = parse_config(tomllib.loads(text), schemas=schemas, env={})
        assert parsed == defaults(enabled)
        assert parsed.plugins == defaults(enabled).plugins


def test_the_default_file_is_commented_from_the_help_texts() -> None:
    text = render_default_config({"gambling": GamesConfig, "bare": None}, ["gambling"])
    lines = text.splitlines()
    assert lines[0].startswith("# ")
    assert "cytube-economy config init" in text and "${VAR:-default}" in text
    assert "# Port of the /metrics endpoint (0 = off)\nport = 28290\n" in text
    assert "# Smallest flip wager\nmin_wager = 10\n" in text
    assert "# The flip game\n[plugins.gambling.flip]\n" in text
    assert "[[plugins.gambling.prizes]]" in text and "[[channels]]" in text
    assert '\nenabled = ["gambling"]\n' in text
    assert "[plugins.bare]" not in text  # no Config, no section
    # nested tables follow their parent; core sections come before [plugins]
    assert text.index("\n[nats]\n") < text.index("\n[plugins]\n") \
        < text.index("\n[plugins.gambling]\n") < text.index("\n[plugins.gambling.flip]\n")


def test_installed_but_disabled_plugins_are_documented_in_name_order() -> None:
    text = render_default_config({"greeter": GreeterConfig, "gambling": GamesConfig}, [])
    assert '\nenabled = []\n' in text
    assert text.index("[plugins.gambling]") < text.index("[plugins.greeter]")


def test_the_effective_config_shows_current_values_and_masks_secrets() -> None:
    config = parse({"nats": {"password": "hunter2", "user": "bot"},
                    "metrics": {"port": 9100},
                    "plugins": {"enabled": ["gambling", "greeter"],
                                "gambling": {"api_key": "k-123", "flip": {"min_wager": 25}}}})
    text = render_effective_config(config)
    assert "hunter2" not in text and "k-123" not in text
    data = tomllib.loads(text)
    assert data["nats"] == {"servers": [], "user": "bot", "password": "***"}
    assert data["metrics"]["port"] == 9100
    assert data["plugins"]["gambling"]["api_key"] == "***"
    assert data["plugins"]["gambling"]["flip"]["min_wager"] == 25
    assert data["plugins"]["enabled"] == ["gambling", "greeter"]
    # empty secrets stay empty (nothing to hide), and the rest parses back as it was
    plain = parse({"plugins": {"enabled": ["gambling"]}})
    assert parse(tomllib.loads(render_effective_config(plain))) == plain


def test_rendered_text_keeps_dollar_signs_literal() -> None:
    config = parse({"currency": {"name": "$$dollars ${X}"}}, {"X": "${Y} $$"})
    assert config.core.currency.name == "$dollars ${Y} $$"
    assert parse(tomllib.loads(render_effective_config(config))) == config
    text = render_default_config({"greeter": GreeterConfig}, ["greeter"])
    parsed = parse_config(tomllib.loads(text), schemas={"greeter": GreeterConfig}, env={})
    assert parsed.plugins["greeter"] == GreeterConfig()


_printable = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30) \
    .filter(lambda s: s.strip() != "" and "$" not in s)  # "$" input is expanded: tested apart


@settings(max_examples=60, deadline=None)
@given(name=_printable, symbol=_printable, users=st.lists(st.text(max_size=12), max_size=4),
       port=st.integers(0, 65535), gap=st.floats(0, 1e6, allow_nan=False),
       channels=st.lists(_printable, min_size=1, max_size=3, unique=True),
       payouts=st.dictionaries(st.integers(-50, 50), st.integers(-10, 10), max_size=4))
def test_any_valid_config_round_trips_through_the_effective_rendering(
        name: str, symbol: str, users: list[str], port: int, gap: float,
        channels: list[str], payouts: dict[int, int]) -> None:
    config = parse({
        "currency": {"name": name, "symbol": symbol},
        "ignored_users": users, "metrics": {"port": port},
        "outbox": {"merge_window_seconds": gap},
        "channels": [{"channel": c} for c in channels],
        "plugins": {"enabled": ["gambling"], "gambling": {"payouts": {str(k): v for k, v
                                                                      in payouts.items()}}},
    })
    assert config.core.currency.name == name
    assert parse(tomllib.loads(render_effective_config(config))) == config


# -- structure / unstructure directly -------------------------------------------------------------


def test_structure_prefixes_problems_with_the_given_path() -> None:
    with pytest.raises(ConfigError) as info:
        structure(Flip, {"min_wager": "ten", "x": 1}, "games.flip")
    assert info.value.problems == [
        "games.flip.x: unknown key (expected one of: min_wager, odds)",
        'games.flip.min_wager: expected int, got "ten"',
    ]
    assert structure(Flip, {"min_wager": 3, "odds": 1}, "f") == Flip(3, 1.0)


def test_unstructure_gives_toml_ready_values() -> None:
    value = unstructure(GamesConfig(payouts={1: 2}, names=("a",), motto=None))
    assert value["payouts"] == {"1": 2}
    assert value["names"] == ["a"]
    assert "motto" not in value
    assert value["prizes"] == [{"name": "cup", "amount": 5}]
    assert value["flip"] == {"min_wager": 10, "odds": 0.5}
    assert tomllib.loads(__import__("tomli_w").dumps(value))["payouts"] == {"1": 2}


def test_setting_records_help_and_secret_in_metadata() -> None:
    field = attrs.fields(GamesConfig).api_key
    assert field.metadata == {"help": "Secret key", "secret": True}
    assert attrs.fields(Flip).odds.metadata["secret"] is False
    assert attrs.fields(NatsConfig).password.metadata["secret"] is True


def test_config_error_lists_one_problem_per_line() -> None:
    error = ConfigError(["a.b: one", "c: two"])
    assert str(error) == "a.b: one\nc: two"
    assert error.problems == ["a.b: one", "c: two"]
