import asyncio, time, json
from datetime import datetime
from typing import Any
from economy_core.testing import wait_until
from economy_core import robot as robot_mod
MANY = {"commands": {"rate_limit_per_minute": 1000}}

async def test_dbg(economy_e2e: Any) -> None:
    names = [f"user{i:03d}" for i in range(200)]
    env = await economy_e2e(plugins=["wallet"], users=[(n, 1) for n in names], config=MANY)
    outbox, channel = env.app.outbox, env.channel
    log = []
    orig = env.robot._on_command
    async def spy(msg):
        arr = time.time()
        data = json.loads(msg.data.decode())
        if data.get("command") in ("pm","say"):
            sent = datetime.fromisoformat(data["meta"]["timestamp"]).timestamp()
            log.append((sent, arr))
        await orig(msg)
    # resubscribe: patch via the client subscription callback is bound; replace attribute used by subscribe? 
    env.robot._on_command = spy
    await env.robot.stop(); await env.robot.start()
    import gc
    gcs=[]
    st={}
    def cb(phase, info):
        if phase=="start": st['t']=time.perf_counter()
        else: gcs.append((info['generation'], (time.perf_counter()-st['t'])*1000))
    gc.callbacks.append(cb)
    loop=asyncio.get_running_loop(); loop.slow_callback_duration=0.005; loop.set_debug(True)
    import logging; logging.getLogger("asyncio").setLevel(logging.WARNING)
    await asyncio.gather(*(env.robot.pm(name, "balance") for name in names))
    await wait_until(lambda: len(env.robot.sent_pms) + len(env.robot.dropped_messages) >= 200, 40, interval=0.05)
    d = [a - s for s, a in log]
    print("delay ms min/med/max", min(d)*1000, sorted(d)[len(d)//2]*1000, max(d)*1000)
    gaps_s = [(b[0]-a[0])*1000 for a, b in zip(log, log[1:])]
    gaps_a = [(b[1]-a[1])*1000 for a, b in zip(log, log[1:])]
    shr = sorted(((gs - ga), i) for i, (gs, ga) in enumerate(zip(gaps_s, gaps_a)))
    print("max shrink ms", shr[-5:])
    print("dropped", env.robot.dropped)
    gc.callbacks.remove(cb)
    print("gc", sorted(gcs, key=lambda g: -g[1])[:5], len(gcs))
