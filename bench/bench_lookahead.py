"""The look-ahead check `TradingEngine.bind` runs (features.leakage.check_causal, 64 cuts where the strategy acts) on a
year of the 64 real stocks: its cost next to one `signals` call, for every built-in strategy and the ridge ML strategy."""
from harness import benchmark


@benchmark("lookahead.real_64x1y")
def real(timer):
    import numpy as np
    import pandas as pd
    from alphatrade.core.config import load_universe, shared_data_dir
    from alphatrade.data.loader import read_bars_dir
    from alphatrade.data.preprocess import filter_regular_hours
    from alphatrade.data.panel import panel_from_bars
    from alphatrade.features.leakage import check_causal
    from alphatrade.trading.signals import MLStrategy, SignalGenerator, fit_ridge
    from alphatrade.trading.strategy import BUILTINS, builtin_strategy
    d = shared_data_dir()
    if d is None: raise SystemExit("../shared/data not found: this benchmark reads the real bars")
    p = panel_from_bars(pd.concat([filter_regular_hours(f) for f in read_bars_dir(d / "us15m")]), sectors=load_universe())
    p = p.between("2025-06-20", "2026-06-20")  # a year
    strategies = {n: builtin_strategy(n) for n in BUILTINS}
    model, feats, _ = fit_ridge(p, "2025-08-01")
    strategies["ml"] = MLStrategy(SignalGenerator({"ridge": (model, feats)}, alphas=["reversal_1"]))
    out = {"bars": len(p), "symbols": len(p.symbols), "cuts": 64}
    for name, s in strategies.items():
        with timer(f"signals.{name}"): S = np.asarray(s.signals(p), dtype="float64")
        with timer(f"check.{name}"):
            r = check_causal(s.signals, p, 64, seed=0, full=S, window=max(2 * s.lookback, 260), name=name)
        assert r.leak is None, (name, r.leak)
        out |= {f"{name}_act_rows": r.act_rows, f"{name}_rows_recomputed": r.rows_recomputed,
                f"{name}_check_over_signals": timer.phases[f"check.{name}"] / timer.phases[f"signals.{name}"]}
    return out
