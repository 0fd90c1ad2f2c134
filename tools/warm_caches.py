"""Build the caches a fresh venv does not have yet, once, at `make setup` (as pip compiles the bytecode at install).

- numba's compiled vectorbt functions (`research.vectorized`): vectorbt caches them beside its sources
  (site-packages/vectorbt/**/__pycache__/*.nbi|nbc); a fresh venv compiles them in every process that runs a vectorised
  backtest until one has written them (measured: tests/test_vectorized_parity.py 17.3 CPU-s cold, 9.6 warm).
- matplotlib's font list (~/.cache/matplotlib), built by the first process that draws.

A small vectorised run on the shipped sample compiles the same signatures the research path uses (numba keys its cache
on argument types, not sizes). Nothing here is needed for correctness: a failure is printed and setup goes on."""
import sys
import time


def main() -> int:
    t = time.perf_counter()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.font_manager  # noqa: F401  (builds the font list cache)

        from alphatrade.core.config import load_universe
        from alphatrade.data.panel import panel_from_bars
        from alphatrade.data.preprocess import filter_regular_hours
        from alphatrade.data.sample import real_bars
        from alphatrade.research.vectorized import PARITY_CONFIG, PARITY_RISK, portfolio, prepare, run_vectorized
        from alphatrade.trading.strategy import MACrossover

        bars = real_bars()
        syms = sorted(bars.symbol.unique())[:4]
        bars = bars[bars.symbol.isin(syms) & (bars.timestamp >= "2025-07-01") & (bars.timestamp < "2025-08-15")]
        panel = panel_from_bars(filter_regular_hours(bars), sectors=load_universe()).select(syms)
        st = MACrossover()
        prep = prepare(panel, "2025-08-01")
        pf = portfolio(prep, [st], PARITY_CONFIG, PARITY_RISK)
        pf.orders.records_readable  # noqa: B018
        run_vectorized(panel, [st, MACrossover(5, 20)], start="2025-08-01", config=PARITY_CONFIG, risk=PARITY_RISK, prep=prep)
    except Exception as e:  # a cache left cold costs time, not correctness
        print(f"warm_caches: skipped ({type(e).__name__}: {e})", file=sys.stderr)
        return 0
    print(f"warm_caches: numba (vectorbt) and matplotlib caches built in {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
