"""At 250 symbols, when a limit binds, the orders that pass are the strongest signals, never the alphabetically first."""
import numpy as np
import pandas as pd
import pytest

from alphatrade.backtest.engine import BacktestConfig, run_backtest
from alphatrade.core.config import RiskSettings
from alphatrade.data.panel import panel_from_bars
from alphatrade.data.synthetic import generate_market
from alphatrade.trading.strategy import Strategy

N = 250


class KnownRank(Strategy):
    "A constant strength per symbol, a shuffled ranking: the strongest names are spread over the alphabet."
    name = "known_rank"

    def __init__(self, strength, sizer=None):
        super().__init__(sizer)
        self.strength = np.asarray(strength, float)

    def signals(self, p):
        return np.broadcast_to(self.strength, p.shape).copy()


@pytest.fixture(scope="module")
def market():
    universe = {f"S{k:03d}": f"sector{k % 25}" for k in range(N)}
    p = panel_from_bars(generate_market(seed=7, start="2025-03-03", end="2025-03-06", universe=universe))
    strength = (np.random.default_rng(3).permutation(N) + 1) / N  # all > 0, all different
    return p, strength


def _bought(r):
    return set(r.orders.loc[r.orders.side == "buy", "symbol"])


def test_sizing_targets_the_strongest_n(market):
    p, strength = market
    strongest = {p.symbols[j] for j in np.argsort(-strength)[:20]}
    assert strongest != set(p.symbols[:20])  # the test can tell strength from the alphabet
    r = run_backtest(p, KnownRank(strength), start="2025-03-04", risk=RiskSettings(max_portfolio_positions=20),
                     config=BacktestConfig(verify_causal=0), benchmark=None)
    assert _bought(r) == strongest
    held = r.fills.groupby("symbol").qty.sum()
    assert set(held.index) == strongest
    assert r.metrics["refused_by_reason"].get("max_positions", 0) == 0  # the sizer knew the limit: nothing to refuse


def test_a_binding_limit_passes_the_strongest_first(market):
    p, strength = market
    # 250 names wanted at about $9,000 each (whatever the strength) with $100,000: buying power binds after 11 buys
    nine_k = lambda s, px, equity, cap: np.where(np.isnan(s), np.nan, np.floor(9_000 / px))
    r = run_backtest(p, KnownRank(strength, sizer=nine_k), start="2025-03-04",
                     risk=RiskSettings(max_portfolio_positions=N), config=BacktestConfig(verify_causal=0), benchmark=None)
    first = r.orders[r.orders.side == "buy"]
    first = first[pd.to_datetime(first.created_at) == pd.to_datetime(first.created_at).min()]
    k = len(first)
    assert 5 <= k < 20, k
    assert set(first.symbol) == {p.symbols[j] for j in np.argsort(-strength)[:k]}
    refused = r.metrics["refused_by_reason"]
    assert refused.get("buying_power", 0) >= N - k, refused
    assert r.warnings and r.warnings[0].startswith(f"{sum(refused.values())} orders refused: "), r.warnings
    assert "buying_power" in r.warnings[0]
