"""The real kryten-robot (from PyPI, pinned) in a test: its own venv, a fake CyTube, a nats-server.

kryten-robot installs a top-level package ``kryten`` that clashes with kryten-py's, so it lives
in a venv of its own (built once, cached in ``<repo>/.robot-venv``) and runs as a subprocess:
``<venv>/bin/python -m kryten --config <json>``. :func:`start_stack` starts a nats-server
(JetStream on), the :class:`~economy_core.fake_cytube.FakeCyTube` and the robot, and returns
once the robot is in the room and has written its KV userlist (what a bot seeds from).
Every process started here is stopped by ``close()``/``stop()``, and, as a last resort, when the
interpreter exits.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from economy_core.fake_cytube import FakeCyTube
from economy_core.natsd import NatsServer

ROBOT_VERSION = "1.12.6"
ROBOT_REQUIREMENT = f"kryten-robot=={ROBOT_VERSION}"
SKIP_ENV = "CYTUBE_ECONOMY_SKIP_REAL_ROBOT"
"""Set to 1 to skip the real-robot tests (local use only: CI can reach the package index)."""
ROOT = Path(__file__).resolve().parents[1]
VENV_CACHE = ROOT / ".robot-venv"
CHANNEL = "testroom"
BOT = "ZCoinBot"
"""The robot's CyTube login (and the economy bot's ``bot.username``)."""
BOT_RANK = 3
READY_LINE = "Kryten is ready and processing events"
"""What kryten-robot logs once every NATS subscription of it is in place."""

_LIVE: dict[int, asyncio.subprocess.Process] = {}


@atexit.register
def _terminate_leftovers() -> None:
    """No process started here outlives the test run (a crash, a second Ctrl-C)."""
    for pid, proc in list(_LIVE.items()):
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    _LIVE.clear()


class RobotVenvError(RuntimeError):
    """The robot's venv could not be built (the message says why)."""


def robot_python(cache: Path = VENV_CACHE, timeout: float = 300.0) -> Path:
    """The Python of a venv holding :data:`ROBOT_REQUIREMENT`, built on first use and reused
    (keyed by the robot's version and this interpreter's version; a lock keeps concurrent test
    runs from building it twice). Raises :class:`RobotVenvError` when pip fails."""
    tag = f"kryten-robot-{ROBOT_VERSION}-py{sys.version_info[0]}{sys.version_info[1]}"
    venv = cache / tag
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{tag}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text() == ROBOT_REQUIREMENT and python.exists():
            return python
        if venv.exists():
            subprocess.run(["rm", "-rf", str(venv)], check=True)
        steps = ([sys.executable, "-m", "venv", str(venv)],
                 [str(python), "-m", "pip", "install", "--disable-pip-version-check",
                  "--no-input", "--quiet", ROBOT_REQUIREMENT])
        for step in steps:
            try:
                done = subprocess.run(step, capture_output=True, text=True, timeout=timeout,
                                      env=_clean_env())
            except subprocess.TimeoutExpired as exc:
                raise RobotVenvError(f"{' '.join(step)} took longer than {timeout:g} s") from exc
            if done.returncode != 0:
                raise RobotVenvError(
                    f"could not install {ROBOT_REQUIREMENT} into {venv} "
                    f"(`{' '.join(step)}` exited {done.returncode}):\n"
                    f"{(done.stdout + done.stderr)[-3000:]}\n"
                    f"The real-robot tests need the package index; set {SKIP_ENV}=1 to skip "
                    f"them locally.")
        stamp.write_text(ROBOT_REQUIREMENT)
        return python


def _clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without what would leak into another interpreter or override the
    robot's config file (``KRYTEN_*``)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
           and not k.startswith("KRYTEN_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class ManagedProcess:
    """A subprocess with its output in a log file, in its own session (a terminal's Ctrl-C
    reaches only pytest), stopped by :meth:`stop` (signal, bounded wait, then SIGKILL)."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, *,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = _clean_env(env)
        self.cwd = cwd
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=log,
                stderr=asyncio.subprocess.STDOUT, env=self.env, cwd=self.cwd,
                start_new_session=True)
        finally:
            os.close(log)
        _LIVE[self.proc.pid] = self.proc

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    def send_signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0, *,
                   meanwhile: Callable[[], Awaitable[None]] | None = None) -> int:
        """Send ``sig`` and wait up to ``timeout`` s for the exit (then SIGKILL); returns the
        exit status (negative: killed by that signal). ``meanwhile`` runs until then."""
        proc = self.proc
        if proc is None:
            raise RuntimeError(f"{self.name} was never started")
        helper = asyncio.create_task(meanwhile()) if meanwhile is not None else None
        try:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)
                try:
                    await asyncio.wait_for(proc.wait(), timeout)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    await proc.wait()
                    raise TimeoutError(f"{self.name} did not exit within {timeout:g} s of "
                                       f"{signal.Signals(sig).name}; killed\n"
                                       f"{self.log_tail()}") from None
            return await proc.wait()
        finally:
            if helper is not None:
                helper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await helper
            _LIVE.pop(proc.pid, None)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        tail = "\n".join(self.log_text().splitlines()[-lines:])
        return f"--- last lines of {self.name}'s log ({self.log_path}) ---\n{tail}"

    async def wait_for_log(self, text: str, timeout: float = 20.0) -> None:
        """Until ``text`` appears in the log (fails at once if the process exits)."""
        await wait_for(lambda: text in self.log_text(), f"{self.name} logging {text!r}",
                       timeout, process=self)


async def wait_for(predicate: Callable[[], bool | Awaitable[bool]], what: str,
                   timeout: float, *, process: ManagedProcess | None = None,
                   interval: float = 0.05) -> None:
    """Until ``predicate()`` holds (it may be async); a :class:`TimeoutError` naming ``what``
    after ``timeout`` s, or a :class:`RuntimeError` at once when ``process`` exits."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if process is not None and process.returncode is not None:
            raise RuntimeError(f"{process.name} exited with status {process.returncode} "
                               f"while waiting for {what}\n{process.log_tail()}")
        if loop.time() > deadline:
            tail = f"\n{process.log_tail()}" if process is not None else ""
            raise TimeoutError(f"{what} did not happen within {timeout:g} s{tail}")
        await asyncio.sleep(interval)


def robot_config(fake: FakeCyTube, nats_url: str, workdir: Path) -> dict[str, Any]:
    """The robot's JSON config: our fake CyTube, our nats-server, commands on, no health
    endpoint (it would take port 8080), logs in ``workdir``."""
    return {
        "cytube": {"domain": fake.domain, "channel": CHANNEL, "user": BOT,
                   "password": "any-password", "aggressive_reconnect": False},
        "nats": {"servers": [nats_url], "connect_timeout": 5, "max_reconnect_attempts": 10},
        "commands": {"enabled": True},
        "health": {"enabled": False},
        "logging": {"base_path": str(workdir / "robot-logs")},
        "log_level": "INFO",
    }


async def kv_users(nats_url: str, channel: str) -> list[dict[str, Any]] | None:
    """The robot's KV userlist (``kryten_<channel>_userlist``/``users``), None when absent."""
    import nats

    nc = await nats.connect(nats_url, connect_timeout=2, allow_reconnect=False)
    try:
        kv = await nc.jetstream().key_value(f"kryten_{channel}_userlist")
        entry = await kv.get("users")
    except Exception:
        return None
    finally:
        await nc.close()
    users = json.loads(entry.value or b"null")
    return users if isinstance(users, list) else None


@dataclass
class RobotStack:
    """nats-server + fake CyTube + the real robot, running."""

    nats: NatsServer
    fake: FakeCyTube
    robot: ManagedProcess
    workdir: Path
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    @property
    def nats_url(self) -> str:
        return self.nats.url

    @property
    def domain(self) -> str:
        return self.fake.domain

    async def close(self) -> None:
        """Stop the robot (SIGTERM, bounded), then the fake and nats-server."""
        errors: list[BaseException] = []
        for closer in reversed(self.closers):
            try:
                await closer()
            except Exception as exc:
                errors.append(exc)
        self.closers.clear()
        if errors:
            raise errors[0]


async def start_stack(python: Path, workdir: Path, *,
                      users: Sequence[tuple[str, int]] = (),
                      emotes: Sequence[str] = ("Kappa", "PogChamp"),
                      timeout: float = 30.0) -> RobotStack:
    """Start everything; ``users`` are in the room before the robot joins. Returns once the
    robot is logged in and its KV userlist shows it with its channel rank."""
    nats = NatsServer(store_dir=str(workdir / "nats"))
    fake = FakeCyTube(channel=CHANNEL, bot_rank=BOT_RANK, motd="Welcome to the test room",
                      emotes=emotes)
    config_path = workdir / "robot.json"
    robot = ManagedProcess("kryten-robot", [str(python), "-m", "kryten", "--config",
                                            str(config_path)],
                           workdir / "robot.log", cwd=workdir)
    stack = RobotStack(nats, fake, robot, workdir)

    async def stop_robot() -> None:
        status = await robot.stop(signal.SIGTERM, 30.0, meanwhile=lambda: _nudge(fake))
        if status != 0:
            raise RuntimeError(f"kryten-robot exited with status {status}\n{robot.log_tail()}")
    try:
        await nats.start()
        stack.closers.append(nats.stop)
        await fake.start()
        stack.closers.append(fake.stop)
        for name, rank in users:
            await fake.add_user(name, rank)
        config_path.write_text(json.dumps(robot_config(fake, nats.url, workdir), indent=2))
        robot.env["SSL_CERT_FILE"] = str(fake.ca_pem)
        await robot.start()
        stack.closers.append(stop_robot)
        await wait_for(lambda: fake.bot_name is not None,
                       "kryten-robot logging in to the fake CyTube", timeout, process=robot)

        async def robot_in_kv() -> bool:
            users = await kv_users(nats.url, CHANNEL) or []
            return any(u.get("name") == BOT and u.get("rank") == BOT_RANK for u in users)

        await wait_for(robot_in_kv, f"kryten-robot writing its KV userlist with {BOT} at "
                                    f"rank {BOT_RANK}", timeout, process=robot)
        # Its command handler (pm, say, addvideo …) subscribes last, just before this line.
        await robot.wait_for_log(READY_LINE, timeout)
    except BaseException:
        await stack.close()
        raise
    return stack


async def _nudge(fake: FakeCyTube) -> None:
    """While the robot shuts down: a ``usercount`` frame every 0.3 s. Its event publisher
    notices the stop request only when the next CyTube event arrives (else it gives up after
    2 × 5 s), so a quiet room would add 10 s to every teardown."""
    while True:
        await asyncio.sleep(0.3)
        with contextlib.suppress(Exception):
            await fake.broadcast("usercount", len(fake.present()))
