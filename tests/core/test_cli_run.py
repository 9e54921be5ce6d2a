"""`cytube-economy run` as an operator runs it: a real process, a real nats-server it starts
itself (no servers configured), SIGTERM → clean exit; and NATS absent at start → retries."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from economy_core.natsd import NatsServer, free_port
from economy_core.testing import wait_until

ROOT = Path(__file__).resolve().parents[2]


async def test_run_starts_local_nats_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    cfg = tmp_path / "economy.toml"
    text = (ROOT / "economy.toml").read_text(encoding="utf-8")
    text = text.replace('url = "sqlite+aiosqlite:///economy.db"',
                        f'url = "sqlite+aiosqlite:///{tmp_path / "run.db"}"')
    text = text.replace("port = 28290", "port = 0")
    cfg.write_text(text, encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "economy_core.cli", "--config", str(cfg), "--log-level", "INFO",
        "run", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    lines: list[str] = []

    async def read_until(marker: str) -> None:
        while not any(marker in line for line in lines):
            line = await asyncio.wait_for(proc.stdout.readline(), 20)  # type: ignore[union-attr]
            assert line, "\n".join(lines)
            lines.append(line.decode())

    await read_until("connected to NATS")
    assert any("started a local nats-server" in line for line in lines)
    proc.send_signal(signal.SIGTERM)
    await read_until("economy stopped")
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    assert (tmp_path / "run.db").exists()


async def test_nats_absent_at_start_then_appears(economy_e2e: Any, tmp_path: Path,
                                                 caplog: Any) -> None:
    from economy_core.app import EconomyApp
    from economy_core.clock import SystemClock
    from economy_core.testing import build_config

    port = free_port()
    config = build_config([], {"nats": {"servers": [f"nats://127.0.0.1:{port}"]}},
                          database_url=f"sqlite+aiosqlite:///{tmp_path / 'absent.db'}")
    app = EconomyApp(config, [], clock=SystemClock())
    await app.start()  # returns although NATS is not there
    nats = NatsServer(port=port, store_dir=str(tmp_path / "nats"))
    try:
        await wait_until(lambda: "NATS not reachable" in caplog.text, 10)
        assert not app._bus.connected
        await nats.start()
        assert await app._bus.wait_connected(15)
    finally:
        await app.stop()
        await nats.stop()
    assert caplog.text.count("NATS not reachable") == 1
