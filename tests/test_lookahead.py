"""The look-ahead check that `TradingEngine.bind` runs (features.leakage.check_causal: prefix invariance at the rows
where a strategy acts, a fresh recorded seed per run):

- planted peeks of several kinds and sizes are caught by `run_backtest` (LookAheadError) on every one of 20 seeds of
  the check: the next bar's return at 10% (and at 2%) of momentum's ranking, the next 4 bars' return, a peek only at
  the session's first bar of a strategy that acts at every bar, a peek on 10% of the days only, a full-sample
  normalisation; `find_strategy_leaks` finds them too;
- no false alarm: every built-in strategy, the ML strategy and every registered alpha used as a strategy pass the
  check on two months of the 64 real stocks, and the honest twins of the planted peeks pass on the synthetic market;
- the check's seed is fresh per run, fixed by `causal_seed`, and recorded in the result's config and in a
  papermill run's provenance.json.
"""
import json, warnings

import numpy as np
import pandas as pd
import pytest

from alphatrade.alpha.factors import ALPHAS
from alphatrade.backtest.engine import BacktestConfig, run_backtest
from alphatrade.core.config import load_universe
from alphatrade.core.errors import LookAheadError
from alphatrade.data.panel import panel_from_bars
from alphatrade.data.synthetic import generate_market
from alphatrade.execution.broker import SimBroker
from alphatrade.features.base import compact
from alphatrade.features.cross_sectional import cs_rank
from alphatrade.features.leakage import find_strategy_leaks
from alphatrade.trading.engine import EngineConfig, TradingEngine
from alphatrade.trading.signals import MLStrategy, SignalGenerator, fit_ridge
from alphatrade.trading.strategy import (BUILTINS, MeanReversionStrategy, MomentumStrategy, Strategy, _ffill, _first_bar_of_session,
                                         builtin_strategy)

SEEDS = range(20)  # seeds of the look-ahead check (causal_seed)
START, TRADE_FROM, END = "2025-01-02", "2025-02-03", "2025-03-31"
UNIVERSE = dict(list(load_universe().items())[:24])


def _z(x):
    "Cross-sectional z-score of each row (NaN for a row without values or spread)."
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row (before the first bar of a symbol)
        return (x - np.nanmean(x, axis=1, keepdims=True)) / np.nanstd(x, axis=1, keepdims=True)


def _ahead(p, k=1):
    "The return over the NEXT k bars (NaN where they do not exist): the future."
    c = p.data["close"]; r = np.full(c.shape, np.nan); r[:-k] = c[k:] / c[:-k] - 1
    return r


class MomentumPeek(MomentumStrategy):
    "The built-in momentum, ranked on its alpha's z-score + `weight` x the z-score of the next `k` bars' return (on `days` of the sessions)."
    def __init__(self, weight=0.1, k=1, days=1.0, **kw):
        super().__init__(**kw); self.weight, self.k, self.days = weight, k, days
        self.name = f"momentum_peek_{weight}_{k}_{days}"
    def signals(self, p):
        peek = np.nan_to_num(_z(_ahead(p, self.k))) if self.weight else np.zeros(p.shape)
        if self.days < 1:  # only on the sessions whose date hashes below `days`
            day = p.timestamps.tz_convert("America/New_York").normalize().asi8 // 86_400_000_000_000
            peek[(day * 2654435761 % 1000) / 1000 >= self.days] = 0
        r = cs_rank(_z(ALPHAS[self.alpha].compute_panel(p)) + self.weight * peek) + 0.5  # then exactly as the built-in
        s = np.where(r >= 1 - self.quantile, 1.0, np.where((r <= self.quantile) & self.long_short, -1.0, 0.0))
        s[np.isnan(r)] = np.nan
        s[~_first_bar_of_session(p)] = np.nan
        return s


class MeanReversionOpenPeek(MeanReversionStrategy):
    "Mean reversion (acts at any bar) whose score at each session's first bar, and only there, also sees the next bar's return."
    def __init__(self, weight=0.5, **kw): super().__init__(**kw); self.weight = weight; self.name = f"mean_reversion_open_peek_{weight}"
    def signals(self, p):
        z = np.array(ALPHAS[self.alpha].compute_panel(p), dtype="float64")
        first = _first_bar_of_session(p)
        z[first] -= self.weight * np.nan_to_num(_z(_ahead(p)))[first]  # a rise ahead makes the reversal score lower
        ev = np.where(z > self.entry, 1.0, np.where(z < self.exit, 0.0, np.nan))
        return np.where(~np.isnan(p.data["close"]), compact(p, ev, _ffill), np.nan)


class MeanReversionFullSample(MeanReversionStrategy):
    "Mean reversion on its score z-scored per symbol with the mean and std of the WHOLE panel (`full=False`: of the bars so far)."
    def __init__(self, full=True, **kw): super().__init__(**kw); self.full = full; self.name = f"mean_reversion_zscore_full_{full}"
    def signals(self, p):
        a = ALPHAS[self.alpha].compute_panel(p)
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.full: z = (a - np.nanmean(a, axis=0)) / np.nanstd(a, axis=0)
            else:
                d = pd.DataFrame(a); z = ((d - d.expanding(50).mean()) / d.expanding(50).std(ddof=0)).to_numpy()
        ev = np.where(z > self.entry, 1.0, np.where(z < self.exit, 0.0, np.nan))
        return np.where(~np.isnan(p.data["close"]), compact(p, ev, _ffill), np.nan)


PLANTED = {  # kind -> the peeking strategy
    "next bar at 10% of momentum's ranking": lambda: MomentumPeek(0.1),
    "next bar at 2% of momentum's ranking": lambda: MomentumPeek(0.02),
    "next 4 bars at 10% of momentum's ranking": lambda: MomentumPeek(0.1, k=4),
    "next bar at the session's first bar only (mean reversion)": lambda: MeanReversionOpenPeek(0.5),
    "next bar on 10% of the days only (momentum)": lambda: MomentumPeek(0.1, days=0.1),
    "full-sample normalisation (mean reversion)": lambda: MeanReversionFullSample(),
}
HONEST = {"momentum, peek weight 0": lambda: MomentumPeek(0.0), "mean reversion, open peek weight 0": lambda: MeanReversionOpenPeek(0.0),
          "mean reversion, expanding normalisation": lambda: MeanReversionFullSample(full=False)}


@pytest.fixture(scope="module")
def synth():
    return panel_from_bars(generate_market(seed=0, start=START, end=END, universe=UNIVERSE), sectors=UNIVERSE)


@pytest.mark.parametrize("kind", list(PLANTED))
def test_planted_peek_caught_by_the_backtest_on_every_seed(synth, kind):
    caught = []
    for seed in SEEDS:
        try: run_backtest(synth, PLANTED[kind](), start=TRADE_FROM, benchmark=None, config=BacktestConfig(causal_seed=seed))
        except LookAheadError as e:
            assert "reads the future" in str(e) and f"causal_seed={seed}" in str(e), str(e)
            caught.append(seed)
    print(f"{kind}: caught on {len(caught)} of {len(SEEDS)} seeds")
    assert caught == list(SEEDS), f"{kind}: missed on seeds {sorted(set(SEEDS) - set(caught))}"


@pytest.mark.parametrize("kind", list(PLANTED))
def test_planted_peek_found_by_find_strategy_leaks(synth, kind):
    leaks = find_strategy_leaks(PLANTED[kind](), synth, seed=123)
    assert len(leaks) == 1 and leaks[0].name.startswith(("momentum_peek", "mean_reversion")), leaks


@pytest.mark.parametrize("kind", list(HONEST))
def test_honest_twins_pass(synth, kind):
    for seed in range(3):  # a false alarm on any seed fails
        r = run_backtest(synth, HONEST[kind](), start=TRADE_FROM, benchmark=None, config=BacktestConfig(causal_seed=seed))
        assert r.config["causal_check"]["leak"] is None and r.config["causal_check"]["cuts"] > 0


def test_the_error_names_strategy_symbol_bar_and_values(synth):
    with pytest.raises(LookAheadError) as e:
        run_backtest(synth, MomentumPeek(0.1), start=TRADE_FROM, config=BacktestConfig(causal_seed=3))
    msg = str(e.value)
    assert msg.startswith("momentum_peek_0.1_1_1.0: the signal of ") and any(f"of {s} at 2025-" in msg for s in synth.symbols), msg
    assert " is " in msg and " but " in msg and "reads the future" in msg


def test_the_seed_varies_per_run_and_is_recorded(synth, tmp_path):
    honest = lambda: builtin_strategy("mean_reversion")
    a, b = (run_backtest(synth, honest(), start=TRADE_FROM, benchmark=None) for _ in range(2))
    ca, cb = a.config["causal_check"], b.config["causal_check"]
    assert ca["seed"] != cb["seed"] and ca["rows_checked"] != cb["rows_checked"]
    assert ca["cuts"] == 64 and ca["act_rows"] > 64 and ca["seconds"] >= 0
    c = run_backtest(synth, honest(), start=TRADE_FROM, benchmark=None, config=BacktestConfig(causal_seed=ca["seed"]))
    assert c.config["causal_check"]["rows_checked"] == ca["rows_checked"]  # the recorded seed repeats the check
    assert c.metrics["sharpe"] == a.metrics["sharpe"]  # and the check never changes the simulation
    saved = json.loads((a.save(tmp_path / "a") / "config.json").read_text())
    assert saved["causal_check"]["seed"] == ca["seed"] and saved["causal_seed"] is None
    assert run_backtest(synth, honest(), start=TRADE_FROM, benchmark=None, config=BacktestConfig(verify_causal=0)).config["causal_check"] is None


def test_pipeline_run_records_the_check_in_provenance(tmp_path):
    from alphatrade.apps.provenance import comparable
    from alphatrade.apps.runs import execute_run
    params = {"strategy": "momentum", "symbols": "AAPL,MSFT,NVDA,JPM", "start": "2025-06-02", "end": "2025-06-30"}
    r = execute_run("backtest", params, runs_dir=tmp_path / "runs", db_url=False)
    prov = json.loads((tmp_path / "runs" / r["run_id"] / "provenance.json").read_text())
    chk = prov["causal_check"]
    assert isinstance(chk["seed"], int) and chk["cuts"] > 0 and len(chk["rows_checked"]) == chk["cuts"] and chk["leak"] is None
    assert "causal_check" not in comparable(prov)  # identical runs still compare equal


# --- no false alarm on real data: every built-in, the ML strategy and every registered alpha as a strategy ---

class AlphaStrategy(Strategy):
    "A registered alpha as a strategy: its cross-sectional rank scaled to [-1, 1] at every bar."
    def __init__(self, alpha: str):
        super().__init__(); self.alpha, self.name, self.lookback = alpha, f"alpha_{alpha}", ALPHAS[alpha].lookback
    def signals(self, p): return 2 * cs_rank(ALPHAS[self.alpha].compute_panel(p))


@pytest.fixture(scope="module")
def real(shared_data):
    from alphatrade.data.loader import read_bars_dir
    from alphatrade.data.preprocess import filter_regular_hours
    bars = pd.concat([filter_regular_hours(f) for f in read_bars_dir(shared_data / "us15m")], ignore_index=True)
    return panel_from_bars(bars, sectors=load_universe()).between("2025-06-02", "2025-08-01")  # two months


def _ml(p):
    model, feats, _ = fit_ridge(p, "2025-07-01")
    return MLStrategy(SignalGenerator({"ridge": (model, feats)}, alphas=["reversal_1"]))


REAL = {**{n: (lambda n=n: lambda p: builtin_strategy(n))() for n in BUILTINS}, "ml": _ml,
        **{f"alpha_{a}": (lambda a=a: lambda p: AlphaStrategy(a))() for a in ALPHAS}}


@pytest.mark.parametrize("name", list(REAL))
def test_no_false_alarm_on_real_data(real, name):
    assert len(real.symbols) == 64
    strat = REAL[name](real)
    n = 64 if name in BUILTINS or name == "ml" else 16  # the default budget; fewer for the alphas, some of which cost ~0.1 s a call whatever the length
    e = TradingEngine(strat, SimBroker(), list(real.symbols), config=EngineConfig(verify_causal=n)).bind(real)  # raises on a difference
    c = e.causal
    assert c["leak"] is None and c["cuts"] == min(n, c["act_rows"]) > 0, c
    print(f"{name}: {c['act_rows']} act rows, {c['cuts']} cuts, {c['rows_recomputed']} rows recomputed, {c['seconds']} s, seed {c['seed']}")
