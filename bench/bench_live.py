"""Live daemon latency (issue 7's target): from the arrival of the last bar of a step to its orders submitted, p50 and p99
over a replayed week of 47 synthetic symbols, with the ML strategy on a registered LightGBM model; the daemon drives the
Alpaca simulator through the real alpaca-py clients (REST sync + engine step + order submissions are all inside the latency)."""
from harness import benchmark


@benchmark("live.step_latency_ml_lgbm_47x1w")
def live_latency(timer):
    import logging, tempfile
    import numpy as np
    import pandas as pd
    from alphatrade.core.config import load_universe
    from alphatrade.data.panel import panel_from_bars
    from alphatrade.data.synthetic import generate_market
    from alphatrade.execution.alpaca import AlpacaBroker, AlpacaEndpoints
    from alphatrade.execution.simulator import AlpacaSimulator
    from alphatrade.infra.repository import Database
    from alphatrade.live import LiveConfig, LiveDaemon, make_strategy, run_in_thread
    from alphatrade.models.registry import ModelRegistry
    from alphatrade.models.training import DEFAULT_FEATURES, train_model
    logging.getLogger().setLevel(logging.WARNING)
    uni = load_universe()
    panel = panel_from_bars(generate_market(seed=1, start="2025-01-02", end="2025-06-06", planted_alpha=0.05), sectors=uni)
    start = pd.Timestamp("2025-06-02 13:30", tz="UTC")
    with tempfile.TemporaryDirectory() as d:
        with timer("train"):  # walk-forward LightGBM on the bars before the replayed week, registered
            train_model("lightgbm", panel.between(None, start), list(DEFAULT_FEATURES), label="fwd_ret_1", start=pd.Timestamp("2025-02-03", tz="UTC"),
                        end=start, n_folds=3, seed=1, registry=ModelRegistry(d), name="bench_lgbm", progress=False)
        strat = make_strategy("ml", model="bench_lgbm", models_root=d)
        with AlpacaSimulator(panel, start=start, check_buying_power=False, rate_limit=10**6).running() as sim:
            db = Database(f"sqlite:///{d}/live.db").migrate()
            broker = AlpacaBroker(AlpacaEndpoints.simulator(sim.url), rate_limit=10**6)
            dmn = LiveDaemon(LiveConfig(panel.symbols, drive=True, grace=0.5, history=600, health_port=None), broker, strat, db)
            with timer("replay"):
                run_in_thread(dmn, timeout=1800)
            db.dispose()
    lat = np.array(dmn.latencies) * 1e3
    return {"symbols": len(panel.symbols), "steps": dmn.steps, "orders": len(dmn.engine.om._orders), "fills": len(dmn.engine.fills),
            "latency_ms_p50": float(np.percentile(lat, 50)), "latency_ms_p99": float(np.percentile(lat, 99)),
            "latency_ms_max": float(lat.max()), "target_p99_ms": 50}
