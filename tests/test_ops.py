"""Operations end to end: the daemon in sim mode trades a replayed week of the real stocks while /metrics is scraped over
HTTP; the counters move as the ledger says, and a kill switch (the daily-loss limit set tight) sends its alert to a local
webhook receiver through the settings' alerts section, as the docker stack's alert-receiver would get it."""
import os
import re
import socket
import sys
import time
from pathlib import Path

import requests

from alphatrade.apps.live_ops import orders_of
from live_forkserver import spawn  # tests/live_forkserver.py: `alphatrade live` forked from conftest's `forked`
from alphatrade.infra.alerting import LocalReceiver
from alphatrade.infra.repository import Database

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def sample(text: str, name: str) -> float | None:
    m = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_metrics_follow_the_ledger_and_the_kill_switch_alerts(tmp_path, forked):
    "`alphatrade live` in a process of its own, forked from conftest's `forked` server (imports paid once per pytest worker)."
    port, db_url = free_port(), f"sqlite:///{tmp_path}/ops.db"
    with LocalReceiver() as rx:
        env = {**os.environ, "ALPHATRADE_ALERTS__WEBHOOK_URL": rx.url, "ALPHATRADE_RISK__MAX_DAILY_LOSS_PCT": "0.002"}
        cmd = [sys.executable, "-m", "alphatrade.apps.cli", "live", "--mode", "sim", "--data", "sample", "--start", "2026-06-01",
               "--end", "2026-06-05", "--strategy", "momentum", "--run-id", "ops", "--db", db_url, "--health-port", str(port), "--quiet"]
        p = spawn(forked, cmd[3:], main="alphatrade.apps.cli", env=env, cwd=ROOT)
        scrapes = []
        try:
            while p.poll() is None:
                try: scrapes.append(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text)
                except requests.RequestException: pass
                time.sleep(0.2)
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None: p.kill()
        t0 = time.monotonic()
        while not rx.received and time.monotonic() - t0 < 10: time.sleep(0.1)
    assert p.returncode == 4, (p.returncode, err[-3000:])  # halted by the kill switch: exit 4
    steps = [sample(s, "alphatrade_steps_total") for s in scrapes if sample(s, "alphatrade_steps_total") is not None]
    assert len(steps) >= 2 and steps[-1] > steps[0], steps  # scraped while it traded, and the count moved
    last = scrapes[-1]
    db = Database(db_url); orders = orders_of(db, "ops"); db.dispose()
    assert 0 < sample(last, "alphatrade_orders_sent_total") <= len(orders), (sample(last, "alphatrade_orders_sent_total"), len(orders))
    assert sample(last, "alphatrade_fills_total") <= int((orders.filled_qty.astype(float) > 0).sum()) + 1e-9
    assert sample(last, "alphatrade_equity_dollars") > 0 and sample(last, "process_resident_memory_bytes") > 0
    assert any(sample(s, "alphatrade_kill_switch") == 1.0 for s in scrapes), "the kill switch gauge never showed the halt"
    alerts = [a for b in rx.received for a in b["alerts"]]
    assert [a["labels"]["alertname"] for a in alerts] == ["kill_switch_active"], alerts
    assert alerts[0]["labels"]["run_id"] == "ops" and "daily" in alerts[0]["annotations"]["summary"], alerts[0]


# --- the feature cache on Redis, and the metrics fed through observers -------------------------------------------------
import threading
import uuid

import numpy as np
from alphatrade.trading.strategy import Strategy
import pandas as pd

from alphatrade.adapters.alpaca.config import AlpacaEndpoints
from alphatrade.adapters.alpaca.execution import AlpacaBroker
from alphatrade.adapters.alpaca.sandbox.server import AlpacaSimulator
from alphatrade.alpha.factors import use_feature_cache
from alphatrade.apps.live_ops import run_in_thread, step_simulator
from alphatrade.core.types import Order
from alphatrade.data.panel import panel_from_bars
from alphatrade.data.synthetic import generate_market
from alphatrade.features.cache import CACHE_ENV, RedisCache
from alphatrade.live import LiveConfig, LiveDaemon
from alphatrade.trading.signals import MLStrategy, SignalGenerator, fit_ridge

REDIS = "redis://127.0.0.1:6379/11"  # this suite's own database number; each test also uses a key prefix of its own


def _val(d, name, **labels):
    return d.metrics.registry.get_sample_value(name, labels or None)


def test_warm_restart_reads_the_window_features_from_redis_and_metrics_move(tmp_path):
    """A daemon with an ML strategy decides three steps with its features cached in Redis and stops; a second process of the
    same run, started before the next bar, warms up on the same bars: its window's features are a cache hit, and its signal
    equals a computation without any cache. The same runs feed the model, feature, cache, stream and reconciliation metrics."""
    uni = {"AAA": "tech", "BBB": "tech", "CCC": "energy", "DDD": "energy"}
    panel = panel_from_bars(generate_market(seed=7, start="2025-03-03", end="2025-03-14", universe=uni))
    start = pd.Timestamp("2025-03-13 13:30", tz="UTC")
    model = fit_ridge(panel, start)[:2]
    strat = lambda: MLStrategy(SignalGenerator({"ridge": model}), long_short=True)
    cache = RedisCache(REDIS, ttl=600, prefix=f"alphatrade:test-ops:{uuid.uuid4().hex[:8]}:")
    try:
        with AlpacaSimulator(panel, start=start, check_buying_power=False, rate_limit=100_000).running() as sim:
            ep = AlpacaEndpoints.simulator(sim.url)
            db = Database(f"sqlite:///{tmp_path}/warm.db").migrate()

            def daemon(steps, **kw):
                s = strat(); assert use_feature_cache(s, cache) == 1
                cfg = LiveConfig(symbols=panel.symbols, run_id="warm", grace=0.5, history=200, window=120, max_steps=steps, health_port=None, **kw)
                return LiveDaemon(cfg, AlpacaBroker(ep, rate_limit=100_000), s, db)

            a = run_in_thread(daemon(3, drive=True))
            assert a.steps == 3 and (cache.hits, cache.misses) == (0, 1)  # primed at start (computed); the steps' incremental features need no cache
            assert _val(a, "alphatrade_feature_cache_requests_total", result="miss") == 1
            # the model ran 5 times: the cache check at warm-up (batch path), the incremental features' priming, and the three steps
            assert _val(a, "alphatrade_model_prediction_seconds_count") == 5 and _val(a, "alphatrade_feature_seconds_count") == 5
            assert _val(a, "alphatrade_model_predictions_total") == 5 * len(panel.symbols)
            assert _val(a, "alphatrade_feature_seconds_sum") > 0 and _val(a, "alphatrade_model_prediction_seconds_sum") > 0
            assert _val(a, "alphatrade_reconciliations_total", result="clean") == 1

            b = run_in_thread(daemon(1, drive=True))  # the restart: same run id, same database, the simulator where `a` left it
            # `a`'s steps used incremental features (nothing cached after its warm-up), so `b`'s warm-up window is computed once;
            # a start on a window already primed (a restart before the next bar) reads it from Redis
            assert (cache.hits, cache.misses) == (0, 2), (cache.hits, cache.misses)
            window, first = b.primed
            signal = Strategy.signal_step(b.engine.strategy, window)  # what a restart on `b`'s warm-up bars computes at warm-up
            assert cache.hits == 1, (cache.hits, cache.misses)
            assert _val(b, "alphatrade_feature_cache_requests_total", result="hit") == 1
            np.testing.assert_array_equal(signal, first)
            assert window.timestamps[-1] == a.last_step and len(window) == 120
            cold = strat(); use_feature_cache(cold, None)
            np.testing.assert_array_equal(signal, Strategy.signal_step(cold, window))  # the cached features give the cold batch computation's signal
            np.testing.assert_allclose(signal, cold.signal_step(window), atol=1e-8)  # and the live (incremental) path's
            assert np.isfinite(signal).any()

            # a position the run's ledger does not know (another client's order, filled at the next bar): the third process adopts it
            AlpacaBroker(ep, rate_limit=100_000).submit(Order("AAA", "buy", 1, client_order_id="someone-else-1"))
            step_simulator(ep)
            c = daemon(None, on_mismatch="adopt")
            th = threading.Thread(target=run_in_thread, args=(c, 60), daemon=True); th.start()
            t0 = time.monotonic()
            while c.status != "running" and time.monotonic() - t0 < 30: time.sleep(0.05)
            assert c.status == "running", c.status
            assert _val(c, "alphatrade_stream_connected", stream="data") == 1 and _val(c, "alphatrade_stream_connected", stream="trades") == 1
            sim.call(sim.drop_streams("data"))
            while not _val(c, "alphatrade_stream_reconnects_total", stream="data") and time.monotonic() - t0 < 30: time.sleep(0.05)
            c.stop_threadsafe("test over"); th.join(30)
            assert _val(c, "alphatrade_stream_reconnects_total", stream="data") == 1
            assert _val(c, "alphatrade_stream_reconnects_total", stream="trades") in (None, 0.0)
            assert _val(c, "alphatrade_position_mismatch") == 1 and _val(c, "alphatrade_reconciliations_total", result="adopted") == 1
            assert c.report["adopted"] == {"AAA": ("0", "1")}, c.report
            db.dispose()
    finally:
        cache.clear()


def _features_on_a_worker(url: str, seed: int) -> tuple:
    "What a sweep cell does on its worker (`apps.sweep.run_cell`), then what its kernel's pipeline does: (pid, hits, misses, values)."
    import os
    from alphatrade.data.panel import panel_from_bars
    from alphatrade.data.synthetic import generate_market
    from alphatrade.features.cache import CACHE_ENV
    from alphatrade.features.pipeline import FeaturePipeline
    os.environ[CACHE_ENV] = url  # `apps.sweep.share_feature_cache` (its module imports papermill: seconds per worker)
    p = panel_from_bars(generate_market(seed=seed, start="2025-03-03", end="2025-03-07"))
    pipe = FeaturePipeline(["rsi_14", "vol_26", "ret_4"])
    v = pipe.compute(p).values
    return os.getpid(), pipe.cache.hits, pipe.cache.misses, v


def _forget(url: str, p) -> None:
    "Delete the cached feature sets of panel `p` (any feature list) from the default prefix of `url`."
    from alphatrade.features.pipeline import panel_key
    rc = RedisCache(url)
    for k in rc.r.scan_iter(f"{rc.prefix}{panel_key(p)[:24]}-*"): rc.r.delete(k)


def test_dask_workers_share_computed_features_through_redis():
    """Two worker processes of the LocalCluster `alphatrade sweep --feature-cache` runs its cells on (`apps.sweep.local_cluster`:
    forked from a forkserver that imported dask once, not two spawned interpreters): the second reads the feature set the
    first computed, and both equal a computation without a cache."""
    import cloudpickle
    from dask.distributed import Client
    from alphatrade.apps.sweep import local_cluster
    from alphatrade.features.pipeline import FeaturePipeline
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers get the function, not an import of this module (and all it imports)
    p = panel_from_bars(generate_market(seed=123, start="2025-03-03", end="2025-03-07"))
    _forget(REDIS, p)
    try:
        with local_cluster(2) as cluster, Client(cluster) as client:
            w1, w2 = sorted(client.scheduler_info()["workers"])
            first = client.submit(_features_on_a_worker, REDIS, 123, workers=[w1], pure=False).result()
            second = client.submit(_features_on_a_worker, REDIS, 123, workers=[w2], pure=False).result()
        assert len({first[0], second[0], os.getpid()}) == 3  # three processes
        assert first[1:3] == (0, 1) and second[1:3] == (1, 0), (first[1:3], second[1:3])  # the second worker computed nothing
        cold = FeaturePipeline(["rsi_14", "vol_26", "ret_4"], cache=False).compute(p).values
        np.testing.assert_array_equal(first[3], cold); np.testing.assert_array_equal(second[3], cold)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        _forget(REDIS, p)
