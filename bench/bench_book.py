"""The backtest's book in exact arrays (backtest.book) side by side with its peers and its limit, in one run.

`backtest.book_ma_crossover_64_side_by_side`: the moving-average crossover 13/52 on the 64 real stocks with the rules
of bench_backtest.py (floor($10,000 / close) shares, next-bar open, 2 bps slippage, 1 bp commission, no volume cap,
no feed guard), run by
- alphatrade with the array book (the default) and with the object book (`BacktestConfig(book="object")`: before);
- backtrader (bench/peer_backtrader.py);
- vectorbt `Portfolio.from_signals` on the same signals (entries/exits moved to the symbol's next bar, priced at its
  open, size in shares; vectorbt neither rounds to the tick nor caps at the bar's range);
- a bare numpy loop over the bars (the same rules, vector operations per bar, no risk checks, no objects): the limit.
Each side's time counts its signals and its simulation from the in-memory panel (alphatrade: the look-ahead check
and the risk checks too): `times_vectorbt` and `times_numpy_loop` are alphatrade's simulation seconds over theirs;
`speedup_vs_backtrader` is backtrader's seconds (feeds + cerebro.run) over alphatrade's including the panel's build from
the frames, as bench_backtest.py measures it. The trade lists are matched one by one on (symbol, decision bar, side,
quantity).

`backtest.book_1000_symbols`: ma_crossover and momentum with the default settings (risk limits, Alpaca costs, 10%
participation) on a generated universe of 1,000 symbols (4 months of trading after a month of history) and on the 64
real stocks (a year), reporting symbol-bars per second of each and the ratio.
"""
from __future__ import annotations
import time

import numpy as np
import pandas as pd

from harness import benchmark
from bench_backtest import CASH, COMM_BPS, FAST, NOTIONAL, SLIP_BPS, SLOW, compare, run_alphatrade

STEP = pd.Timedelta("15min")


def _panel(frames):
    from alphatrade.core.config import load_universe
    from alphatrade.data.panel import panel_from_bars
    return panel_from_bars(pd.concat(frames, ignore_index=True), sectors=load_universe())


def _signals(p):
    from alphatrade.trading.strategy import MACrossover
    return MACrossover(FAST, SLOW).signals(p)


def numpy_loop(p) -> dict:
    "The crossover's rules in a bare loop over the bars: fills at the next open, buys when flat and long, sells when flat."
    t0 = time.perf_counter()
    S = _signals(p)
    O, H, L, C = (p.data[k] for k in ("open", "high", "low", "close"))
    T, N = C.shape
    qty, pend, dec = np.zeros(N), np.zeros(N), np.zeros(N, int)
    cash, slip, fee = CASH, SLIP_BPS / 1e4, COMM_BPS / 1e4
    out = []
    for t in range(T):
        c = C[t]; have = c == c
        f = np.flatnonzero((pend != 0) & have)
        if len(f):
            sg, q = np.sign(pend[f]), np.abs(pend[f])
            px = O[t, f] * (1 + sg * slip)
            px = np.round(np.where(sg > 0, np.minimum(px, H[t, f]), np.maximum(px, L[t, f])), 2)
            cm = np.ceil(q * px * fee * 100 - 1e-9) / 100
            cash -= float((sg * q * px + cm).sum()); qty[f] += sg * q; pend[f] = 0
            out.append((f, dec[f], np.full(len(f), t), sg, q, px, cm))
        s = S[t]
        buy = have & (qty == 0) & (pend == 0) & (s > 0)
        sell = have & (qty > 0) & (pend == 0) & (s == 0)
        pend[buy] = np.floor(NOTIONAL / c[buy]); pend[sell] = -qty[sell]; dec[buy | sell] = t
    secs = time.perf_counter() - t0
    f, d, ft, sg, q, px, cm = (np.concatenate(x) for x in zip(*out))
    ts, sym = p.timestamps, np.asarray(p.symbols)
    trades = pd.DataFrame({"symbol": sym[f], "side": np.where(sg > 0, "buy", "sell"), "qty": q, "decision_time": ts[d], "price": px,
                           "commission": cm, "fill_time": ts[ft]}).query("qty > 0")
    last = pd.DataFrame(C).ffill().to_numpy()[-1]
    return {"trades": trades.sort_values(["decision_time", "symbol"]).reset_index(drop=True), "seconds": secs,
            "final_value": cash + float(np.nansum(qty * last))}


def vectorbt_run(p) -> dict:
    "The same signals through vectorbt's from_signals: orders at the symbol's next bar, at its open, in shares."
    import vectorbt as vbt
    from alphatrade.research.vectorized import next_fill_rows
    vbt.Portfolio.from_signals(close=pd.DataFrame(np.ones((3, 2))), entries=np.ones((3, 2), bool), exits=np.zeros((3, 2), bool), size=np.ones((3, 2)),
                               size_type="amount", price=np.ones((3, 2)), slippage=1e-4, fees=1e-4, init_cash=1e6, cash_sharing=True, group_by=True,
                               freq="15min").value()  # numba compiles on the first call: not part of the measure
    t0 = time.perf_counter()
    S = _signals(p)
    C, O = p.data["close"], p.data["open"]
    have = ~np.isnan(C); T, N = C.shape
    r = next_fill_rows(have)
    ent, ext = np.zeros((T, N), bool), np.zeros((T, N), bool)
    size, dec = np.full((T, N), np.nan), np.full((T, N), -1)
    ti, tj = np.nonzero(have & ~np.isnan(S) & (r >= 0))
    rr = r[ti, tj]
    n = np.floor(NOTIONAL / C[ti, tj]); b = (S[ti, tj] > 0) & (n > 0); x = S[ti, tj] == 0
    ent[rr[b], tj[b]] = True; size[rr[b], tj[b]] = n[b]
    ext[rr[x], tj[x]] = True; size[rr[x], tj[x]] = np.inf
    dec[rr, tj] = ti
    t1 = time.perf_counter()
    pf = vbt.Portfolio.from_signals(close=pd.DataFrame(C, p.timestamps).ffill(), entries=ent, exits=ext, size=size, size_type="amount",
                                    price=O, slippage=SLIP_BPS / 1e4, fees=COMM_BPS / 1e4, init_cash=CASH, cash_sharing=True, group_by=True,
                                    freq="15min")
    final = float(pf.value().iloc[-1])
    secs, call = time.perf_counter() - t0, time.perf_counter() - t1
    o = pf.orders.records
    sym = np.asarray(p.symbols)
    trades = pd.DataFrame({"symbol": sym[o["col"]], "side": np.where(o["side"] == 0, "buy", "sell"), "qty": o["size"],
                           "decision_time": p.timestamps[dec[o["idx"], o["col"]]], "price": o["price"], "commission": o["fees"],
                           "fill_time": p.timestamps[o["idx"]]})
    return {"trades": trades.sort_values(["decision_time", "symbol"]).reset_index(drop=True), "seconds": secs, "from_signals_seconds": call,
            "final_value": final}


def _alphatrade(frames, book):
    from alphatrade.backtest import engine as E
    orig = E.BacktestConfig
    E.BacktestConfig = lambda **kw: orig(book=book, **kw)  # bench_backtest's run, with the book chosen
    try: return run_alphatrade(frames)
    finally: E.BacktestConfig = orig


@benchmark("backtest.book_ma_crossover_64_side_by_side")
def side_by_side(timer):
    from peer_backtrader import load_frames, run_backtrader
    frames = load_frames()
    p = _panel(frames)
    with timer("alphatrade_array"): at = _alphatrade(frames, "array")
    with timer("alphatrade_object"): ob = _alphatrade(frames, "object")
    with timer("numpy_loop"): nl = numpy_loop(p)
    with timer("vectorbt"): vb = vectorbt_run(p)
    with timer("backtrader"): bt = run_backtrader(frames, FAST, SLOW, NOTIONAL, SLIP_BPS, COMM_BPS, CASH)
    bt_secs = bt["seconds"] + bt["setup_seconds"]
    a, sim = at["seconds"], at["sim_seconds"]  # with and without building the panel from the frames (vectorbt and the loop start from the panel)
    out = {"symbol_bars": at["symbol_bars"], "fills": len(at["trades"]), "alphatrade_seconds": a, "alphatrade_sim_seconds": sim,
           "alphatrade_object_seconds": ob["seconds"], "array_vs_object_speedup": ob["seconds"] / a,
           "same_trades_array_object": bool(at["trades"].equals(ob["trades"])), "final_value_alphatrade": at["final_value"],
           "final_value_object": ob["final_value"],
           "backtrader_seconds": bt_secs, "speedup_vs_backtrader": bt_secs / a,
           "vectorbt_seconds": vb["seconds"], "vectorbt_from_signals_seconds": vb["from_signals_seconds"], "times_vectorbt": sim / vb["seconds"],
           "numpy_loop_seconds": nl["seconds"], "times_numpy_loop": sim / nl["seconds"],
           "final_value_backtrader": bt["final_value"], "final_value_vectorbt": vb["final_value"], "final_value_numpy_loop": nl["final_value"],
           "symbol_bars_per_sec": at["symbol_bars"] / a, "alphatrade_object_sim_seconds": ob["sim_seconds"]}
    for name, other in (("backtrader", bt["trades"]), ("vectorbt", vb["trades"]), ("numpy_loop", nl["trades"])):
        c = compare(at["trades"], other)
        out |= {f"{name}_matched": c["matched"], f"{name}_only_alphatrade": c["only_alphatrade"], f"{name}_only_peer": c["only_backtrader"],
                f"{name}_max_price_diff": c["max_price_diff"]}
    return out


def _universe(n: int) -> dict:
    from alphatrade.core.config import load_universe
    sectors = sorted(set(load_universe().values()))
    return {f"S{i:04d}": sectors[i % len(sectors)] for i in range(n)}


@benchmark("backtest.book_1000_symbols")
def thousand(timer):
    "ma_crossover and momentum, default settings, 1,000 generated symbols vs the 64 real stocks: symbol-bars per second."
    from alphatrade.backtest.engine import run_backtest
    from alphatrade.data.panel import panel_from_bars
    from alphatrade.data.synthetic import generate_market
    from alphatrade.data.preprocess import filter_regular_hours
    from alphatrade.data.sample import real_bars
    from alphatrade.core.config import load_universe
    from alphatrade.trading.strategy import MACrossover, MomentumStrategy
    uni = _universe(1000)
    big = panel_from_bars(generate_market(seed=7, start="2025-01-02", end="2025-05-30", universe=uni), sectors=uni)
    real = panel_from_bars(filter_regular_hours(real_bars()), sectors=load_universe())
    out = {}
    for name, make in (("ma_crossover", MACrossover), ("momentum", lambda: MomentumStrategy("momentum_26_1"))):
        for tag, p, start in (("1000", big, "2025-02-03"), ("64", real, "2025-08-01")):
            with timer(f"{name}_{tag}"):
                r = run_backtest(p, make(), start=start, benchmark=None)
            out |= {f"{name}_{tag}_symbol_bars_per_sec": r.metrics["symbol_bars"] / r.seconds, f"{name}_{tag}_seconds": r.seconds,
                    f"{name}_{tag}_symbol_bars": r.metrics["symbol_bars"], f"{name}_{tag}_fills": len(r.fills),
                    f"{name}_{tag}_refusal_rows": len(r.refusals), f"{name}_{tag}_refused_orders": r.metrics["refused_orders"]}
        out[f"{name}_1000_vs_64_per_symbol_bar"] = out[f"{name}_1000_symbol_bars_per_sec"] / out[f"{name}_64_symbol_bars_per_sec"]
    return out
