"""Features, labels and alphas in CI: the leakage guard over everything registered, incremental == batch
for every feature, on a synthetic market with gaps and on the real 64 stocks."""
import numpy as np
import pandas as pd
import pytest

from alphatrade.core.config import load_universe
from alphatrade.data.synthetic import generate_market
from alphatrade.data.panel import panel_from_bars
from alphatrade.data.loader import read_bars_dir
from alphatrade.data.preprocess import filter_regular_hours
from alphatrade.features.base import REGISTRY, feature
from alphatrade.features.labels import LABELS, lead
from alphatrade.features.leakage import find_leaks
from alphatrade.features.pipeline import FeaturePipeline


@pytest.fixture(scope="module")
def synth_panel():
    bars = generate_market(seed=123, start="2025-01-02", end="2025-04-30", planted_alpha=0.0)
    rng = np.random.default_rng(0)
    drop = rng.choice(len(bars), size=300, replace=False)  # scattered missing bars: the per-symbol paths must cope
    bars = bars.drop(index=bars.index[drop])
    return panel_from_bars(bars, sectors=load_universe())


@pytest.fixture(scope="module")
def real_panel(shared_data):
    frames = [filter_regular_hours(f) for f in read_bars_dir(shared_data / "us15m")]
    return panel_from_bars(pd.concat(frames), sectors=load_universe())


def _alphas():
    from alphatrade.alpha.factors import ALPHAS
    assert len(ALPHAS) >= 7
    return {f"alpha:{a.name}": (lambda p, a=a: a.compute_panel(p)) for a in ALPHAS.values()}


def test_there_are_at_least_50_documented_features_in_4_families():
    assert len(REGISTRY) >= 50
    assert len({f.family for f in REGISTRY.values()}) >= 4
    for f in REGISTRY.values():
        assert len(f.doc) > 15 and f.lookback >= 0, f.name


@pytest.mark.parametrize("panel_name", ["synth_panel", "real_panel"])
def test_no_feature_alpha_or_label_reads_the_future(panel_name, request):
    p = request.getfixturevalue(panel_name)
    fns = {n: f for n, f in REGISTRY.items()} | _alphas() | {f"label:{n}": l for n, l in LABELS.items()}
    horizons = {f"label:{n}": l.horizon for n, l in LABELS.items()}
    leaks = find_leaks(fns, p, n_cuts=4, seed=7, horizons=horizons, min_cut=300)
    assert leaks == []


def test_the_guard_catches_a_deliberately_leaking_feature(synth_panel):
    @feature("_leaky_next_close", "statistical", 0)
    def _leaky(p):
        "Tomorrow's news today: the next bar's return (a deliberate leak)."
        return lead(np.log(p.data["close"]), 1) - np.log(p.data["close"])
    try:
        leaks = find_leaks(dict(REGISTRY), synth_panel, n_cuts=2, seed=1, min_cut=300)
        assert [l.name for l in leaks] == ["_leaky_next_close"]
    finally:
        del REGISTRY["_leaky_next_close"]


def test_incremental_equals_batch_for_every_feature(synth_panel):
    pipe = FeaturePipeline()
    fs = pipe.compute(synth_panel)
    for t in (len(synth_panel) - 1, len(synth_panel) - 77):
        inc = pipe.update(synth_panel.upto(synth_panel.timestamps[t]))
        bat = fs.at(t)
        for name in pipe.names:
            np.testing.assert_allclose(inc[name].to_numpy(), bat[name].to_numpy(), rtol=1e-7, atol=1e-10,
                                       equal_nan=True, err_msg=name)
