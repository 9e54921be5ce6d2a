"""The ``cytube-economy`` command line.

Sub-commands: ``run`` (the bot), ``demo``, ``config init|check|show``, ``plugins``,
``ledger verify``, ``user export|forget``, ``prune``, ``import kryten-economy``, and
``<plugin> <command>`` for every installed plugin that declares ``cli_commands`` (see
:class:`~economy_core.hooktypes.CliCommand`).
The config file is ``--config PATH``, else ``$CYTUBE_ECONOMY_CONFIG``, else ``./economy.toml``.
Exit status: 0 success, 1 a check failed (bad config, ledger mismatch), 2 usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from .app import EconomyApp
from .clock import SystemClock
from .config import (
    AppConfig,
    ConfigError,
    config_path,
    parse_config,
    render_default_config,
    render_effective_config,
)
from .hooktypes import CliCommand
from .manager import (
    PluginInfo,
    PluginLoadError,
    installed_entry_points,
    load_app_config,
    load_plugins,
    review_config,
)
from .systemd import Notifier

log = logging.getLogger("economy_core.cli")


def installed_plugins() -> list[PluginInfo]:
    """Every installed plugin's class (imports them all: for config init and listings only)."""
    return load_plugins(sorted(installed_entry_points()))


def default_config_text(infos: list[PluginInfo] | None = None) -> str:
    """The complete default config (what `config init` writes and economy.toml holds)."""
    infos = installed_plugins() if infos is None else infos
    return render_default_config({i.name: i.config_class for i in infos}, default_enabled())


def default_app_config() -> tuple[AppConfig, list[PluginInfo]]:
    """The shipped defaults, validated, with the plugins they enable (the demo runs on these)."""
    import tomllib

    infos = installed_plugins()
    config = parse_config(tomllib.loads(default_config_text(infos)),
                          schemas={i.name: i.config_class for i in infos}, source="<defaults>")
    return config, [i for i in infos if i.name in config.enabled]


def _load_or_report(args: argparse.Namespace) -> tuple[AppConfig, list[PluginInfo]] | None:
    """The config named by the command line, or None after printing why it is unusable."""
    path = config_path(args.config)
    try:
        return load_app_config(path)
    except (ConfigError, PluginLoadError) as exc:
        print(f"{path}: invalid\n{exc}", file=sys.stderr)
        return None


def default_enabled() -> list[str]:
    """The plugins the shipped config enables: every built-in one (from this distribution)."""
    return sorted(name for name, ep in installed_entry_points().items()
                  if ep.value.startswith("economy_plugins."))


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# -- commands --------------------------------------------------------------------------------

async def _run(config: AppConfig, plugins: list[PluginInfo], time_scale: float,
               stop: asyncio.Event) -> int:
    """The bot until ``stop`` is set (a signal: see :func:`_until_signalled`); then a clean
    stop."""
    app = EconomyApp(config, plugins, clock=SystemClock(time_scale))
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[Any]] = set()
    hangup_while_starting = False

    def on_hangup() -> None:  # SIGHUP (systemctl reload): re-read the config file
        nonlocal hangup_while_starting
        if not app.started:
            hangup_while_starting = True  # reload once start-up is done
            return
        task = loop.create_task(app.reload_from_file(), name="economy-reload")
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    notifier = Notifier()
    serving: asyncio.Task[None] | None = None

    async def tell_systemd_when_serving() -> None:
        await app.until_serving(notifier.status)
        channels = ", ".join(app.rooms.channels)
        notifier.ready(f"serving {channels}")
        log.info("ready: serving %s", channels)

    try:
        notifier.status("starting")
        await app.start()
        notifier.start_watchdog()
        serving = loop.create_task(tell_systemd_when_serving(), name="economy-ready")
        if hangup_while_starting:
            on_hangup()
        await stop.wait()
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        log.info("shutting down")
        notifier.stopping()
        if serving is not None:
            serving.cancel()
        await app.stop()
        await notifier.stop_watchdog()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    loaded = _load_or_report(args)
    if loaded is None:
        return 1
    config, plugins = loaded
    _setup_logging(args.log_level or config.core.log.level)
    return asyncio.run(_until_signalled(
        lambda stop: _run(config, plugins, args.time_scale, stop), signal_status=0))


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    scene = None
    if args.scene:
        try:
            scene = Path(args.scene).read_text(encoding="utf-8")
        except OSError as exc:
            print(f"cytube-economy demo: cannot read scene: {exc}", file=sys.stderr)
            return 1
    config, plugins = default_app_config()
    _setup_logging(args.log_level or "WARNING")
    try:
        return asyncio.run(_until_signalled(lambda stop: run_demo(
            config, plugins, speed=args.speed, scene=scene, interactive=args.interactive,
            stop=stop)))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130


async def _until_signalled(work: Callable[[asyncio.Event], Coroutine[Any, Any, int]], *,
                           signal_status: int | None = None) -> int:
    """Run ``work(stop)``. The first SIGINT or SIGTERM sets ``stop`` (``work`` winds down and
    cleans up); a second one cancels it. The exit status after a signal is ``signal_status``
    (0 for a service, whose normal stop is a signal), else 128 + the signal."""
    stop = asyncio.Event()
    task = asyncio.ensure_future(work(stop))
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def on_signal(sig: int) -> None:
        received.append(sig)
        if stop.is_set():
            task.cancel()
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    result = 0
    try:
        result = await task
    except asyncio.CancelledError:
        if not received:
            raise
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    if not received:
        return result
    return signal_status if signal_status is not None else 128 + received[0]


def cmd_config_init(args: argparse.Namespace) -> int:
    target = Path(args.output) if args.output else config_path(args.config)
    if target.exists() and not args.force:
        print(f"{target} exists; use --force to overwrite it", file=sys.stderr)
        return 1
    target.write_text(default_config_text(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    loaded = _load_or_report(args)
    if loaded is None:
        return 1
    config, plugins = loaded
    for note in review_config(config, plugins):  # errors were refused by loading already
        print(f"warning: {note}")
    print(f"{config_path(args.config)}: OK ({len(config.core.channels)} channel(s), plugins: "
          f"{', '.join(p.name for p in plugins) or 'none'})")
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    loaded = _load_or_report(args)
    if loaded is None:
        return 1
    sys.stdout.write(render_effective_config(loaded[0]))
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    """Every installed plugin with what it declares (its contract) and the hooks it implements;
    then whether the enabled ones fit together."""
    from .contract import contract_of, declared_commands, publish_hookspecs
    from .endpoints import declared_endpoints
    from .hookspecs import PROJECT
    from .manager import check_plugins, hook_names, new_plugin_manager, register

    path = config_path(args.config)
    enabled: set[str] = set()
    problem = ""
    try:
        config, _ = load_app_config(path)
        enabled = set(config.enabled)
    except (ConfigError, PluginLoadError) as exc:
        problem = str(exc)
        print(f"(config {path} not usable: {problem.splitlines()[0]})")
    infos = installed_plugins()
    pm = new_plugin_manager()
    published: dict[str, list[str]] = {}
    taken: dict[str, str] = {}
    for info in infos:  # publish every plugin's hook specs, so any implementation registers
        try:
            names = publish_hookspecs(info.cls, pm, PROJECT, taken)
        except Exception as exc:  # shown below as that plugin's problem
            names = [f"(not published: {exc})"]
        taken.update({name: info.name for name in names})
        published[info.name] = names
    for info in infos:
        state = "enabled" if info.name in enabled else "installed"
        print(f"{info.name} {info.version} [{state}] {info.cls.__module__}.{info.cls.__qualname__}")
        contract = contract_of(info.cls)
        if contract.requires:
            print(f"    requires: {', '.join(contract.requires)}")
        for t in contract.posting_types:
            exempt = ", onboarding-exempt" if t.onboarding_exempt else ""
            print(f"    posting type {t.name} ({t.kind}{exempt}): {t.label}")
        for c in contract.counters:
            print(f"    daily counter {c.name}: {c.label}")
        for a in contract.announcements:
            print(f"    announcement {a.kind}: {a.description}")
        if contract.capabilities:
            print(f"    capabilities: {', '.join(sorted(contract.capabilities))}")
        for kept in contract.personal_data:
            print(f"    personal data: {kept}")
        for spec in sorted(declared_commands(info.cls), key=lambda s: s.name):
            tag = " (admin)" if spec.admin else ""
            print(f"    command {spec.name}{tag}: {spec.help}")
        for name in sorted(declared_endpoints(info.cls)):
            print(f"    endpoint {name}")
        if published[info.name]:
            print(f"    publishes hooks: {', '.join(published[info.name])}")
        try:
            register(pm, info.name, info.cls)
            hooks = [h for h in hook_names(pm, info.name) if h != "economy_addhooks"]
            print(f"    hooks: {', '.join(hooks) or 'none'}")
        except PluginLoadError as exc:
            print(f"    hooks: not registrable ({exc})")
    if enabled and not problem:
        check_plugins([i for i in infos if i.name in enabled])
        print(f"enabled plugins fit together: {', '.join(sorted(enabled))}")
    return 0


async def _verify(config: AppConfig) -> int:
    from .db import make_engine
    from .ledger import Ledger

    engine = make_engine(config.core.database.url)
    ledger = Ledger(engine, SystemClock(), tz=config.core.clock.tz)
    await ledger.start()
    try:
        mismatches = await ledger.verify()
        accounts = await ledger.account_count()
    finally:
        await ledger.close()
        await engine.dispose()
    for m in mismatches:
        print(f"MISMATCH {m.channel}/{m.user_key}: balance {m.balance}, "
              f"sum of transactions {m.ledger_sum}")
    if mismatches:
        print(f"ledger verify: {len(mismatches)} of {accounts} account(s) do not add up")
        return 1
    print(f"ledger verify: OK, {accounts} account(s), every balance equals its transactions")
    return 0


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    loaded = _load_or_report(args)
    if loaded is None:
        return 1
    return asyncio.run(_verify(loaded[0]))


async def _offline(args: argparse.Namespace,
                   work: Callable[[EconomyApp], Coroutine[Any, Any, int]]) -> int:
    """Run ``work`` on the configured database and plugins, offline (nothing is connected,
    scheduled or sent: :meth:`EconomyApp.open_offline`)."""
    loaded = _load_or_report(args)
    if loaded is None:
        return 1
    config, plugins = loaded
    app = EconomyApp(config, plugins, clock=SystemClock())
    await app.open_offline()
    try:
        return await work(app)
    finally:
        await app.close_offline()


def _confirm(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def cmd_user_export(args: argparse.Namespace) -> int:
    import json

    from .userdata import UnknownUser, export_user

    found: list[dict[str, Any]] = []

    async def work(app: EconomyApp) -> int:
        try:
            found.append(await export_user(app, args.channel, args.name))
        except UnknownUser as exc:
            print(f"cytube-economy user export: {exc}", file=sys.stderr)
            return 1
        return 0

    status = asyncio.run(_offline(args, work))
    if status or not found:
        return status or 1
    text = json.dumps(found[0], indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_user_forget(args: argparse.Namespace) -> int:
    from .userdata import ForgetRefused, UnknownUser, forget_user

    async def work(app: EconomyApp) -> int:
        account = (await app.ledger.account(args.channel, args.name)
                   if args.channel in [c.channel for c in app.core.channels] else None)
        if account is not None and not args.yes and not _confirm(
                f"Forget {account.username} in {args.channel} (balance {account.balance} "
                "leaves circulation)?"):
            print("cancelled: nothing changed")
            return 1
        try:
            done = await forget_user(app, args.channel, args.name)
        except (UnknownUser, ForgetRefused) as exc:
            print(f"cytube-economy user forget: {exc}", file=sys.stderr)
            return 1
        print(f"forgot {done.username} in {args.channel}: now {done.pseudonym} in the history; "
              f"balance {done.balance_removed} removed (one posting); {done.rows_changed} "
              "row(s) changed")
        return 0

    return asyncio.run(_offline(args, work))


def cmd_prune(args: argparse.Namespace) -> int:
    from .prune import Criteria, find_targets, prune, write_csv

    criteria = Criteria(args.inactive_days, args.balance_min, args.balance_max,
                        args.max_lifetime_earned)

    async def work(app: EconomyApp) -> int:
        if args.channel not in [c.channel for c in app.core.channels]:
            print(f"cytube-economy prune: channel {args.channel!r} is not configured",
                  file=sys.stderr)
            return 1
        now = app.clock.now()
        targets, vetoed = await find_targets(app, args.channel, criteria, now)
        for row in targets:
            print(f"target {row.username}: balance {row.balance}, earned {row.lifetime_earned},"
                  f" last change {row.last_change:%Y-%m-%d}")
        for row in vetoed:
            print(f"kept {row.username}: {row.reason}")
        total = sum(r.balance for r in targets)
        print(f"{len(targets)} account(s) to prune in {args.channel} ({total} in balances), "
              f"{len(vetoed)} kept by plugins")
        rows = [*targets, *vetoed]
        if args.execute and targets:
            if not args.yes and not _confirm(f"Remove {len(targets)} account(s)?"):
                print("cancelled: nothing changed")
                return 1
            rows = [*await prune(app, args.channel, criteria, targets, now), *vetoed]
            removed = [r for r in rows if r.action == "removed"]
            print(f"removed {len(removed)} account(s), {sum(r.balance for r in removed)} out "
                  "of circulation")
        output = args.output_csv
        if output is None and args.execute:
            output = f"prune-{args.channel}-{now:%Y%m%dT%H%M%SZ}.csv"
        if output is not None:
            write_csv(Path(output), rows)
            print(f"wrote {output}")
        if not args.execute:
            print("dry run: nothing changed (--execute to remove)")
        return 0

    return asyncio.run(_offline(args, work))


def cmd_import_kryten(args: argparse.Namespace) -> int:
    from .legacy import ImportError_, import_database

    async def work(app: EconomyApp) -> int:
        try:
            summaries = await import_database(
                app, Path(args.source), [args.channel] if args.channel else None,
                dry_run=args.dry_run)
        except ImportError_ as exc:
            print(f"cytube-economy import kryten-economy: {exc}", file=sys.stderr)
            return 1
        for summary in summaries:
            print("\n".join(summary.lines()))
        if args.dry_run:
            print("dry run: nothing changed")
        return 0

    return asyncio.run(_offline(args, work))


def plugins_with_cli() -> list[PluginInfo]:
    """Installed plugins that declare command-line commands (one that fails to import is
    skipped with a warning: the core commands must keep working)."""
    found: list[PluginInfo] = []
    for name, ep in sorted(installed_entry_points().items()):
        try:
            [info] = load_plugins([name], {name: ep})
        except PluginLoadError as exc:
            log.warning("%s", exc)
            continue
        if getattr(info.cls, "cli_commands", None):
            found.append(info)
    return found


def _plugin_section(args: argparse.Namespace, info: PluginInfo) -> object:
    """The plugin's config section for its CLI command: from the config file when it exists
    and enables the plugin, else the defaults."""
    path = config_path(args.config)
    if path.exists():
        config, _ = load_app_config(path)
        if info.name in config.plugins:
            return config.plugins[info.name]
    cls = info.config_class
    return cls() if cls is not None else None


def _plugin_command(info: PluginInfo, command: CliCommand) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            section = _plugin_section(args, info)
        except (ConfigError, PluginLoadError) as exc:
            print(f"{config_path(args.config)}: invalid\n{exc}", file=sys.stderr)
            return 1
        return command.run(args, section)
    return run


def _add_plugin_commands(sub: Any, infos: Sequence[PluginInfo]) -> None:
    for info in infos:
        commands: Sequence[CliCommand] = info.cls.cli_commands  # type: ignore[attr-defined]
        group = sub.add_parser(info.name, help=f"commands of the {info.name} plugin")
        group_sub = group.add_subparsers(dest=f"{info.name}_command", required=True)
        for command in commands:
            parser = group_sub.add_parser(command.name, help=command.help)
            if command.add_arguments is not None:
                command.add_arguments(parser)
            parser.set_defaults(func=_plugin_command(info, command))


def build_parser(plugin_infos: Sequence[PluginInfo] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cytube-economy",
                                     description="A plugin-based channel economy for CyTube.")
    parser.add_argument("--config", help="config file (default: $CYTUBE_ECONOMY_CONFIG or "
                        "./economy.toml)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument("--validate-config", action="store_true",
                        help="validate the config and exit (same as `config check`)")
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="run the bot")
    run.add_argument("--time-scale", type=float, default=1.0,
                     help="run the clock this many times faster (demos)")
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="run the bot in a simulated room (local nats-server, "
                          "temp database, shipped defaults)")
    from .demo import add_arguments

    add_arguments(demo)
    demo.set_defaults(func=cmd_demo)

    config = sub.add_parser("config", help="write, check or show the config")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    init = config_sub.add_parser("init", help="write the complete default config")
    init.add_argument("--output", "-o", help="where to write (default: the config path)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(func=cmd_config_init)
    config_sub.add_parser("check", help="validate the config").set_defaults(
        func=cmd_config_check)
    config_sub.add_parser("show", help="print the effective config").set_defaults(
        func=cmd_config_show)

    sub.add_parser("plugins", help="list installed and enabled plugins").set_defaults(
        func=cmd_plugins)

    ledger = sub.add_parser("ledger", help="ledger tools")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True)
    ledger_sub.add_parser("verify", help="check every balance against its transactions"
                          ).set_defaults(func=cmd_ledger_verify)
    user = sub.add_parser("user", help="a user's data: export or forget it")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    export = user_sub.add_parser("export", help="everything held about a user, as JSON")
    export.add_argument("name")
    export.add_argument("--channel", required=True)
    export.add_argument("--output", "-o", help="write the JSON here (default: stdout)")
    export.set_defaults(func=cmd_user_export)
    forget = user_sub.add_parser("forget", help="remove a user's personal data (a pseudonym "
                                 "in the history; the balance leaves through one posting)")
    forget.add_argument("name")
    forget.add_argument("--channel", required=True)
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    forget.set_defaults(func=cmd_user_forget)

    importer = sub.add_parser("import", help="bring data over from another bot")
    importer_sub = importer.add_subparsers(dest="import_command", required=True)
    kryten = importer_sub.add_parser("kryten-economy", help="accounts, balances, history, "
                                     "bans and quiet mode from a kryten-economy database")
    kryten.add_argument("--from", dest="source", required=True, help="its SQLite file")
    kryten.add_argument("--channel", help="only this channel (default: every channel)")
    kryten.add_argument("--dry-run", action="store_true", help="report, change nothing")
    kryten.set_defaults(func=cmd_import_kryten)

    pruner = sub.add_parser("prune", help="remove abandoned accounts (a dry run unless "
                            "--execute)")
    pruner.add_argument("--channel", required=True)
    pruner.add_argument("--inactive-days", type=int, default=30)
    pruner.add_argument("--balance-min", type=int, default=0)
    pruner.add_argument("--balance-max", type=int, default=None)
    pruner.add_argument("--max-lifetime-earned", type=int, default=None)
    pruner.add_argument("--execute", action="store_true", help="remove the targets")
    pruner.add_argument("--yes", action="store_true", help="with --execute: do not ask")
    pruner.add_argument("--output-csv", help="the audit CSV (default with --execute: "
                        "prune-<channel>-<time>.csv)")
    pruner.set_defaults(func=cmd_prune)
    _add_plugin_commands(sub, [i for i in plugin_infos if i.name not in sub.choices])
    _accept_common_options(parser)
    return parser


COMMON_OPTIONS = ("--config", "--log-level")
"""Options a user may type before or after the sub-command (``run --config F``)."""


def _accept_common_options(parser: argparse.ArgumentParser) -> None:
    """Let every sub-command (at any depth) take the top-level options too. Their default
    there is "not given", so a value typed before the sub-command is kept."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for child in {id(p): p for p in action.choices.values()}.values():
            taken = {o for a in child._actions for o in a.option_strings}
            if "--config" not in taken:
                child.add_argument("--config", default=argparse.SUPPRESS,
                                   help="config file (also accepted before the sub-command)")
            if "--log-level" not in taken:
                child.add_argument("--log-level", default=argparse.SUPPRESS,
                                   help="DEBUG, INFO, WARNING or ERROR")
            _accept_common_options(child)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(plugins_with_cli())
    args = parser.parse_args(argv)
    if args.validate_config:
        return cmd_config_check(args)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if args.command not in ("run", "demo"):
        _setup_logging(args.log_level or os.environ.get("CYTUBE_ECONOMY_LOG_LEVEL", "WARNING"))
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
