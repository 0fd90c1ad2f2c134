"""Portfolio optimiser time per rebalance (issue 18): for 64 and 500 assets, the Ledoit-Wolf covariance of 130 bar
returns (five sessions) and then each method of `portfolio.optimizers` under the default constraints (10% a name,
sectors at 30%, long-only). The returns are synthetic (a four-factor model, 10 sectors); the expected returns are a
signal on a third of the names. One rebalance = `shrunk_cov` + `optimize`; each method is timed over `REPS` calls and
the per-call mean reported in milliseconds, after one warm-up call of each (imports, cvxpy's first compile)."""
from harness import benchmark

REPS = 3


def _problem(n: int, bars: int = 130, seed: int = 0):
    import numpy as np
    rng = np.random.default_rng(seed)
    F = rng.normal(0, 0.002, (bars, 4)); B = rng.normal(1, 0.3, (n, 4))
    r = F @ B.T + rng.normal(0, 0.004, (bars, n))
    mu = np.where(rng.random(n) < 1 / 3, rng.normal(1e-4, 5e-5, n), 0.0)
    groups = [np.arange(k, n, 10) for k in range(10)]
    return r, mu, groups


def _run(timer, n: int) -> dict:
    import warnings
    import numpy as np
    from alphatrade.portfolio.covariance import shrunk_cov
    from alphatrade.portfolio.optimizers import METHODS, Constraints, optimize
    warnings.filterwarnings("ignore")
    r, mu, groups = _problem(n)
    c = Constraints()
    out = {"assets": n, "bars": len(r), "reps": REPS}
    shrunk_cov(r); [optimize(m, shrunk_cov(r), mu, c, groups, confidence=0.5) for m in METHODS]  # warm-up: imports, cvxpy's first compile
    with timer("covariance"):
        for _ in range(REPS): S = shrunk_cov(r)
    out["covariance_ms"] = timer.phases["covariance"] / REPS * 1e3
    for m in METHODS:
        with timer(m):
            for _ in range(REPS): a = optimize(m, S, mu, c, groups, confidence=0.5)
        assert a.ok, (m, a.reason)
        out[f"{m}_ms"] = timer.phases[m] / REPS * 1e3
    return out


@benchmark("portfolio.optimizers_64")
def opt64(timer): return _run(timer, 64)


@benchmark("portfolio.optimizers_500")
def opt500(timer): return _run(timer, 500)
