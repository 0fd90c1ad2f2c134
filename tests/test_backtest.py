"""The event-driven backtest as a user runs it.

- No-leakage evidence (backtest.null, nbs/82): on the synthetic market with nothing to find (planted_alpha=0), run
  without costs and without the kill switch's halts on 16 seeds x 11 months (14.7 years), every built-in strategy's
  and the ML strategy's mean drift-free Sharpe is not significantly away from its null mean 0 (two-sided t-test), and
  the test is big enough to mean something: its power against an edge of +1 Sharpe is >= 80% for each of them; a
  built-in with a planted +1 Sharpe peek is flagged, so the test can fail; and the engine refuses a peeking strategy
  outright unless its run-time look-ahead check is switched off.
- Every built-in and the ML strategy run on the 64 real stocks and on the synthetic market and write a tear sheet.
"""
import functools, json

import numpy as np
import pandas as pd
import pytest

from alphatrade.backtest.engine import run_backtest
from alphatrade.backtest.null import PEEK_SHARES, NullSpec, PeekMix, bootstrap_power, null_sharpes, null_test
from alphatrade.core.config import load_universe
from alphatrade.core.errors import LookAheadError
from alphatrade.data.panel import panel_from_bars
from alphatrade.data.synthetic import generate_market
from alphatrade.risk.limits import MonitorConfig
from alphatrade.trading.signals import MLStrategy, SignalGenerator, fit_ridge
from alphatrade.trading.strategy import MACrossover, MeanReversionStrategy, MomentumStrategy, Strategy

START, TRADE_FROM, END = "2025-01-02", "2025-01-23", "2025-03-31"  # three weeks of history (and ML training), then ~2 months
UNIVERSE = dict(list(load_universe().items())[:24])


class PeekNextBar(Strategy):
    "Long whenever the NEXT bar's close is above this bar's close: reads the future on purpose."
    name = "peek_next_bar"
    def signals(self, p):
        c = p.data["close"]; s = np.full(p.shape, np.nan)
        s[:-1] = (c[1:] > c[:-1]).astype(float)
        return s


def _ml(p, until):
    model, feats, _ = fit_ridge(p, until)
    return MLStrategy(SignalGenerator({"ridge": (model, feats)}, alphas=["reversal_1"]))


STRATEGIES = {"ma_crossover": lambda p: MACrossover(), "momentum": lambda p: MomentumStrategy("momentum_26_1"),
              "mean_reversion": lambda p: MeanReversionStrategy(), "ml": lambda p: _ml(p, TRADE_FROM)}


class SharedMarkets(NullSpec):
    """NullSpec's markets, each seed's generated once in this process: the five `null_sharpes` below (four strategies and the
    planted edge) run on the same 16 markets, which were generated 80 times (~0.2 s of CPU each, a fifth of the two fixtures)."""
    @functools.cache
    def market(self, seed: int): return super().market(seed)


NULL = SharedMarkets()  # 16 seeds x 11 months of 8 symbols: 14.7 years per strategy
NULL_STRATEGIES = {name: (lambda p, t, name=name: _ml(p, t) if name == "ml" else STRATEGIES[name](p)) for name in STRATEGIES}


@pytest.fixture(scope="module")
def null_runs():
    "Per seed, the engine's and the drift-free Sharpe of every built-in and the ML strategy, without costs, on NULL's markets."
    return {name: null_sharpes(make, NULL) for name, make in NULL_STRATEGIES.items()}


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_null_market_no_significant_sharpe(null_runs, name):
    df = null_runs[name]
    assert not df.kill_switch.any(), f"{name}: the kill switch fired in seeds {list(df.seed[df.kill_switch])}; the null test must measure the strategy"
    assert (df.fills > 0).all(), f"{name}: no fills in seeds {list(df.seed[df.fills == 0])}"
    r = null_test(df.drift_free, name)
    print(f"{r} (engine Sharpe: mean {df.sharpe.mean():+.2f}, sd {df.sharpe.std(ddof=1):.2f})")
    assert r.power_1 >= 0.8, f"{name}: the null test is too small to mean anything: power {r.power_1:.2f} against +1 Sharpe (sd {r.sd:.2f} over {r.n} seeds)"
    assert not r.flagged, f"{name}: mean drift-free Sharpe {r.mean:+.2f} is significantly away from 0 (t={r.t:+.2f}) on a market with nothing to find"


@pytest.fixture(scope="module")
def planted_plus_one():
    "Mean reversion with a +1 Sharpe peek (calibrated in nbs/82) on the same markets."
    share = PEEK_SHARES[1.0]
    return null_sharpes(NULL_STRATEGIES["mean_reversion"], NULL, plant=lambda s, seed: PeekMix(s, share, seed))


def test_null_test_flags_a_planted_plus_one_edge(null_runs, planted_plus_one):
    base, pl = null_runs["mean_reversion"], planted_plus_one
    lift = (pl.drift_free - base.drift_free).to_numpy()
    r = null_test(pl.drift_free, "mean_reversion+peek")
    print(f"{r}; lift over the built-in {lift.mean():+.2f} (se {lift.std(ddof=1) / np.sqrt(len(lift)):.2f}); "
          f"bootstrap power {bootstrap_power(pl.drift_free):.2f}")
    assert 0.6 < lift.mean() < 1.6, f"the planted edge is not about +1 Sharpe: {lift.mean():+.2f}"
    assert r.flagged and r.t > 0, f"a +1 Sharpe peek was not flagged: {r}"
    assert bootstrap_power(pl.drift_free) >= 0.8, "batches of these seeds flag the +1 edge less than 80% of the time"


def test_engine_refuses_the_peeking_strategy():
    p = panel_from_bars(generate_market(seed=0, start=START, end=END, universe=UNIVERSE), sectors=UNIVERSE)
    with pytest.raises(LookAheadError, match="reads the future"):
        run_backtest(p, PeekNextBar(), start=TRADE_FROM)


def _check_run(r, tmp_path, name):
    out = r.save(tmp_path / name)
    m = json.loads((out / "metrics.json").read_text())
    assert (out / "tearsheet.png").stat().st_size > 20_000, "tear sheet missing or empty"
    assert m["n_fills"] == len(pd.read_parquet(out / "fills.parquet")) > 0
    for k in ("sharpe", "annual_return", "max_drawdown", "annual_volatility"):
        assert np.isfinite(m[k]), f"{name}: {k} = {m[k]}"
    assert m["max_drawdown"] <= 0 and m["costs_paid"] > 0
    first_fill = pd.read_parquet(out / "fills.parquet").timestamp.min()
    assert first_fill >= pd.Timestamp(r.config["start"]), "a fill before the backtest's start"
    return m


@pytest.fixture(scope="module")
def real_panel(shared_data):
    from alphatrade.data.loader import read_bars_dir
    from alphatrade.data.preprocess import filter_regular_hours
    bars = pd.concat([filter_regular_hours(f) for f in read_bars_dir(shared_data / "us15m")], ignore_index=True)
    return panel_from_bars(bars, sectors=load_universe())


@pytest.fixture(scope="module")
def spy(shared_data):
    from alphatrade.data.loader import read_csv_bars
    f = read_csv_bars(next((shared_data / "etf15m").glob("SPY_15min_*.csv")))
    return pd.Series(f.close.to_numpy(), index=pd.DatetimeIndex(f.timestamp), name="SPY")


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_backtest_real_64(real_panel, spy, tmp_path, name):
    assert len(real_panel.symbols) == 64
    start = "2025-08-01"  # May-July: history for features and the ML model's training window
    strat = _ml(real_panel, start) if name == "ml" else STRATEGIES[name](real_panel)
    r = run_backtest(real_panel, strat, start=start, benchmark=spy, monitor=MonitorConfig(max_consecutive_losses=50))
    m = _check_run(r, tmp_path, name)
    assert np.isfinite(m["beta"]) and "information_ratio" in m
    print(f"real 64 {name}: {r}")


@pytest.fixture(scope="module")
def synthetic_panel():
    """The synthetic market of seed 42 (every symbol of config/symbols.yaml, January-June 2025), built once for the four strategies
    below, as `real_panel` is for the real stocks (~0.4 s of CPU each time): a run reads its panel and never writes it."""
    return panel_from_bars(generate_market(seed=42, start="2025-01-02", end="2025-06-30"), sectors=load_universe())


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_backtest_synthetic(synthetic_panel, tmp_path, name):
    p = synthetic_panel
    strat = _ml(p, "2025-02-03") if name == "ml" else STRATEGIES[name](p)
    r = run_backtest(p, strat, start="2025-02-03", monitor=MonitorConfig(max_consecutive_losses=50))
    _check_run(r, tmp_path, name)
    print(f"synthetic 47 {name}: {r}")
