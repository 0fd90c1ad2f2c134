"""Feature benchmarks: every registered feature on 47 synthetic symbols x 1 year and on the 64 real stocks."""
from harness import benchmark


def _run(timer, p):
    from alphatrade.features.pipeline import FeaturePipeline
    import resource
    pipe = FeaturePipeline()
    def cpu(): r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
    c0 = cpu()
    with timer("features"):
        fs = pipe.compute(p)
    cpu_s = cpu() - c0  # on a busy machine wall time waits for other processes; CPU time (user + system) does not
    T, N = p.shape
    sb = int((~__import__("numpy").isnan(p.data["close"])).sum())
    return {"features": len(pipe.names), "bars": T, "symbols": N, "symbol_bars": sb,
            "symbol_bars_per_sec": sb / timer.phases["features"], "cpu_s": cpu_s, "symbol_bars_per_cpu_sec": sb / cpu_s}


@benchmark("features.synth_47x1y")
def synth(timer):
    from alphatrade.core.config import load_universe
    from alphatrade.data.synthetic import generate_market
    from alphatrade.data.panel import panel_from_bars
    p = panel_from_bars(generate_market(seed=1, start="2025-01-02", end="2025-12-31"), sectors=load_universe())
    return _run(timer, p)


@benchmark("features.real_64")
def real(timer):
    import pandas as pd
    from alphatrade.core.config import load_universe, shared_data_dir
    from alphatrade.data.loader import read_bars_dir
    from alphatrade.data.preprocess import filter_regular_hours
    from alphatrade.data.panel import panel_from_bars
    d = shared_data_dir()
    if d is None: raise SystemExit("../shared/data not found: this benchmark reads the real bars")
    p = panel_from_bars(pd.concat([filter_regular_hours(f) for f in read_bars_dir(d / "us15m")]), sectors=load_universe())
    return _run(timer, p)
