"""The event-driven backtest as a user runs it.

- No-leakage evidence: on the synthetic market with nothing to find (planted_alpha=0), every built-in strategy's
  Sharpe after costs, over 20 seeds, has a mean that is not significantly above zero; a strategy that peeks one bar
  ahead (written here) is clearly positive, so the test can fail; and the engine refuses the peeking strategy
  outright unless its run-time look-ahead check is switched off.
- Every built-in and the ML strategy run on the 64 real stocks and on the synthetic market and write a tear sheet.
"""
import json

import numpy as np
import pandas as pd
import pytest

from alphatrade.backtest.engine import BacktestConfig, run_backtest
from alphatrade.core.config import load_universe
from alphatrade.core.errors import LookAheadError
from alphatrade.data.panel import panel_from_bars
from alphatrade.data.synthetic import generate_market
from alphatrade.risk.limits import MonitorConfig
from alphatrade.trading.signals import MLStrategy, SignalGenerator, fit_ridge
from alphatrade.trading.strategy import MACrossover, MeanReversionStrategy, MomentumStrategy, Strategy

SEEDS = range(20)
START, TRADE_FROM, END = "2025-01-02", "2025-01-23", "2025-03-31"  # three weeks of history (and ML training), then ~2 months
UNIVERSE = dict(list(load_universe().items())[:24])
NO_STREAK = MonitorConfig(max_consecutive_losses=10**6)  # the null test measures the strategy, not the halt


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


@pytest.fixture(scope="module")
def null_sharpes():
    "Sharpe after costs of every built-in (and the peeking strategy) on 20 seeds of a market with nothing to find."
    out = {k: [] for k in [*STRATEGIES, "peek_next_bar"]}
    for seed in SEEDS:
        p = panel_from_bars(generate_market(seed=seed, start=START, end=END, universe=UNIVERSE, planted_alpha=0.0), sectors=UNIVERSE)
        for name, make in STRATEGIES.items():
            r = run_backtest(p, make(p), start=TRADE_FROM, monitor=NO_STREAK, benchmark=None)
            out[name].append(r.metrics["sharpe"])
        r = run_backtest(p, PeekNextBar(), start=TRADE_FROM, monitor=NO_STREAK, benchmark=None, config=BacktestConfig(verify_causal=0))
        out["peek_next_bar"].append(r.metrics["sharpe"])
    return {k: np.array(v) for k, v in out.items()}


def _t(x):
    return x.mean() / (x.std(ddof=1) / np.sqrt(len(x)))


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_null_market_no_significant_sharpe(null_sharpes, name):
    s = null_sharpes[name]
    assert np.isfinite(s).all(), f"{name}: non-finite Sharpe {s}"
    t = _t(s)
    print(f"{name}: mean Sharpe {s.mean():.2f} (sd {s.std(ddof=1):.2f}, t {t:.2f}) over {len(s)} seeds")
    assert t < 2.0, f"{name}: mean Sharpe {s.mean():.2f} is significantly above zero (t={t:.2f}) on a market with nothing to find"


def test_peeking_strategy_is_clearly_positive(null_sharpes):
    s = null_sharpes["peek_next_bar"]
    print(f"peek_next_bar: mean Sharpe {s.mean():.1f}, t {_t(s):.1f}")
    assert s.mean() > 5 and _t(s) > 10, f"a one-bar peek should be hugely profitable: {s}"
    assert s.mean() > 5 * max(abs(null_sharpes[k].mean()) for k in STRATEGIES)


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


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_backtest_synthetic(tmp_path, name):
    p = panel_from_bars(generate_market(seed=42, start="2025-01-02", end="2025-06-30"), sectors=load_universe())
    strat = _ml(p, "2025-02-03") if name == "ml" else STRATEGIES[name](p)
    r = run_backtest(p, strat, start="2025-02-03", monitor=MonitorConfig(max_consecutive_losses=50))
    _check_run(r, tmp_path, name)
    print(f"synthetic 47 {name}: {r}")
