"""Data-layer benchmarks: load + validate the 64 real files; generate one synthetic year of 47 symbols."""
from harness import benchmark


@benchmark("data.load_validate_real64")
def load_validate_real64(timer):
    from alphatrade.core.config import shared_data_dir
    from alphatrade.data.loader import read_csv_bars
    from alphatrade.data.preprocess import validate_bars
    d = shared_data_dir()
    if d is None: raise SystemExit("../shared/data not found: this benchmark reads the real bars")
    files = sorted((d / "us15m").glob("*_15min_*.csv"))
    with timer("load"):
        frames = [read_csv_bars(f) for f in files]
    with timer("validate"):
        reports = [validate_bars(df) for df in frames]
    rows = sum(len(f) for f in frames)
    errors = sum(len(r.errors) for r in reports)
    t = timer.phases["load"] + timer.phases["validate"]
    return {"files": len(files), "rows": rows, "errors": errors, "rows_per_sec": rows / t}


@benchmark("data.synth_year_47")
def synth_year_47(timer):
    from alphatrade.data.synthetic import generate_market
    with timer("generate"):
        bars = generate_market(seed=1, start="2025-01-02", end="2025-12-31")
    return {"symbols": int(bars.symbol.nunique()), "rows": len(bars), "rows_per_sec": len(bars) / timer.phases["generate"]}
