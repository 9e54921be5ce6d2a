"""The installed command as an operator runs it: the demo (and its --interactive mode) stops
cleanly on Ctrl-C or SIGTERM, closes its transcript and leaves no nats-server behind."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

COMMAND = str(Path(sys.executable).parent / "cytube-economy")
NATS_URL = re.compile(r"nats-server at nats://127\.0\.0\.1:(\d+)")


async def read_until(stream: asyncio.StreamReader, needle: str, timeout: float = 60.0) -> str:
    """Output up to and including the first line containing ``needle`` (bounded wait)."""
    seen: list[str] = []

    async def scan() -> str:
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError(f"output ended before {needle!r}:\n{''.join(seen)}")
            seen.append(line)
            if needle in line:
                return "".join(seen)

    return await asyncio.wait_for(scan(), timeout)


async def port_closed(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


async def stop_with(proc: asyncio.subprocess.Process, sig: int) -> str:
    assert proc.stdout is not None
    proc.send_signal(sig)
    rest = await asyncio.wait_for(proc.stdout.read(), 30)
    await asyncio.wait_for(proc.wait(), 30)
    return rest.decode()


async def test_sigterm_stops_the_demo_and_its_nats_server() -> None:
    proc = await asyncio.create_subprocess_exec(
        COMMAND, "demo", "--speed", "600", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    head = await read_until(proc.stdout, "joins the room")
    match = NATS_URL.search(head)
    assert match, head
    tail = await stop_with(proc, signal.SIGTERM)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "interrupted: stopping" in tail and "ledger verify: OK" in tail
    assert "Traceback" not in head + tail
    assert await port_closed(int(match.group(1)))


async def test_ctrl_c_in_interactive_mode_does_not_wait_for_input() -> None:
    proc = await asyncio.create_subprocess_exec(
        COMMAND, "demo", "--interactive", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    head = await read_until(proc.stdout, "interactive:")
    match = NATS_URL.search(head)
    assert match, head
    proc.stdin.write(b"alice: hello everyone, nice to be here\n/pm alice balance\n")
    await proc.stdin.drain()
    head += await read_until(proc.stdout, "bot → alice: 💰 alice:")
    # stdin stays open: the reader is blocked on it when Ctrl-C arrives
    tail = await stop_with(proc, signal.SIGINT)
    assert proc.returncode == 128 + signal.SIGINT
    assert "Top balances:" in tail and "ledger verify: OK" in tail
    assert "Traceback" not in head + tail
    assert await port_closed(int(match.group(1)))
    proc.stdin.close()
