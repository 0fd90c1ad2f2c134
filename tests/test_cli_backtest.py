"""`alphatrade backtest` as a user runs it: the command line through its entry point, each in a process of its own (conftest.alphatrade_cli), real files."""
import json
import math
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ("equity.parquet", "fills.parquet", "trades.parquet", "orders.parquet", "refusals.parquet",
           "metrics.json", "config.json", "command.json", "tearsheet.png")


cli = None  # `alphatrade ARGS...` -> CompletedProcess: conftest's alphatrade_cli (a process of its own per command line, forked
# from a server that imported the command once), bound before each test


@pytest.fixture(autouse=True)
def _bind_cli(alphatrade_cli):
    global cli
    cli = lambda *args: alphatrade_cli(*args, cwd=ROOT)


def _saved(out: Path) -> dict:
    missing = [f for f in OUTPUTS if not (out / f).is_file()]
    assert not missing, f"missing in {out}: {missing}"
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_fills"] == len(pd.read_parquet(out / "fills.parquet"))
    return m


def test_real_bars_trade_only_from_start(tmp_path):
    out = tmp_path / "bt"
    r = cli("backtest", "--strategy", "ma_crossover", "--data", "sample", "--symbols", "AAPL,MSFT,NVDA,AMD",
            "--start", "2025-07-01", "--end", "2025-08-29", "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    assert "benchmark: SPY" in r.stdout and str(out) in r.stdout
    m = _saved(out)
    fills = pd.read_parquet(out / "fills.parquet")
    assert len(fills) > 0
    assert fills.timestamp.min() >= pd.Timestamp("2025-07-01", tz="UTC"), fills.timestamp.min()  # nothing in the warm-up
    assert fills.timestamp.max() < pd.Timestamp("2025-08-30", tz="UTC")  # --end is inclusive, nothing after it
    assert math.isfinite(m["sharpe"]) and math.isfinite(m["benchmark_total_return"])
    assert m["start"].startswith("2025-07-01T13:30") and m["end"].startswith("2025-08-29T19:45"), (m["start"], m["end"])
    eq = pd.read_parquet(out / "equity.parquet")
    assert eq.index.min() >= pd.Timestamp("2025-07-01", tz="UTC")
    cmd = json.loads((out / "command.json").read_text())
    assert cmd["symbols"] == ["AAPL", "AMD", "MSFT", "NVDA"] and cmd["data"] == "sample"


def test_data_real_is_the_imported_store(tmp_path, alphatrade_cli):
    "`--data real` reads <data-dir>/real: before an import, one line naming the import to run; after `data import --sample`, the sample's bars."
    env = {**os.environ, "ALPHATRADE_APP__DATA_DIR": str(tmp_path / "data")}  # read when the command runs (the stdout paths below say so)
    args = ("backtest", "--strategy", "momentum", "--symbols", "AAPL,MSFT,NVDA", "--start", "2025-08-04", "--end", "2025-08-08", "-q")
    run = lambda *a: alphatrade_cli(*a, cwd=ROOT, env=env)
    r = run(*args, "--data", "real", "--out", tmp_path / "none")
    assert r.returncode == 2, r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "--data real: no real bars imported yet" in err[0] and "run `alphatrade data import --sample`" in err[0], err
    assert not (tmp_path / "none").exists()
    i = run("data", "import", "--sample", "-q")
    assert i.returncode == 0 and "64 symbol(s)" in i.stdout and str(tmp_path / "data" / "real") in i.stdout, i.stderr
    outs, said = {}, {}
    for data in ("real", "sample"):
        r = run(*args, "--data", data, "--out", tmp_path / data)
        assert r.returncode == 0, r.stderr[-2000:]
        outs[data], said[data] = pd.read_parquet(tmp_path / data / "fills.parquet"), r.stdout
    assert f"bars: real bars (store {tmp_path / 'data' / 'real'}); benchmark: SPY" in said["real"], said["real"][:500]
    assert "bars: the real sample shipped in data/sample" in said["sample"], said["sample"][:500]
    assert len(outs["real"]) > 0
    pd.testing.assert_frame_equal(outs["real"], outs["sample"])  # the imported sample is the sample, bar for bar


def test_ml_on_synthetic_bars(tmp_path):
    out = tmp_path / "ml"
    r = cli("backtest", "--strategy", "ml", "--symbols", "AAPL,MSFT,XOM,JPM", "--start", "2025-06-02", "--end", "2025-06-13",
            "--train-days", "20", "--planted-alpha", "0.1", "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    assert "trained on" in r.stdout and "up to the bar before 2025-06-02 (20 sessions)" in r.stdout, r.stdout
    _saved(out)
    fit = json.loads((out / "command.json").read_text())["fit"]
    assert fit["rows"] > 0 and pd.Timestamp(fit["until"]) == pd.Timestamp("2025-06-02", tz="UTC")  # trained before start only
    assert pd.Timestamp(fit["since"]) < pd.Timestamp(fit["until"])


def test_unknown_symbol_is_refused(tmp_path):
    r = cli("backtest", "--strategy", "momentum", "--symbols", "NOPE", "--start", "2025-06-02", "--end", "2025-06-30",
            "--out", tmp_path / "x", "-q")
    assert r.returncode == 2
    assert "NOPE" in r.stderr and "--symbols" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "x").exists()  # nothing written


def test_help_names_every_strategy_and_option():
    h = cli("backtest", "--help")
    assert h.returncode == 0 and "usage: alphatrade backtest" in h.stdout
    for word in ("ma_crossover", "momentum", "mean_reversion", "ml", "--warmup-days", "--train-days", "--max-losing-streak", "--out"):
        assert word in h.stdout, word


def test_backtest_is_a_run(tmp_path, alphatrade_cli):
    "`alphatrade backtest` writes a run folder like `alphatrade run backtest` (params.yaml, run.json, provenance.json), and `runs ls` lists it."
    runs = tmp_path / "runs"
    env = {**os.environ, "ALPHATRADE_APP__RUNS_DIR": str(runs)}
    args = ["backtest", "--strategy", "momentum", "--symbols", "AAPL,MSFT", "--start", "2025-06-02", "--end", "2025-06-06", "--causal-seed", "11", "-q"]
    r = alphatrade_cli(*args, cwd=ROOT, env=env)  # the runs folder is read when the command runs: the run lands in `runs`
    assert r.returncode == 0, r.stderr
    (d,) = list(runs.iterdir())
    assert d.name.endswith("-backtest-momentum")
    prov = json.loads((d / "provenance.json").read_text())
    assert prov["pipeline"] == "backtest" and prov["git"]["commit"] and prov["data"]["bars_sha256"]
    assert prov["causal_check"]["seed"] == 11 and prov["params"]["symbols"] == ["AAPL", "MSFT"]
    assert json.loads((d / "run.json").read_text())["status"] == "finished"
    assert json.loads((d / "metrics.json").read_text())["status"] == "finished"
    ls = alphatrade_cli("runs", "ls", "--runs-dir", runs, cwd=ROOT)
    assert ls.returncode == 0 and d.name in ls.stdout and "finished" in ls.stdout, ls.stdout + ls.stderr
