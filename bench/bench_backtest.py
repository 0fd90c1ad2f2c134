"""Backtest benchmarks: the moving-average crossover on the 64 real stocks, in this engine and in backtrader, side by side.

Same data (the 64 real files, regular hours), same parameters (SMA 13/52 of each symbol's own closes, long-only,
floor($10,000 / close) shares when the fast average crosses above, the whole position sold when it crosses below,
one order in flight per symbol, no feed-guard jump band: backtrader has none), same fill timing (market orders at
the symbol's next bar open), same costs
(2 bps slippage against the trader, capped at the bar's high/low; 1 bp commission), no volume cap.
Throughput counts everything from the in-memory bars to the finished simulation on each side: for alphatrade the
panel build, the look-ahead check, the risk checks and the loop; for backtrader the feeds and cerebro.run().
The trade lists are compared one by one on (symbol, decision bar, side, quantity), then fill bar and price.
"""
from __future__ import annotations
import time

import numpy as np
import pandas as pd

from harness import benchmark

FAST, SLOW, NOTIONAL, SLIP_BPS, COMM_BPS, CASH = 13, 52, 10_000.0, 2.0, 1.0, 1e8


def run_alphatrade(frames: list[pd.DataFrame], fast=FAST, slow=SLOW, notional=NOTIONAL, slippage_bps=SLIP_BPS, commission_bps=COMM_BPS,
                   cash=CASH) -> dict:
    from alphatrade.core.config import RiskSettings, load_universe
    from alphatrade.data.panel import panel_from_bars
    from alphatrade.risk.limits import MonitorConfig, PreTradeConfig
    from alphatrade.trading.strategy import MACrossover, FixedNotional
    from alphatrade.backtest.engine import BacktestConfig, run_backtest
    t0 = time.perf_counter()
    p = panel_from_bars(pd.concat(frames, ignore_index=True), sectors=load_universe())
    t_panel = time.perf_counter() - t0
    cfg = BacktestConfig(cash=cash, slippage_bps=slippage_bps, impact=0.0, participation=None, commission=f"{commission_bps}bps",
                         jump_band=None)  # backtrader has no feed guard: compare like with like
    res = run_backtest(p, MACrossover(fast, slow, sizer=FixedNotional(notional=notional)), config=cfg, benchmark=None,
                       risk=RiskSettings(max_portfolio_positions=1000, max_position_pct=1.0),
                       pretrade=PreTradeConfig(max_open_orders=10_000, max_sector_pct=1.0),
                       monitor=MonitorConfig(max_consecutive_losses=10**9, max_vol=1e9, var_limit=1e9))
    step = pd.Timedelta("15min")
    o, f = res.orders, res.fills
    fill_of = f.set_index("client_order_id")
    trades = pd.DataFrame({"symbol": o.symbol, "side": o.side, "qty": o.qty,
                           "decision_time": pd.to_datetime(o.created_at, utc=True) - step, "client_order_id": o.client_order_id})
    trades = trades[trades.client_order_id.isin(fill_of.index)]
    trades["price"] = fill_of.loc[trades.client_order_id, "price"].to_numpy()
    trades["commission"] = fill_of.loc[trades.client_order_id, "commission"].to_numpy()
    trades["fill_time"] = pd.to_datetime(fill_of.loc[trades.client_order_id, "timestamp"].to_numpy(), utc=True) - step
    return {"trades": trades.drop(columns="client_order_id").sort_values(["decision_time", "symbol"]).reset_index(drop=True),
            "seconds": t_panel + res.seconds, "panel_seconds": t_panel, "sim_seconds": res.seconds, "orders": len(o),
            "unfilled": int((o.status != "filled").sum()), "symbol_bars": int(res.metrics["symbol_bars"]),
            "final_value": float(res.equity.iloc[-1])}


def compare(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    "Match two trade lists on (symbol, decision_time, side, qty); then compare fill times and prices."
    key = ["symbol", "decision_time", "side", "qty"]
    m = a.merge(b, on=key, how="outer", suffixes=("_at", "_bt"), indicator=True)
    both = m[m._merge == "both"]
    dp = (both.price_at - both.price_bt).abs()
    return {"matched": len(both), "only_alphatrade": int((m._merge == "left_only").sum()), "only_backtrader": int((m._merge == "right_only").sum()),
            "same_fill_bar": int((both.fill_time_at == both.fill_time_bt).sum()), "max_price_diff": float(dp.max()) if len(dp) else 0.0,
            "price_diff_over_half_cent": int((dp > 0.005 + 1e-9).sum()),
            "commission_alphatrade": float(both.commission_at.sum()), "commission_backtrader": float(both.commission_bt.sum()),
            "unmatched_rows": m[m._merge != "both"][key + ["_merge"]].astype(str).values.tolist()[:10]}


@benchmark("backtest.peer_ma_crossover_64")
def peer(timer):
    from peer_backtrader import load_frames, run_backtrader
    frames = load_frames()
    with timer("alphatrade"):
        at = run_alphatrade(frames)
    with timer("backtrader"):
        bt = run_backtrader(frames, FAST, SLOW, NOTIONAL, SLIP_BPS, COMM_BPS, CASH)
    bt_secs = bt["seconds"] + bt["setup_seconds"]
    c = compare(at["trades"], bt["trades"])
    return {"symbol_bars": at["symbol_bars"], "alphatrade_seconds": at["seconds"], "alphatrade_panel_seconds": at["panel_seconds"],
            "backtrader_seconds": bt_secs, "alphatrade_symbol_bars_per_sec": at["symbol_bars"] / at["seconds"],
            "backtrader_symbol_bars_per_sec": bt["symbol_bars"] / bt_secs, "speedup": bt_secs / at["seconds"],
            "alphatrade_fills": len(at["trades"]), "backtrader_fills": len(bt["trades"]), "alphatrade_unfilled": at["unfilled"],
            "final_value_alphatrade": at["final_value"], "final_value_backtrader": bt["final_value"], **c}


@benchmark("backtest.ma_crossover_64_alphatrade")
def ours(timer):
    from peer_backtrader import load_frames
    frames = load_frames()
    with timer("alphatrade"):
        at = run_alphatrade(frames)
    return {"symbol_bars": at["symbol_bars"], "symbol_bars_per_sec": at["symbol_bars"] / at["seconds"], "fills": len(at["trades"]),
            "panel_seconds": at["panel_seconds"], "sim_seconds": at["sim_seconds"]}


@benchmark("backtest.synth_47x1y_strategies")
def synth(timer):
    "Each built-in strategy on the synthetic year, alphatrade only (Alpaca costs, 10% participation, default risk)."
    from alphatrade.core.config import load_universe
    from alphatrade.data.synthetic import generate_market
    from alphatrade.data.panel import panel_from_bars
    from alphatrade.risk.limits import MonitorConfig
    from alphatrade.trading.strategy import MACrossover, MomentumStrategy, MeanReversionStrategy
    from alphatrade.backtest.engine import run_backtest
    p = panel_from_bars(generate_market(seed=1, start="2025-01-02", end="2025-12-31"), sectors=load_universe())
    out = {}
    for s in (MACrossover(), MomentumStrategy(), MeanReversionStrategy()):
        with timer(s.name):
            r = run_backtest(p, s, start="2025-02-03", monitor=MonitorConfig(max_consecutive_losses=50))
        out[f"{s.name}_symbol_bars_per_sec"] = r.metrics["symbol_bars"] / r.seconds
        out[f"{s.name}_fills"] = r.metrics["n_fills"]
    return out
