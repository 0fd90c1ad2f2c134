"""Research runs end to end through the `alphatrade` command (its entry point, each line in a process of its own): papermill pipelines into run folders,
reproducibility (same inputs -> same metrics.json bytes and trades; one parameter changed -> other provenance),
a failed run, `runs ls/show/compare`, the database's runs table, and train -> ml backtest -> report."""
import json, os, re
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
SYMS = "AAPL,MSFT,NVDA,JPM,GS,META"  # small and fast: 6 symbols, 2 months
BT = ["-p", "strategy", "momentum", "-p", "symbols", SYMS, "-p", "start", "2025-06-02", "-p", "end", "2025-07-31"]


@pytest.fixture(scope="module")
def where(tmp_path_factory, alphatrade_cli):
    """The `alphatrade` command (each line in a process of its own, forked from conftest's command server, which the CLI tests of
    this pytest worker share: settings are read when a command runs, so this module's environment is given per line) with runs and
    database in a fresh folder."""
    d = tmp_path_factory.mktemp("runs")
    env = os.environ | {"PYTHONPATH": str(ROOT), "ALPHATRADE_APP__RUNS_DIR": str(d / "runs"),
                        "ALPHATRADE_DATABASE__URL": f"sqlite:///{d}/runs.db", "MPLBACKEND": "Agg"}
    def run(*argv, check=True):
        p = alphatrade_cli(*argv, cwd=ROOT, env=env)
        if check: assert p.returncode == 0, f"alphatrade {' '.join(argv)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p
    yield d, run


def _run_id(out: str) -> str:
    line = next(l for l in out.splitlines() if l.startswith("run "))
    return line.split()[1]


@pytest.fixture(scope="module")
def three(where):
    "The same backtest twice, then once with another seed."
    d, run = where
    a = _run_id(run("run", "backtest", *BT).stdout)
    b = _run_id(run("run", "backtest", *BT).stdout)
    c = _run_id(run("run", "backtest", *BT, "-p", "seed", "7").stdout)
    return [d / "runs" / i for i in (a, b, c)]


def test_run_folder_has_everything(three):
    d = three[0]
    for f in ("backtest.ipynb", "params.yaml", "metrics.json", "provenance.json", "run.json", "equity.parquet", "trades.parquet",
              "fills.parquet", "tearsheet.png"):
        assert (d / f).is_file() and (d / f).stat().st_size > 0, f
    m = json.loads((d / "metrics.json").read_text())
    assert m["status"] == "finished" and m["n_trades"] > 0 and "seconds" not in m
    p = json.loads((d / "provenance.json").read_text())
    assert len(p["git"]["commit"]) == 40 and isinstance(p["git"]["dirty"], bool)
    assert len(p["data"]["bars_sha256"]) == 64 and p["data"]["symbols"] == 6
    assert p["seed"] == 42 and p["params"]["strategy"] == "momentum" and p["packages"]["pandas"] == pd.__version__
    assert {"system", "machine"} <= set(p["platform"]) and "created" in p
    nb = json.loads((d / "backtest.ipynb").read_text())
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in nb["cells"])
    assert any(o.get("data", {}).get("image/png") for c in nb["cells"] for o in c.get("outputs", [])), "the executed notebook shows the tear sheet"


def test_same_inputs_same_results(three):
    a, b, _ = three
    assert (a / "metrics.json").read_bytes() == (b / "metrics.json").read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(a / "trades.parquet"), pd.read_parquet(b / "trades.parquet"))
    pd.testing.assert_frame_equal(pd.read_parquet(a / "fills.parquet"), pd.read_parquet(b / "fills.parquet"))
    assert len(pd.read_parquet(a / "trades.parquet")) > 0
    from alphatrade.apps.provenance import comparable
    pa, pb = (json.loads((x / "provenance.json").read_text()) for x in (a, b))
    assert pa["created"] != pb["created"] and comparable(pa) == comparable(pb)


def test_one_parameter_changes_provenance(three):
    from alphatrade.apps.provenance import comparable
    a, _, c = three
    pa, pc = (comparable(json.loads((x / "provenance.json").read_text())) for x in (a, c))
    assert pa != pc
    assert [k for k in pa["params"] if pa["params"][k] != pc["params"][k]] == ["seed"]
    assert pa["seed"] == 42 and pc["seed"] == 7
    assert pa["data"]["bars_sha256"] != pc["data"]["bars_sha256"]  # another synthetic market
    assert (a / "metrics.json").read_bytes() != (c / "metrics.json").read_bytes()


def test_runs_ls_show_compare(where, three):
    d, run = where
    out = run("runs", "ls").stdout
    for x in three: assert x.name in out
    assert "sharpe" in out and "finished" in out
    out = run("runs", "show", three[0].name).stdout
    assert "strategy: momentum" in out and json.loads((three[0] / "provenance.json").read_text())["data"]["bars_sha256"] in out
    assert "trades.parquet" in out
    png = d / "cmp.png"
    out = run("runs", "compare", three[0].name, three[2].name, "--out", str(png)).stdout
    assert "sharpe" in out and str(png) in out and png.stat().st_size > 10_000
    assert run("runs", "show", "no-such-run", check=False).returncode == 2


def test_runs_table(where, three):
    d, _ = where
    e = sa.create_engine(f"sqlite:///{d}/runs.db")
    with e.connect() as c:
        rows = {r.run_id: r for r in c.execute(sa.text("select run_id, status, metrics, provenance from runs"))}
    e.dispose()
    for x in three:
        r = rows[x.name]
        assert r.status == "finished"
        assert json.loads(r.metrics) == json.loads((x / "metrics.json").read_text())
        assert json.loads(r.provenance)["data"]["bars_sha256"] == json.loads((x / "provenance.json").read_text())["data"]["bars_sha256"]


def test_failed_run_keeps_notebook_and_status(where):
    d, run = where
    p = run("run", "backtest", *BT, "-p", "participation", "5", "--name", "broken", check=False)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "failed in cell [" in p.stderr and "BacktestSpec" in p.stderr and "--participation: 5.0 must be in [0, 1]" in p.stderr
    f = sorted((d / "runs").glob("*-broken"))[-1]
    m = json.loads((f / "metrics.json").read_text())
    assert m["status"] == "failed" and "--participation" in m["error"] and isinstance(m["cell"], int) and m["source"].startswith("spec = BacktestSpec(strategy=strategy")
    assert "--participation: 5.0 must be" in (f / "backtest.ipynb").read_text()  # the traceback is in the executed notebook
    e = sa.create_engine(f"sqlite:///{d}/runs.db")
    with e.connect() as c: assert c.execute(sa.text("select status from runs where run_id = :i"), {"i": f.name}).scalar() == "failed"
    e.dispose()
    assert "failed" in run("runs", "ls").stdout


def test_unknown_parameter_is_refused(where):
    _, run = where
    p = run("run", "backtest", "-p", "slipage_bps", "1", check=False)
    assert p.returncode == 2 and "unknown parameter(s) slipage_bps" in p.stderr and "slippage_bps" in p.stderr


def test_train_then_ml_backtest_then_report(where):
    d, run = where
    models = d / "models"
    t = _run_id(run("run", "train", "-p", "model", "lightgbm", "-p", "symbols", SYMS, "-p", "start", "2025-03-03", "-p", "end", "2025-05-30",
                    "-p", "folds", "3", "-p", "params", "{n_estimators: 40}", "-p", "model_name", "tiny", "-p", "models_root", str(models)).stdout)
    tp = json.loads((d / "runs" / t / "provenance.json").read_text())
    meta = json.loads((models / "tiny" / "1" / "metadata.json").read_text())
    assert tp["models"][0]["artifact_sha256"] == meta["artifact_sha256"] and tp["models"][0]["version"] == "1"
    assert (d / "runs" / t / "folds.parquet").is_file() and (d / "runs" / t / "importance.png").is_file()
    assert json.loads((d / "runs" / t / "metrics.json").read_text())["n_folds"] == 3
    b = _run_id(run("run", "backtest", "-p", "strategy", "ml", "-p", "model", "tiny", "-p", "models_root", str(models), *BT[3:]).stdout)
    bp = json.loads((d / "runs" / b / "provenance.json").read_text())
    assert bp["models"] == tp["models"]  # the backtest names the very artifact the training run registered
    r = _run_id(run("run", "report").stdout)
    m = json.loads((d / "runs" / r / "metrics.json").read_text())
    assert m["runs"] == [t, b]  # the latest train and backtest
    assert (d / "runs" / r / "equity_overlay.png").stat().st_size > 10_000
    assert m["sections"] == ["train", "backtest"] and (d / "runs" / r / "fold_ic.png").is_file()  # like with like: two sections
    html = (d / "runs" / r / "report.html").read_text()
    assert "Training runs (1)" in html and "Backtests (1)" in html
    assert "skip_exec" not in html and "run_dir =" not in html and "def section" not in html  # the pipeline's internals stay hidden
    cells = re.findall(r"<td>(.*?)</td>", html)
    assert cells and not {"None", "NaN", "nan"} & set(cells)  # formatted values only
    nb = json.loads((d / "runs" / r / "report.ipynb").read_text())
    assert sum(o.get("output_type") == "display_data" and "image/png" in o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", [])) == 2
