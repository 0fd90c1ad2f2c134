"""The fast feature path equals the old one, feature by feature, bit for bit (issue 17, item 3).

The reference below is the feature code as it was before the speed work: pandas `DataFrame.rolling` and
`DataFrame.rank`, per-symbol compaction one gappy symbol at a time, a [T x N x F] array filled feature by
feature. The feature definitions themselves are shared; only these helpers are swapped in (monkeypatch), on a
separate panel object so no memoised intermediate crosses from one path to the other. Compared on the real
64 stocks (one missing bar) and on a synthetic market with 300 scattered missing bars (most symbols gappy).
"""
import numpy as np
import pandas as pd
import pytest

from alphatrade.core.config import load_universe
from alphatrade.data.synthetic import generate_market
from alphatrade.data.panel import panel_from_bars
from alphatrade.data.loader import read_bars_dir
from alphatrade.data.preprocess import filter_regular_hours
from alphatrade.features import base, technical, statistical, microstructure, cross_sectional
from alphatrade.features.base import REGISTRY, memo
from alphatrade.features.pipeline import FeaturePipeline


# ---- the reference: the helpers as they were --------------------------------------------------------------
def per_symbol_ref(p, f, *fields, outputs=0):
    if outputs:  # several outputs: the single-output reference once per output (f called again each time)
        return tuple(per_symbol_ref(p, lambda *a, i=i: f(*a)[i], *fields) for i in range(outputs))
    T, N = p.shape
    out = np.empty((N, T)); out.fill(np.nan)
    holes = np.isnan(p.data["close"]).T.copy()
    cols = [np.ascontiguousarray(p.data[k].T, dtype="float64") for k in fields]
    for j in range(N):
        h = holes[j]
        if not h.any(): out[j] = f(*(c[j] for c in cols)); continue
        ok = ~h
        if ok.any(): out[j, ok] = f(*(np.ascontiguousarray(c[j, ok]) for c in cols))
    return out.T


def compact_ref(p, a, f):
    holes = np.isnan(p.data["close"])
    full = ~holes.any(axis=0)
    if full.all(): return f(a)
    out = np.full(a.shape, np.nan)
    if full.any(): out[:, full] = f(a[:, full])
    for j in np.flatnonzero(~full):
        ok = ~holes[:, j]
        if ok.any(): out[ok, j] = f(a[ok, j][:, None])[:, 0]
    return out


def rolling_ref(a, n, how="mean", min_periods=None):
    return getattr(pd.DataFrame(a).rolling(n, min_periods=min_periods or n), how)().to_numpy()


def rolling_runs_ref(a, runs, n, how="mean", min_periods=None):
    edges = list(runs) + [len(a)]
    return np.concatenate([rolling_ref(a[s:e], n, how, min_periods) for s, e in zip(edges[:-1], edges[1:])])


def rolling_corr_ref(a, b, n):
    return pd.DataFrame(a).rolling(n, min_periods=n).corr(pd.DataFrame(b)).to_numpy()


def cs_rank_ref(a):
    r = pd.DataFrame(a).rank(axis=1, pct=True).to_numpy()
    n = np.sum(~np.isnan(a), axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 1, (r * n - 1) / np.maximum(n - 1, 1) - 0.5, np.where(np.isnan(a), np.nan, 0.0))


REF = {"per_symbol": per_symbol_ref, "compact": compact_ref, "rolling": rolling_ref, "rolling_corr": rolling_corr_ref,
       "rolling_runs": rolling_runs_ref, "cs_rank": cs_rank_ref}


def reference_features(p, names, monkeypatch):
    "Every feature with the old helpers, stacked into [T x N x F] the old way."
    with monkeypatch.context() as m:
        for mod in (base, technical, statistical, microstructure, cross_sectional):
            for name, fn in REF.items():
                if hasattr(mod, name): m.setattr(mod, name, fn)
        vals = np.empty(p.shape + (len(names),))
        for i, n in enumerate(names): vals[:, :, i] = memo(p, ("feature", n), lambda n=n: REGISTRY[n](p))
    return vals


def _copy(p):
    return type(p)(p.timestamps, p.symbols, {k: v.copy() for k, v in p.data.items()}, p.sectors)


@pytest.fixture(scope="module")
def real_panel(shared_data):
    frames = [filter_regular_hours(f) for f in read_bars_dir(shared_data / "us15m")]
    return panel_from_bars(pd.concat(frames), sectors=load_universe())


@pytest.fixture(scope="module")
def gappy_panel():
    bars = generate_market(seed=5, start="2025-01-02", end="2025-04-30", planted_alpha=0.0)
    rng = np.random.default_rng(1)
    bars = bars.drop(index=bars.index[rng.choice(len(bars), size=300, replace=False)])
    return panel_from_bars(bars, sectors=load_universe())


@pytest.mark.parametrize("panel_name", ["real_panel", "gappy_panel"])
def test_every_feature_equals_the_reference_bit_for_bit(panel_name, request, monkeypatch):
    p = request.getfixturevalue(panel_name)
    holes = np.isnan(p.data["close"])
    assert holes.any()  # the gap path is exercised on both panels
    pipe = FeaturePipeline()
    fast = pipe.compute(_copy(p))
    ref = reference_features(_copy(p), pipe.names, monkeypatch)
    assert fast.values.shape == ref.shape
    differ = [n for i, n in enumerate(pipe.names) if not np.array_equal(fast[n], ref[:, :, i], equal_nan=True)]
    assert differ == []
    assert np.isfinite(ref).sum() > 0.5 * ref.size  # not an all-NaN comparison
    np.testing.assert_array_equal(fast.values, ref)


def test_a_second_compute_on_the_same_panel_gives_the_same_values(real_panel):
    p = _copy(real_panel)
    pipe = FeaturePipeline(["vol_26", "sector_rel_vol_26", "cs_rank_ret_4", "rsi_14", "cs_z_rsi_14", "autocorr_1_130"])
    a, b = pipe.compute(p), pipe.compute(p)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.values.shape == p.shape + (6,)


def test_the_reference_would_catch_a_difference(real_panel, monkeypatch):
    "The comparison can fail: a rolling mean that is off by one bar is caught."
    p = _copy(real_panel)
    fast = FeaturePipeline(["amihud_26"]).compute(p)
    with monkeypatch.context() as m:
        m.setattr(microstructure, "rolling", lambda a, n, how="mean", min_periods=None: rolling_ref(a, n + 1, how))
        off = REGISTRY["amihud_26"](_copy(real_panel))
    assert not np.array_equal(fast["amihud_26"], off, equal_nan=True)


def test_compute_evaluates_each_feature_once(real_panel, monkeypatch):
    "Features that others build on are kept and reused, not recomputed (compute runs dependents first)."
    calls = {}
    orig = base.Feature.__call__
    def counted(self, p):
        calls[self.name] = calls.get(self.name, 0) + 1
        return orig(self, p)
    monkeypatch.setattr(base.Feature, "__call__", counted)
    pipe = FeaturePipeline()
    pipe.compute(_copy(real_panel))
    assert set(calls) == set(pipe.names)
    assert {n: c for n, c in calls.items() if c != 1} == {}
