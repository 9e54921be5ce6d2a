"""systemd Type=notify: READY=1 once the bot can answer, the watchdog pinged from the event
loop, STOPPING=1 at shutdown; the shipped unit passes ``systemd-analyze verify``."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from economy_core.natsd import NatsServer
from economy_core.robot import RobotStandIn
from economy_core.systemd import Notifier
from economy_core.testing import wait_until

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "contrib" / "systemd" / "cytube-economy.service"
CLI = Path(sys.executable).parent / "cytube-economy"


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    try:
        yield path, sock
    finally:
        sock.close()


def received(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def test_outside_systemd_nothing_is_sent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled and notifier.watchdog_seconds is None
    assert notifier.send("READY=1") is False


def test_datagrams_and_the_watchdog_interval(notify_socket: tuple[str, socket.socket]) -> None:
    path, sock = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "3000000",
                         "WATCHDOG_PID": str(os.getpid())})
    assert notifier.enabled and notifier.watchdog_seconds == 3.0
    notifier.ready("serving lounge")
    notifier.stopping()
    assert received(sock) == ["READY=1\nSTATUS=serving lounge", "STOPPING=1\nSTATUS=shutting down"]
    other = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"})
    assert other.watchdog_seconds is None  # the watchdog is another process's


async def test_run_is_ready_once_serving_pings_and_says_stopping(
        tmp_path: Path, notify_socket: tuple[str, socket.socket]) -> None:
    path, sock = notify_socket
    nats = NatsServer(store_dir=str(tmp_path / "nats"))
    await nats.start()
    robot = RobotStandIn(nats.url, channel="lounge")
    await robot.start()
    config = tmp_path / "economy.toml"
    config.write_text(f'''[nats]
servers = ["{nats.url}"]
[[channels]]
domain = "cytu.be"
channel = "lounge"
[database]
url = "sqlite+aiosqlite:///{tmp_path / 'e.db'}"
[metrics]
port = 0
[plugins]
enabled = ["wallet"]
''', encoding="utf-8")
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}
    env.pop("WATCHDOG_PID", None)
    bot = await asyncio.create_subprocess_exec(str(CLI), "--config", str(config), "run",
                                               env=env, stdout=asyncio.subprocess.DEVNULL,
                                               stderr=asyncio.subprocess.DEVNULL)
    seen: list[str] = []
    try:
        def got(prefix: str) -> bool:
            seen.extend(received(sock))
            return any(d.startswith(prefix) for d in seen)

        await wait_until(lambda: got("STATUS=waiting for kryten-robot"), 20)
        assert not any(d.startswith("READY=1") for d in seen)  # no room state yet
        await robot.set_userlist([{"name": "alice", "rank": 1, "meta": {"afk": False}}])
        await robot.restart()  # the bot re-reads the room when the robot announces itself
        await wait_until(lambda: got("READY=1"), 20)
        assert "READY=1\nSTATUS=serving lounge" in seen
        pings = sum(d == "WATCHDOG=1" for d in seen)
        await wait_until(lambda: got("WATCHDOG=1") and
                         sum(d == "WATCHDOG=1" for d in seen) >= pings + 2, 5)
    finally:
        bot.send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(bot.wait(), 30)
        await robot.stop()
        await nats.stop()
    seen.extend(received(sock))
    assert status == 0
    assert "STOPPING=1\nSTATUS=shutting down" in seen


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_shipped_unit_verifies(tmp_path: Path) -> None:
    text = UNIT.read_text(encoding="utf-8")
    assert "Type=notify" in text and "WatchdogSec=" in text
    unit = tmp_path / UNIT.name  # the unit's commands, pointed at this venv's
    unit.write_text(text.replace("/opt/cytube-economy/venv/bin/", f"{CLI.parent}/"),
                    encoding="utf-8")
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if UNIT.name in line]
    assert result.returncode == 0 and problems == [], result.stdout + result.stderr
