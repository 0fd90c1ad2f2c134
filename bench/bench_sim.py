"""The simulator's cost per submitted order (issue 17, the third serial resource of a live step): `alphatrade sim serve` in its
own process, stepped, on a synthetic store of 47 symbols; the real `AlpacaBroker` (alpaca-py's TradingClient) places 8 market
orders at once (`submit_many`, as the daemon does) after each step, 2,000 orders in all, while alpaca-py's TradingStream listens
to the trade updates (so each order's `new` frame is built, compressed and written, as in the live bench). Reported:
`sim_cpu_ms_per_order` (the simulator process's CPU time, from /proc/<pid>/task/*/schedstat, summed over the `submit_many` calls
only, divided by the orders), `sim_cpu_ms_per_order_all` (the same over the whole loop: the steps, their fills and fill updates
too), `request_ms_p50`/`p99` (one `submit_order` call in a submit thread: request to parsed answer) and `batch_ms_p50` (a step's 8
submits, first request to last answer). The simulator's start-up is outside every number."""
from harness import benchmark


def _cpu_s(pid: int, sys_only: bool = False) -> float:
    """A process's CPU seconds so far: every thread's time on a CPU in ns (/proc/<pid>/task/*/schedstat; ticks of 10 ms are too coarse
    for a few requests), or its system time alone in ticks (/proc/<pid>/stat)."""
    import glob, os
    if sys_only: return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[12]) / os.sysconf("SC_CLK_TCK")  # stime (field 15)
    out = 0
    for p in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try: out += int(open(p).read().split()[0])
        except (OSError, ValueError): pass  # a thread that just ended
    return out / 1e9


@benchmark("live.sim_submit_cpu")
def sim_submit_cpu(timer, per_batch: int = 8):
    import asyncio, logging, os, socket, subprocess, sys, tempfile, threading, time
    from decimal import Decimal
    import numpy as np
    import requests
    from alphatrade.data.store import BarStore
    from alphatrade.data.synthetic import generate_market
    from alphatrade.adapters.alpaca.config import AlpacaEndpoints
    from alphatrade.adapters.alpaca.data import AlpacaStreams
    from alphatrade.adapters.alpaca.execution import AlpacaBroker
    from alphatrade.core.types import Order, OrderSide, OrderType, TimeInForce
    logging.getLogger().setLevel(logging.WARNING)
    batches = int(os.environ.get("ALPHATRADE_BENCH_SIM_BATCHES", 250))  # more for a profile of the simulator (py-spy)
    bars = generate_market(seed=1, start="2025-05-01", end="2025-06-06")
    symbols = sorted(bars["symbol"].unique())
    with tempfile.TemporaryDirectory() as d:
        BarStore(f"{d}/store").write(bars)
        from simproc import HEADERS as hdr, start_sim
        sim, url = start_sim(f"{d}/store", "2025-05-01", "2025-05-05", "2025-06-06", "--cash", "100000000")
        loop = asyncio.new_event_loop(); th = threading.Thread(target=loop.run_forever, daemon=True); th.start()
        try:
            ep = AlpacaEndpoints.simulator(url)
            updates, bars_in = [], []
            async def on_update(msg): updates.append(msg)
            async def on_bar(bar): bars_in.append(bar)
            st = AlpacaStreams(ep)
            async def listen():  # as the daemon listens: trade updates, and bars (of one symbol: the data stream starts only with a subscription)
                st.subscribe_trade_updates(on_update); st.subscribe_bars(on_bar, symbols[0]); st.start()
                return await st.wait_running(30)
            if os.environ.get("ALPHATRADE_BENCH_SIM_LISTEN", "1") != "0":  # 0: no stream connection (what the trade updates' frames cost)
                assert asyncio.run_coroutine_threadsafe(listen(), loop).result(60), "the streams did not connect"
            broker = AlpacaBroker(ep, rate_limit=10**6)
            place, req_ms = broker.client.submit_order, []
            def timed(*a, **k):
                t0 = time.perf_counter()
                try: return place(*a, **k)
                finally: req_ms.append((time.perf_counter() - t0) * 1e3)
            broker.client.submit_order = timed
            step = requests.Session()
            def one_step(): step.post(url + "/sim/step", headers=hdr, timeout=10).raise_for_status()
            one_step()
            broker.submit_many([Order(symbols[0], OrderSide.BUY, Decimal(1), OrderType.MARKET, TimeInForce.DAY) for _ in range(per_batch)])  # warm-up: threads, connections
            req_ms.clear(); n = 0; in_submit = 0.0; batch_ms = []
            all0, sys0 = _cpu_s(sim.pid), _cpu_s(sim.pid, True)
            with timer("orders"):
                for b in range(batches):
                    one_step()
                    side = OrderSide.BUY if b % 2 == 0 else OrderSide.SELL  # buys one step, the same symbols sold the next (filled meanwhile)
                    syms = [symbols[(b // 2 * per_batch + k) % len(symbols)] for k in range(per_batch)]
                    orders = [Order(s, side, Decimal(1), OrderType.MARKET, TimeInForce.DAY) for s in syms]
                    c0, t0 = _cpu_s(sim.pid), time.perf_counter()
                    out = broker.submit_many(orders)
                    batch_ms.append((time.perf_counter() - t0) * 1e3); in_submit += _cpu_s(sim.pid) - c0
                    n += sum(not isinstance(o, Exception) for o in out)
            cpu_all, cpu_sys = _cpu_s(sim.pid) - all0, _cpu_s(sim.pid, True) - sys0
            time.sleep(0.2)
            if st.tasks: asyncio.run_coroutine_threadsafe(st.stop(0.5), loop).result(10)
        finally:
            sim.terminate(); sim.wait(30)
            loop.call_soon_threadsafe(loop.stop); th.join(5)
    r = np.array(req_ms)
    return {"orders": n, "orders_sent": batches * per_batch, "trade_updates": len(updates), "bars_streamed": len(bars_in),
            "sim_cpu_ms_per_order": in_submit / max(n, 1) * 1e3, "sim_cpu_ms_per_order_all": cpu_all / max(n, 1) * 1e3,
            "sim_sys_ms_per_order_all": cpu_sys / max(n, 1) * 1e3,
            "request_ms_p50": float(np.median(r)), "request_ms_p99": float(np.percentile(r, 99)),
            "batch_ms_p50": float(np.median(batch_ms)), "load_1min": os.getloadavg()[0]}
