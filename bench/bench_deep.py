"""Sequence models (LSTM, Transformer, TCN), the PPO and A2C policies (models.policy) and CatBoost on 47 synthetic symbols: training time per epoch and inference
latency per step (one bar: a forecast for each of the 47 symbols).

The data: three months of 15-minute bars of the default 47-symbol universe, `DEFAULT_FEATURES` (23), and for the
sequence models a window of 16 bars of them (368 columns); the models' default sizes (models.sequence) on the CPU
with their default of 1 thread (`THREADS` to change it). Training runs `EPOCHS` epochs without validation, so every
epoch sees every row; the figure is the mean seconds per epoch. CatBoost has no epochs: its figure is the whole fit
of models.yaml's 300 trees, and per 100 trees. PPO and A2C learn from one-step episodes drawn from the rows; their
"epoch" is as many environment steps as there are rows (each row seen once on average), on the 23 features of the
current bar. No GPU is available on the machine these were measured on: every figure is the CPU's. Latency is the median over `STEPS` calls of `score` on one bar's 47
rows (the model alone: the features of the step are computed by the pipeline before it).
"""
import os
from harness import benchmark

EPOCHS, STEPS, WINDOW = 2, 50, 16
THREADS = int(os.environ.get("BENCH_TORCH_THREADS", "1"))


def _data(window):
    import numpy as np
    from alphatrade.core.config import load_universe
    from alphatrade.data.synthetic import generate_market
    from alphatrade.data.panel import panel_from_bars
    from alphatrade.models.training import make_dataset, DEFAULT_FEATURES
    from alphatrade.models.sequence_data import window_features
    p = panel_from_bars(generate_market(seed=1, start="2025-01-02", end="2025-03-31", planted_alpha=0.05), sectors=load_universe())
    cols = window_features(DEFAULT_FEATURES, window) if window > 1 else list(DEFAULT_FEATURES)
    ds = make_dataset(p, cols, "fwd_ret_1", target="zscore")
    X, y, *_ = ds.rows(np.arange(len(ds)))
    return X, y, ds


def _latency(model, ds, timer):
    import time
    import numpy as np
    N = len(ds.symbols)
    bars = [ds.X[-1 - i] for i in range(STEPS)]  # one bar's 47 rows per step
    model.score(bars[0])  # warm up
    lat = []
    with timer("inference"):
        for b in bars:
            t0 = time.perf_counter(); model.score(b); lat.append(time.perf_counter() - t0)
    return {"symbols": N, "latency_ms_per_step_median": 1e3 * float(np.median(lat)), "latency_ms_per_step_p90": 1e3 * float(np.quantile(lat, 0.9))}


def _sequence(family, timer):
    import torch
    from alphatrade.models.classical import make_model
    X, y, ds = _data(WINDOW)
    m = make_model(family, seed=1, epochs=EPOCHS, threads=THREADS, device="cpu")
    with timer("fit"):
        m.fit(X, y, feature_names=list(ds.feature_names))
    per_epoch = [r["seconds"] for r in m.history_]
    n_params = sum(p.numel() for p in m.net_.parameters())
    return {"rows": len(X), "window": WINDOW, "features_per_bar": len(ds.feature_names) // WINDOW, "epochs": len(per_epoch),
            "seconds_per_epoch": sum(per_epoch) / len(per_epoch), "rows_per_sec_train": len(X) / (sum(per_epoch) / len(per_epoch)),
            "parameters": n_params, "torch_threads": THREADS, "device": "cpu", "torch": torch.__version__, **_latency(m, ds, timer)}


@benchmark("deep.lstm_47")
def lstm(timer): return _sequence("lstm", timer)


@benchmark("deep.transformer_47")
def transformer(timer): return _sequence("transformer", timer)


@benchmark("deep.tcn_47")
def tcn(timer): return _sequence("tcn", timer)


@benchmark("deep.catboost_47")
def catboost(timer):
    from alphatrade.models.classical import make_model
    X, y, ds = _data(1)
    m = make_model("catboost", seed=1)
    with timer("fit"):
        m.fit(X, y, feature_names=list(ds.feature_names))
    trees = m.est_.tree_count_
    return {"rows": len(X), "features": X.shape[1], "trees": trees, "seconds_fit": timer.phases["fit"],
            "seconds_per_100_trees": 100 * timer.phases["fit"] / trees, "thread_count": m.params["thread_count"], **_latency(m, ds, timer)}


def _policy(family, timer):
    from alphatrade.models.classical import make_model
    X, y, ds = _data(1)
    m = make_model(family, seed=1, steps=len(X), eval_every=len(X), threads=THREADS)  # one epoch: as many steps as rows
    with timer("fit"):
        m.fit(X, y, feature_names=list(ds.feature_names))
    n_params = sum(p.numel() for p in m.policy_.parameters())
    return {"rows": len(X), "features": X.shape[1], "env_steps": len(X), "seconds_per_epoch": timer.phases["fit"],
            "env_steps_per_sec": len(X) / timer.phases["fit"], "parameters": n_params, "torch_threads": THREADS, "device": "cpu",
            **_latency(m, ds, timer)}


@benchmark("deep.ppo_47")
def ppo(timer): return _policy("ppo", timer)


@benchmark("deep.a2c_47")
def a2c(timer): return _policy("a2c", timer)
