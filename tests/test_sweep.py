"""A sweep of four backtests on a dask.distributed LocalCluster (two worker processes) through the `alphatrade` command:
four normal run folders, a summary table, four rows in the runs table."""
import json, os
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]


def test_sweep_on_local_cluster(tmp_path, alphatrade_cli):
    "(The command in a process of its own forked from conftest's command server, which the CLI tests of this pytest worker share.)"
    env = os.environ | {"PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    runs, url = tmp_path / "runs", f"sqlite:///{tmp_path}/runs.db"
    p = alphatrade_cli("sweep", "backtest", "--grid", "slippage_bps=1,5", "--grid", "strategy=momentum,ma_crossover",
                       "-p", "symbols", "AAPL,MSFT,NVDA,JPM,GS,META", "-p", "start", "2025-06-02", "-p", "end", "2025-07-31",
                       "--name", "costs", "--workers", "2", "--runs-dir", runs, "--db-url", url, cwd=ROOT, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "4 of 4 runs finished" in p.stdout
    sweep = next(runs.glob("*-sweep-costs"))
    t = pd.read_csv(sweep / "summary.csv")
    assert len(t) == 4 and (t.status == "finished").all()
    assert sorted(zip(t.slippage_bps, t.strategy)) == [(1, "ma_crossover"), (1, "momentum"), (5, "ma_crossover"), (5, "momentum")]
    pd.testing.assert_frame_equal(pd.read_parquet(sweep / "summary.parquet")[["run_id", "status"]], t[["run_id", "status"]])
    for _, r in t.iterrows():  # each cell is a normal run folder with the cell's parameters
        d = runs / r.run_id
        params = json.loads((d / "provenance.json").read_text())["params"]
        assert (params["slippage_bps"], params["strategy"]) == (r.slippage_bps, r.strategy)
        m = json.loads((d / "metrics.json").read_text())
        assert m["status"] == "finished" and m["sharpe"] == r.sharpe and (d / "trades.parquet").is_file()
    # more slippage costs more, strategy by strategy
    for s in ("momentum", "ma_crossover"):
        lo, hi = (json.loads((runs / t[(t.strategy == s) & (t.slippage_bps == b)].run_id.iloc[0] / "metrics.json").read_text()) for b in (1, 5))
        assert hi["slippage"] > lo["slippage"]
    e = sa.create_engine(url)
    with e.connect() as c: rows = dict(c.execute(sa.text("select run_id, status from runs")).all())
    e.dispose()
    assert {rows[i] for i in t.run_id} == {"finished"} and len(rows) == 4
