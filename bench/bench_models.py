"""Model benchmarks: walk-forward LightGBM on 47 synthetic symbols x 1 year, 10 expanding folds (issue 6's target)."""
from harness import benchmark


@benchmark("models.walk_forward_lgbm_47x1y")
def walk_forward_lgbm(timer):
    import numpy as np
    from alphatrade.core.config import load_universe
    from alphatrade.data.synthetic import generate_market
    from alphatrade.data.panel import panel_from_bars
    from alphatrade.models.classical import make_model
    from alphatrade.models.splits import WalkForward
    from alphatrade.models.training import make_dataset, walk_forward, DEFAULT_FEATURES
    p = panel_from_bars(generate_market(seed=1, start="2025-01-02", end="2025-12-31", planted_alpha=0.05), sectors=load_universe())
    with timer("dataset"):  # features and label for every bar
        ds = make_dataset(p, DEFAULT_FEATURES, "fwd_ret_1", target="zscore")
    with timer("walk_forward"):  # 10 folds: fit (models.yaml's LightGBM, early stopping on the inner validation split) + predict
        r = walk_forward(lambda: make_model("lightgbm", seed=1), ds, WalkForward(n_folds=10, horizon=ds.horizon), refit=False)
    T, N, F = ds.X.shape
    rows = int((~np.isnan(ds.y)).sum())
    return {"symbols": N, "bars": T, "features": F, "rows": rows, "folds": 10, "oos_ic": r.summary["ic"],
            "mean_best_iteration": float(np.nanmean(r.folds["best_iteration"])) if "best_iteration" in r.folds else None,
            "rows_per_sec_walk_forward": rows * 10 / 11 / timer.phases["walk_forward"]}
