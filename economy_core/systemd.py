"""Telling systemd how the service is doing (``Type=notify``), without a dependency.

systemd passes a datagram socket in ``$NOTIFY_SOCKET`` (a path, or ``@name`` in the abstract
namespace) and, with ``WatchdogSec=``, the interval in ``$WATCHDOG_USEC`` (for ``$WATCHDOG_PID``
when set). :class:`Notifier` sends ``READY=1`` once the bot can answer, ``STATUS=…`` lines while
it waits, ``WATCHDOG=1`` from the event loop at half the interval (a wedged loop stops pinging,
and systemd restarts it), and ``STOPPING=1`` when it begins to shut down. Outside systemd (no
``$NOTIFY_SOCKET``) every call does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("economy_core.systemd")


class Notifier:
    """The sd_notify protocol for one process (see the module docstring)."""

    def __init__(self, env: Mapping[str, str] = os.environ) -> None:
        address = env.get("NOTIFY_SOCKET", "")
        self._address = ("\0" + address[1:]) if address.startswith("@") else address
        self._watchdog: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self._watchdog = int(usec) / 1_000_000
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        """True under systemd (a notify socket was given)."""
        return bool(self._address)

    @property
    def watchdog_seconds(self) -> float | None:
        """systemd's watchdog interval for this process (None: no watchdog)."""
        return self._watchdog

    def send(self, *fields: str) -> bool:
        """One datagram of ``KEY=value`` lines; False when not under systemd or it failed."""
        if not self._address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._address)
                sock.sendall("\n".join(fields).encode())
        except OSError as exc:
            log.warning("systemd notification failed (%s): %s", fields[0] if fields else "", exc)
            return False
        return True

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=shutting down")

    def start_watchdog(self) -> None:
        """Ping systemd's watchdog from the event loop at half its interval (if it has one)."""
        if self._watchdog is None or not self._address or self._task is not None:
            return
        interval = self._watchdog / 2

        async def ping() -> None:
            while True:
                self.send("WATCHDOG=1")
                await asyncio.sleep(interval)

        self._task = asyncio.get_running_loop().create_task(ping(), name="systemd-watchdog")

    async def stop_watchdog(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
