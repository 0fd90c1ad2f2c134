"""Sweeps and walk-forward optimisation (research.optimize) as a user meets them: the deflated Sharpe ratio against the
paper's worked example, computed here by hand (no scipy); `alphatrade optimize` and `alphatrade run optimize` end to end
through the command's entry point (each in a process of its own: conftest.alphatrade_cli), into run folders with provenance."""
import json, math, os, subprocess, sys
from pathlib import Path
from statistics import NormalDist

import pandas as pd

from alphatrade.research.optimize import deflated_sharpe, expected_max_sharpe

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "alphatrade.apps.cli"]
SMALL = ["--start", "2025-03-03", "--end", "2025-04-30", "--data", "synthetic", "--symbols", "AAPL,MSFT,JPM,XOM,CAT,COST",
         "--grid", "fast=5,13", "--grid", "slow=26,52", "--train", "15", "--test", "5"]


def test_deflated_sharpe_worked_example():
    """Bailey & Lopez de Prado (2014), section 'A numerical example': annualised SR 2.5 over T = 1250 daily returns, N = 100
    trials with annualised Sharpe variance 0.5, skewness -3, kurtosis 10 -> SR0 = 0.1132 per day, DSR = 0.9004."""
    sr, var, n, t, g3, g4 = 2.5 / math.sqrt(250), 0.5 / 250, 100, 1250, -3.0, 10.0
    z = NormalDist().inv_cdf
    euler = 0.5772156649015329
    sr0 = math.sqrt(var) * ((1 - euler) * z(1 - 1 / n) + euler * z(1 - 1 / (n * math.e)))
    phi = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))
    dsr = phi((sr - sr0) * math.sqrt(t - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr ** 2))
    assert abs(sr0 - 0.1132) < 1e-4 and abs(dsr - 0.9004) < 5e-4  # the paper's numbers, from the hand computation
    assert abs(expected_max_sharpe(var, n) - sr0) < 1e-12
    assert abs(deflated_sharpe(sr, t, g3, g4, var, n) - dsr) < 1e-12


def test_deflated_sharpe_without_selection_is_the_probabilistic_sharpe():
    "One trial: SR0 = 0 and the DSR is P(true SR > 0); a Sharpe of 0 gives one half."
    assert deflated_sharpe(0.0, 500, 0.0, 3.0, 0.01, 1) == 0.5
    assert deflated_sharpe(0.05, 500, 0.0, 3.0, 0.01, 1) > deflated_sharpe(0.05, 500, 0.0, 3.0, 0.01, 50)


def _env(tmp):
    return os.environ | {"PYTHONPATH": str(ROOT), "ALPHATRADE_APP__RUNS_DIR": str(tmp / "runs"), "ALPHATRADE_DATABASE__URL": f"sqlite:///{tmp}/runs.db",
                         "MPLBACKEND": "Agg"}


def _check_folder(d: Path, trials: int):
    files = {p.name for p in d.iterdir()}
    for f in ("trials.parquet", "folds.parquet", "oos_equity.parquet", "heatmap.png", "oos_equity.png", "params.yaml", "provenance.json", "run.json", "confirm"):
        assert f in files, f"{f} missing in {d}: {sorted(files)}"
    m = json.loads((d / "metrics.json").read_text())
    assert m["status"] == "finished" and m["trials"] == trials
    assert 0 <= m["best_dsr"] <= 1 and 0 <= m["oos_dsr"] <= 1
    prov = json.loads((d / "provenance.json").read_text())
    assert prov["data"]["symbols"] == 6 and prov["git"]["commit"]
    folds = pd.read_parquet(d / "folds.parquet")
    oos = pd.read_parquet(d / "oos_equity.parquet")
    assert len(folds) >= 2 and len(oos) > 0
    assert (pd.to_datetime(folds.oos_start) > pd.to_datetime(folds.is_end)).all()
    t = pd.read_parquet(d / "trials.parquet")
    assert len(t) == trials and {"fast", "slow", "sharpe", "orders", "trades"} <= set(t.columns)
    return m


def test_optimize_command(tmp_path, alphatrade_cli):
    p = alphatrade_cli("optimize", *SMALL, "--out", tmp_path / "opt", cwd=ROOT, env=_env(tmp_path))
    assert p.returncode == 0, p.stderr
    assert "4 trials" in p.stdout and "deflated Sharpe" in p.stdout and "confirming event-driven run" in p.stdout
    m = _check_folder(tmp_path / "opt", 4)
    assert m["chosen"]["fast"] < m["chosen"]["slow"]
    # the default parity limits: the confirming event-driven run sends the sweep's orders and ends where the sweep did
    assert m["confirm_n_fills"] == m["vectorized_orders"] and abs(m["confirm_total_return"] - m["vectorized_total_return"]) < 1e-3


def test_optimize_command_with_the_settings_limits(tmp_path, alphatrade_cli):
    "--limits settings: the settings' risk limits and default costs; the rules the vectorised path does not model are printed."
    p = alphatrade_cli("optimize", *SMALL, "--limits", "settings", "--out", tmp_path / "opt", cwd=ROOT, env=_env(tmp_path))
    assert p.returncode == 0, p.stderr
    assert "not modelled on the vectorised path: square-root impact" in p.stdout and "kill switch" in p.stdout
    assert "limits: settings" in (tmp_path / "opt" / "params.yaml").read_text()


def test_optimize_command_refuses_bad_input(tmp_path, alphatrade_cli):
    p = alphatrade_cli("optimize", *SMALL, "--grid", "window=3", cwd=ROOT, env=_env(tmp_path))
    assert p.returncode == 2 and "window" in p.stderr and "Traceback" not in p.stderr


def test_optimize_pipeline(tmp_path, alphatrade_cli):
    params = ["-p", "start", "2025-03-03", "-p", "end", "2025-04-30", "-p", "data", "synthetic", "-p", "symbols", "AAPL,MSFT,JPM,XOM,CAT,COST",
              "-p", "grid", "{fast: [5, 13], slow: [26, 52]}", "-p", "train", "15", "-p", "test", "5"]
    p = alphatrade_cli("run", "optimize", *params, "--no-db", cwd=ROOT, env=_env(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    (d,) = list((tmp_path / "runs").iterdir())
    _check_folder(d, 4)
    assert (d / "optimize.ipynb").is_file()
    assert json.loads((d / "run.json").read_text())["pipeline"] == "optimize"
