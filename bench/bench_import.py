"""`alphatrade data import` at scale (issue 16): 1,000 synthetic symbols x 5 months of 15-minute bars (2.65M rows),
as 1,000 per-symbol CSV files, as one multi-symbol CSV, and as one multi-symbol parquet. Each run imports into an
empty store through the CLI's main() in this process (load, validate, write the store); rows/s is rows over that (wall)
time, rows_per_cpu_sec over the process's CPU time (what the machine's other users do not change).
The files are generated once (seeded) and cached in the temp folder."""
import tempfile, time
from pathlib import Path

import numpy as np
import pandas as pd
from harness import benchmark

N_SYMBOLS, START, END = 1000, "2025-01-02", "2025-05-30"


def _bars() -> pd.DataFrame:
    from alphatrade.data.calendar import session_bars
    ts = session_bars(START, END)
    rng = np.random.default_rng(16)
    n = len(ts)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.002, (N_SYMBOLS, n)), axis=1) + rng.normal(0, 0.5, (N_SYMBOLS, 1)))
    opn = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    wig = np.abs(rng.normal(0, 0.001, (2, N_SYMBOLS, n)))
    hi, lo = np.maximum(opn, close) * (1 + wig[0]), np.minimum(opn, close) * (1 - wig[1])
    vol = rng.integers(100, 50_000, (N_SYMBOLS, n)).astype(float)
    syms = np.array([f"S{i:04d}" for i in range(N_SYMBOLS)])
    return pd.DataFrame({"timestamp": np.tile(ts, N_SYMBOLS), "symbol": np.repeat(syms, n), "open": opn.ravel().round(4),
                         "high": hi.ravel().round(4), "low": lo.ravel().round(4), "close": close.ravel().round(4), "volume": vol.ravel(),
                         "vwap": ((hi + lo) / 2).ravel().round(4), "trade_count": (vol / 10).ravel().round()})


def _files(kind: str) -> tuple[Path, int]:
    "The cached input of `kind` (csv_files, csv_one, parquet) and its rows."
    d = Path(tempfile.gettempdir()) / "alphatrade-bench-import"
    done = d / f"{kind}.rows"
    if done.exists(): return d / kind, int(done.read_text())
    bars = _bars()
    out = d / kind; out.mkdir(parents=True, exist_ok=True)
    text = bars.assign(timestamp=bars.timestamp.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if kind == "csv_files":
        for sym, g in text.groupby("symbol", sort=False): g.drop(columns="symbol").to_csv(out / f"{sym}_15min_2025.csv", index=False)
    elif kind == "csv_one": text.to_csv(out / "ALL_15min_2025.csv", index=False)
    else: bars.to_parquet(out / "all.parquet", index=False)
    done.write_text(str(len(bars)))
    return out, len(bars)


def _import(timer, kind: str, *extra) -> dict:
    from alphatrade.apps.cli import main
    src, rows = _files(kind)
    store = Path(tempfile.mkdtemp()) / "store"
    cpu = time.process_time()
    with timer("import"):
        rc = main(["data", "import", str(src), "--store", str(store), "-q", *extra])
    cpu = time.process_time() - cpu  # this process's CPU time: the machine is shared, wall time also measures the neighbours
    assert rc == 0, rc
    n = sum(1 for _ in (store / "15Min").glob("*.parquet"))
    assert n == N_SYMBOLS, n
    return {"rows": rows, "symbols": n, "rows_per_sec": rows / timer.phases["import"], "cpu_s": cpu, "rows_per_cpu_sec": rows / cpu}


@benchmark("data.import_csv_files_1000x5m")
def import_csv_files(timer):
    return _import(timer, "csv_files")


@benchmark("data.import_csv_one_1000x5m")
def import_csv_one(timer):
    return _import(timer, "csv_one")


@benchmark("data.import_parquet_1000x5m")
def import_parquet(timer):
    return _import(timer, "parquet", "--pattern", "*.parquet")


@benchmark("data.validate_1000_symbols")
def validate_1000_symbols(timer):
    "validate_bars on one 1,000-symbol frame (2.65M rows); the calendar checks (gaps, hours, splits) timed on their own too."
    from alphatrade.data.preprocess import validate_bars
    import alphatrade.data.preprocess as pp
    bars = _bars()
    bars.index = pd.RangeIndex(2, len(bars) + 2, name="line"); bars.attrs["source"] = "bench.csv"
    validate_bars(bars.iloc[:100])  # the calendar is built once per process: not part of the measure
    calendar = pp._calendar_checks  # wrapped to time the calendar checks within the whole
    cpu = {}
    def timed(*a, **k):
        c0 = time.process_time()
        with timer("calendar_checks"): out = calendar(*a, **k)
        cpu["calendar"] = time.process_time() - c0
        return out
    pp._calendar_checks = timed
    t0, c0 = time.perf_counter(), time.process_time()
    rep = validate_bars(bars)
    total, cpu["total"] = time.perf_counter() - t0, time.process_time() - c0
    timer.phases["other_checks"] = total - timer.phases["calendar_checks"]
    assert rep.n_errors == 0, rep.summary()
    return {"rows": len(bars), "symbols": int(bars.symbol.nunique()), "rows_per_sec": len(bars) / total, "total_s": total,
            "calendar_cpu_s": cpu["calendar"], "total_cpu_s": cpu["total"]}
