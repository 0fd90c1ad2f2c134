"""Render the docs' report images from real-data backtest runs: `python tools/render_report_images.py RUNS_DIR MOMENTUM_RUN OTHER_RUN`.

nbs/images/tearsheet_momentum_real.png: the tear sheet of the first run (SPY as benchmark, the kill switch marked
where its first refusal is); nbs/images/run_report.png: the backtest section of `run report` for both runs
(the formatted metrics table and the equity overlay), as the report notebook draws them.
"""
import json, re, sys
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from alphatrade.apps.report import metrics_frame
from alphatrade.apps.runs import equity_overlay, resolve
from alphatrade.backtest.tearsheet import tear_sheet
from alphatrade.core.config import shared_data_dir
from alphatrade.data.loader import read_bars_dir

OUT = Path(__file__).resolve().parents[1] / "nbs" / "images"


def halts_of(d: Path, equity: pd.Series) -> list:
    """When the kill switch fired, (time, reason): from the events the result records; a run from before they were
    recorded has only the reason, so the time is reconstructed: for a drawdown halt the first bar whose drawdown passes
    the limit, otherwise the last fill."""
    ks = json.loads((d / "config.json").read_text()).get("kill_switch") or {}
    if ks.get("events"): return [(pd.Timestamp(e["time"]), e["reason"]) for e in ks["events"]]
    if not ks.get("active"): return []
    why, lim = ks.get("reason") or "kill switch", re.search(r"drawdown .*> ([0-9.]+)%", ks.get("reason") or "")
    if lim:
        dd = equity / equity.cummax() - 1
        return [(dd.index[(dd < -float(lim[1]) / 100).to_numpy().argmax()], why)]
    return [(pd.Timestamp(pd.read_parquet(d / "fills.parquet").timestamp.max()), why)]


def main(root, first, second):
    d = resolve(first, root)
    e = pd.read_parquet(d / "equity.parquet")
    spy = pd.concat(read_bars_dir(shared_data_dir() / "etf15m", pattern="SPY_15min_*.csv")).set_index("timestamp")["close"].rename("SPY")
    spy = spy[~spy.index.duplicated()].sort_index()
    tear_sheet(e["equity"], pd.read_parquet(d / "fills.parquet"), benchmark=spy.loc[:e.index[-1]], exposure=e["exposure"],
               title="momentum, 47 real stocks (config/symbols.yaml)", halts=halts_of(d, e["equity"]), path=OUT / "tearsheet_momentum_real.png")
    ids = [resolve(r, root).name for r in (first, second)]
    t = metrics_frame(ids, root)
    fig = Figure(figsize=(11, 4 + 0.22 * len(t)), dpi=110, layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[0.22 * len(t) + 0.6, 4])
    ax = top.subplots(); ax.axis("off"); ax.set_title("Backtests (2): metrics side by side", loc="left")
    tb = ax.table(cellText=t.values, rowLabels=t.index, colLabels=list(t.columns), loc="upper center", cellLoc="right")
    tb.auto_set_font_size(False); tb.set_fontsize(8)
    src = equity_overlay(ids, runs_dir=root)
    a2 = bottom.subplots()
    for line in [l for l in src.axes[0].get_lines() if not l.get_label().startswith("_")]: a2.plot(line.get_xdata(), line.get_ydata(), lw=1.2, label=line.get_label())
    a2.set_title("Equity curves (scaled to 1 at the start)", loc="left"); a2.legend(fontsize=8, loc="upper left"); a2.grid(alpha=0.3); a2.axhline(1, color="grey", lw=0.6)
    fig.savefig(OUT / "run_report.png", dpi=110)


if __name__ == "__main__": main(*sys.argv[1:4])
