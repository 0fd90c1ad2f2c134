"""The vectorised research path (research.vectorized, on vectorbt) against the event-driven engine, on the moving-average
crossover over the 64 real stocks (the shipped sample, or ../shared/data), August 2025 to the end of the bars.

Parity: with the rules the vectorised path does not model moved out of the way on the engine's side (impact and the
participation cap: quantity-dependent; the position count, buying power, sector cap and kill switch: path-dependent),
both send the same orders (symbol, bar, side), the same number of round trips, and end within 0.5% (measured: 0.01%).
Each rule left on is a difference, tested below with its direction."""
import numpy as np
import pandas as pd
import pytest

from alphatrade.backtest.engine import BacktestConfig, run_backtest
from alphatrade.core.config import RiskSettings, load_universe
from alphatrade.data.panel import panel_from_bars
from alphatrade.data.preprocess import filter_regular_hours
from alphatrade.data.sample import real_bars
from alphatrade.research.vectorized import PARITY_CONFIG, PARITY_PRETRADE, PARITY_RISK, portfolio, prepare, run_vectorized
from alphatrade.trading.strategy import MACrossover

START = "2025-08-01"  # May-July: warm-up history


@pytest.fixture(scope="module")
def panel():
    p = panel_from_bars(filter_regular_hours(real_bars()), sectors=load_universe())
    assert len(p.symbols) == 64
    return p


@pytest.fixture(scope="module")
def both(panel):
    st = MACrossover()
    ev = run_backtest(panel, st, start=START, config=PARITY_CONFIG, risk=PARITY_RISK, pretrade=PARITY_PRETRADE, benchmark=None)
    prep = prepare(panel, START)
    pf = portfolio(prep, [st], PARITY_CONFIG, PARITY_RISK)
    vr = run_vectorized(panel, st, start=START, config=PARITY_CONFIG, risk=PARITY_RISK, prep=prep)
    return ev, pf, vr


def test_same_trades_and_final_equity(both):
    ev, _, vr = both
    s = vr.stats.iloc[0]
    assert len(ev.fills) > 1000, "too few trades to compare"
    assert not len(ev.refusals) and not ev.kill_switch["events"], "the engine refused orders: the comparison is not like for like"
    assert s.orders == len(ev.fills)
    assert s.trades == ev.metrics["n_trades"]
    assert abs(s.final_equity / ev.equity.iloc[-1] - 1) < 0.005
    assert vr.equity.index.equals(ev.equity.index)
    assert (vr.equity.iloc[:, 0] / ev.equity - 1).abs().max() < 0.005  # the whole curve, not just its end


def test_same_orders_one_by_one(both, panel):
    ev, pf, _ = both
    vo = pf.orders.records_readable
    vo = pd.DataFrame({"bar": pd.DatetimeIndex(vo["Timestamp"]), "symbol": vo["Column"].map(lambda c: c[1]),
                       "side": vo["Side"].str.lower(), "qty": vo["Size"], "price": vo["Price"]})
    ef = ev.fills.assign(bar=ev.fills.timestamp - pd.Timedelta("15min"))  # a fill's time is its bar's end
    m = vo.merge(ef, on=["bar", "symbol", "side"], how="outer", indicator=True, suffixes=("_v", "_e"))
    assert (m._merge == "both").all(), m[m._merge != "both"].head()
    # whole shares from the same equity and close: off by one share only where trunc meets float rounding
    assert (m.qty_v - m.qty_e).abs().max() <= 1 and ((m.qty_v != m.qty_e).mean() < 0.02)
    # the SimBroker's price: off by one cent only where half-up rounding meets float rounding
    assert (m.price_v - m.price_e).abs().max() <= 0.0100001 and ((m.price_v - m.price_e).abs() > 1e-9).mean() < 0.02


def test_risk_rules_are_the_difference(panel, both):
    "With the default risk limits the engine refuses orders the vectorised path sends (buying power, sectors, positions) and halts on drawdown: fewer trades."
    ev0, _, vr = both
    ev = run_backtest(panel, MACrossover(), start=START, config=PARITY_CONFIG, benchmark=None)
    assert len(ev.refusals) > 0 and len(ev.fills) < len(ev0.fills)
    names = " ".join(run_vectorized(panel, MACrossover(), start=START, config=PARITY_CONFIG).unmodelled)
    for rule in ("position count", "kill switch", "buying power"): assert rule in names


def test_impact_and_participation_are_the_difference(panel, both):
    "The engine's quantity-dependent costs, on: the same decisions, filled at worse prices (and, participation, sometimes in parts)."
    ev0, _, vr = both
    cfg = BacktestConfig(verify_causal=0)  # impact 0.1, participation 10%
    ev = run_backtest(panel, MACrossover(), start=START, config=cfg, risk=PARITY_RISK, pretrade=PARITY_PRETRADE, benchmark=None)
    assert len(ev.fills) >= len(ev0.fills)  # a partial fill is two fills of one order
    assert len(ev.orders) == len(ev0.orders)
    assert ev.equity.iloc[-1] < ev0.equity.iloc[-1]  # impact only ever costs
    assert ev.metrics["slippage"] > ev0.metrics["slippage"]
