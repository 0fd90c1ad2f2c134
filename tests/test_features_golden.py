"""Every registered feature on the 64 real stocks (the repo's sample), against values recorded by the feature code as it was
before the speed work of issue 17 (commit 072e4d1): NaN counts exactly, the column sums and 48 random cells per feature to
1e-9. `test_features_exact` swaps only the helpers and shares the formulas with the fast path; this file pins the formulas
too, with numbers the code under test did not compute. `record` below wrote the file (run at 072e4d1:
`python tests/test_features_golden.py --record`); a deliberate change of a feature's definition is re-recorded on purpose,
in its own commit, never silently."""
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from alphatrade.core.config import load_universe
from alphatrade.data.panel import panel_from_bars
from alphatrade.data.preprocess import filter_regular_hours
from alphatrade.data.sample import real_bars
from alphatrade.features.pipeline import FeaturePipeline

GOLDEN = Path(__file__).parent / "data" / "features_golden_real64.json.gz"


def real_panel():
    return panel_from_bars(filter_regular_hours(real_bars()), sectors=load_universe())


def record(path=GOLDEN, cells: int = 48, seed: int = 17):
    "Write the golden file: per feature its NaN count, sum, sum of |x| and `cells` random defined cells (t, n, value)."
    p = real_panel(); pipe = FeaturePipeline(); V = np.asarray(pipe.compute(p).values)
    rng = np.random.default_rng(seed)
    out = {"panel": {"rows": int(p.shape[0]), "symbols": list(p.symbols), "first": str(p.timestamps[0]), "last": str(p.timestamps[-1])}, "features": {}}
    for k, name in enumerate(pipe.names):
        x = V[..., k]; ok = np.argwhere(~np.isnan(x))
        pick = ok[rng.choice(len(ok), size=min(cells, len(ok)), replace=False)] if len(ok) else ok
        out["features"][name] = {"nan": int(np.isnan(x).sum()), "sum": float(np.nansum(x)), "abs_sum": float(np.nansum(np.abs(x))),
                                 "cells": [[int(t), int(n), float(x[t, n])] for t, n in pick]}
    with gzip.open(path, "wt") as f: json.dump(out, f)


@pytest.fixture(scope="module")
def computed():
    names = list(json.load(gzip.open(GOLDEN, "rt"))["features"])  # the recorded ones: the registry is per process, and a model
    p = real_panel(); pipe = FeaturePipeline(names); fs = pipe.compute(p)  # loaded earlier in this worker may have added lag features
    V = np.asarray(fs.values)
    assert V.shape == (len(p), len(p.symbols), len(pipe.names)), V.shape
    return p, {name: V[..., k] for k, name in enumerate(pipe.names)}


def test_panel_is_the_recorded_one(computed):
    p, _ = computed
    g = json.load(gzip.open(GOLDEN, "rt"))["panel"]
    assert (len(p), list(p.symbols), str(p.timestamps[0]), str(p.timestamps[-1])) == (g["rows"], g["symbols"], g["first"], g["last"])


def test_every_feature_equals_its_recorded_values(computed):
    _, got = computed
    want = json.load(gzip.open(GOLDEN, "rt"))["features"]
    assert list(got) == list(want)
    bad = []
    for name, w in want.items():
        x = got[name]
        if int(np.isnan(x).sum()) != w["nan"]: bad.append(f"{name}: {int(np.isnan(x).sum())} NaN, recorded {w['nan']}")
        for what, v in (("sum", np.nansum(x)), ("abs_sum", np.nansum(np.abs(x)))):
            if not np.isclose(v, w[what], rtol=1e-9, atol=1e-9): bad.append(f"{name}: {what} {v!r}, recorded {w[what]!r}")
        for t, n, v in w["cells"]:
            if not np.isclose(x[t, n], v, rtol=1e-9, atol=1e-12): bad.append(f"{name}[{t}, {n}]: {x[t, n]!r}, recorded {v!r}")
    assert bad == [], "\n".join(bad[:20])


def test_every_built_in_feature_is_recorded():
    "A feature added to the built-in modules without recording it here fails (features other code registers at run time, such as a sequence model's lags, are not built-ins)."
    from alphatrade.features.base import REGISTRY
    built_in = sorted(n for n, f in REGISTRY.items() if getattr(f.fn, "__module__", "") in REGISTRY.builtins)
    assert built_in == sorted(json.load(gzip.open(GOLDEN, "rt"))["features"])


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["--record"]: record(); print(f"wrote {GOLDEN}")
    else: sys.exit("usage: python tests/test_features_golden.py --record   (writes the golden file from the code checked out)")
