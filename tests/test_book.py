"""The backtest's book in exact arrays (backtest.book) gives the object path's results exactly.

On the 64 real stocks, for the crossover, momentum, mean reversion and ML strategies with the default risk settings
(refusals by buying power and the sector limit, and the kill switch firing, happen there), the array path
(`BacktestConfig(book="array")`, the default) and the object path (`book="object"`: Order/Fill/Decimal through the
SimBroker) produce the same fills one by one (symbol, time, side, qty, price, commission), the same orders with their
statuses, the same refusals with their reasons, the same equity at every bar and the same final cash to the cent.
With `refusals="runs"` (the default) the refusals are the object path's with each run of consecutive bars refused for
the same rule collapsed into its first row, its `bars` the run's length.
"""
import numpy as np
import pandas as pd
import pytest

from alphatrade.backtest.engine import BacktestConfig, run_backtest
from alphatrade.core.config import load_universe
from alphatrade.data.calendar import session_of
from alphatrade.data.panel import panel_from_bars
from alphatrade.risk.limits import MonitorConfig
from alphatrade.trading.signals import MLStrategy, SignalGenerator, fit_ridge
from alphatrade.trading.strategy import MACrossover, MeanReversionStrategy, MomentumStrategy

KIND = {"insufficient buying power": "buying_power", "position would be": "position_limit", "open orders": "max_open_orders",
        "positions already": "max_positions"}


@pytest.fixture(scope="module")
def real_panel(shared_data):
    from alphatrade.data.loader import read_bars_dir
    from alphatrade.data.preprocess import filter_regular_hours
    bars = pd.concat([filter_regular_hours(f) for f in read_bars_dir(shared_data / "us15m")], ignore_index=True)
    return panel_from_bars(bars, sectors=load_universe())


def _ml(p, until):
    model, feats, _ = fit_ridge(p, until)
    return MLStrategy(SignalGenerator({"ridge": (model, feats)}, alphas=["reversal_1"]))


STRATEGIES = {"ma_crossover": lambda p: MACrossover(), "momentum": lambda p: MomentumStrategy("momentum_26_1"),
              "mean_reversion": lambda p: MeanReversionStrategy(), "ml": lambda p: _ml(p, "2025-08-01")}


def _run(p, make, book, refusals="every", **kw):
    cfg = BacktestConfig(book=book, refusals=refusals, verify_causal=0, kill_switch=kw.pop("ks", "halt"))
    return run_backtest(p, make(p), config=cfg, benchmark=None, monitor=MonitorConfig(max_consecutive_losses=50), **kw)


def _same(a, b):
    for k in ("fills", "orders", "refusals"):
        pd.testing.assert_frame_equal(getattr(a, k), getattr(b, k), obj=k)  # floats of exact Decimals: compared exactly, dtypes too
    pd.testing.assert_series_equal(a.equity, b.equity, check_exact=True)
    pd.testing.assert_series_equal(a.exposure, b.exposure, check_exact=True)
    assert a.metrics["refused_by_reason"] == b.metrics["refused_by_reason"]
    assert a.kill_switch["at"] == b.kill_switch["at"] and a.kill_switch["reason"] == b.kill_switch["reason"]


def _cash(r):
    "The final cash from the fills, in cents: the start less what each fill cost."
    f = r.fills
    sign = np.where(f.side == "buy", 1, -1)
    return round(r.config["cash"] * 100) - int((sign * np.round(f.qty * f.price * 100).astype("int64") + np.round(f.commission * 100).astype("int64")).sum())


def test_crossover_year_identical_and_kill_switch(real_panel):
    "A year of the crossover: hundreds of fills, buying-power and sector refusals, the kill switch fires and flattens."
    a, b = (_run(real_panel, STRATEGIES["ma_crossover"], book, start="2025-08-01") for book in ("object", "array"))
    assert len(a.fills) > 1000 and a.metrics["refused_by_reason"].get("buying_power", 0) > 100 and a.kill_switch["active"]
    assert (b.orders.tag == "kill_switch").any()  # the flattening orders after the halt
    _same(a, b)
    assert _cash(a) == _cash(b)
    assert float(b.equity.iloc[-1]) == float(a.equity.iloc[-1])


@pytest.mark.parametrize("name", ["momentum", "mean_reversion", "ml"])
def test_strategies_identical(real_panel, name):
    "Two months of each strategy (the ML model trained on the months before)."
    a, b = (_run(real_panel, STRATEGIES[name], book, start="2025-08-01", end="2025-10-01") for book in ("object", "array"))
    assert len(a.fills) > 50, len(a.fills)
    _same(a, b)


def test_report_mode_and_partial_fills(real_panel):
    "kill_switch='report' keeps trading past the halts; a 0.03% participation cap splits orders into partial fills that expire at the close."
    from dataclasses import replace
    runs = []
    for book in ("object", "array"):
        cfg = BacktestConfig(book=book, refusals="every", verify_causal=0, kill_switch="report", participation=0.0003)
        runs.append(run_backtest(real_panel, MACrossover(), start="2025-08-01", end="2025-11-01", config=cfg, benchmark=None))
    a, b = runs
    assert a.fills.client_order_id.duplicated().any() and (a.orders.status == "expired").any()
    _same(a, b)
    assert a.kill_switch["events"] == b.kill_switch["events"]


def _collapse(r, sessions):
    "The object path's refusals with each run (same symbol, same rule, consecutive decision bars of one session) as its first row."
    f = r.refusals.copy()
    f["kind"] = [next((v for k, v in KIND.items() if k in s), s.split(" exposure")[0] if " exposure would be" in s else s) for s in f.reason]
    f["i"] = sessions.index.get_indexer(pd.DatetimeIndex(f.time) - pd.Timedelta("15min"))
    rows = []
    last = {}
    for t, s, why, kind, i in zip(f.time, f.symbol, f.reason, f.kind, f.i):
        k = last.get(s)
        if k is not None and k[0] == i - 1 and k[1] == kind and sessions.iloc[i] == sessions.iloc[i - 1]:
            rows[k[2]][3] += 1; last[s] = (i, kind, k[2]); continue
        last[s] = (i, kind, len(rows)); rows.append([t, s, why, 1])
    return pd.DataFrame(rows, columns=["time", "symbol", "reason", "bars"])


def test_refusal_runs_recorded_once(real_panel):
    "refusals='runs' records each run once with its length: the same fills and orders, fewer rows, the same refused decisions."
    every = _run(real_panel, STRATEGIES["ma_crossover"], "array", "every", start="2025-08-01", end="2025-11-01")
    runs = _run(real_panel, STRATEGIES["ma_crossover"], "array", "runs", start="2025-08-01", end="2025-11-01")
    pd.testing.assert_frame_equal(every.fills, runs.fills); pd.testing.assert_frame_equal(every.orders, runs.orders)
    sessions = pd.Series(session_of(real_panel.timestamps).to_numpy(), index=real_panel.timestamps)
    want = _collapse(every, sessions)
    assert len(want) < len(every.refusals) / 2, (len(want), len(every.refusals))  # runs are long here: the test can tell
    pd.testing.assert_frame_equal(runs.refusals, want, check_dtype=False)
    assert runs.metrics["refused_orders"] == every.metrics["refused_orders"] == len(every.refusals)
    assert sum(runs.metrics["refused_by_reason"].values()) == len(runs.refusals) == runs.metrics["refusals"]


def test_object_path_kept_where_arrays_do_not_apply(real_panel):
    "The intrabar fill model runs the object path (each refusal its own row); the default runs the array path."
    r = _run(real_panel, STRATEGIES["ma_crossover"], "array", "runs", start="2025-08-01", end="2025-09-01", fill_model="intrabar")
    assert (r.refusals.bars == 1).all() and len(r.fills) > 0


@pytest.mark.parametrize("positions", [64, 5])
def test_fixed_notional_identical(real_panel, positions):
    """FixedNotional sizes each name from its own strength and price (the array path precomputes its targets for all bars): the same results;
    with 5 positions for 64 names the strongest-names rule trims every bar (the per-bar sizing); buying-power and sector refusals."""
    from alphatrade.core.config import RiskSettings
    from alphatrade.trading.strategy import FixedNotional
    make = lambda p: MACrossover(sizer=FixedNotional(notional=8_000.0))
    risk = RiskSettings(max_portfolio_positions=positions)
    a, b = (_run(real_panel, make, book, start="2025-08-01", end="2025-10-01", risk=risk) for book in ("object", "array"))
    assert len(a.fills) > 200, len(a.fills)
    _same(a, b)
    assert _cash(a) == _cash(b)
