"""Peer benchmark, backtrader half: a long-only moving-average crossover on every symbol, run in backtrader.

Semantics (the same rules as our own engine, so the two trade lists can be compared one by one):
one feed per symbol (15-minute bars, indexed by the naive-UTC bar start); SMA(fast) and SMA(slow) of close on the
symbol's own bars; at each bar's close a symbol whose bar is new at this step and has no order in flight buys
floor(notional / close) shares when flat and fast > slow, and sells the whole position when long and fast < slow.
Market orders fill at the symbol's next bar open (no cheat-on-open), with percentage slippage on the open
(buys open*(1+s), sells open*(1-s), capped at the bar's high / low by backtrader's slip_match) and a percentage
commission on the fill value.

Run: .venv/bin/python bench/peer_backtrader.py [--symbols AAPL,MSFT] [--runnext] [--check]
"""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

_TRADE_COLUMNS = ["symbol", "side", "qty", "price", "commission", "decision_time", "fill_time"]


def load_frames(symbols: list[str] | None = None) -> list[pd.DataFrame]:
    "The real 15-minute bars (regular hours), one long frame per symbol, as bench/bench_features.py loads them."
    from alphatrade.core.config import shared_data_dir
    from alphatrade.data.loader import read_bars_dir
    from alphatrade.data.preprocess import filter_regular_hours
    d = shared_data_dir()
    if d is None: raise SystemExit("../shared/data not found: this benchmark reads the real bars")
    frames = [filter_regular_hours(f) for f in read_bars_dir(d / "us15m")]
    if symbols is not None:
        want = set(symbols)
        frames = [f for f in frames if f["symbol"].iloc[0] in want]
    return frames


def _feed_frame(f: pd.DataFrame) -> pd.DataFrame:
    "A frame for bt.feeds.PandasData: naive-UTC DatetimeIndex of bar starts, open/high/low/close/volume as float."
    ts = pd.DatetimeIndex(f["timestamp"]).tz_convert("UTC").tz_localize(None)
    out = pd.DataFrame({c: f[c].to_numpy(dtype="float64") for c in ("open", "high", "low", "close", "volume")},
                       index=ts)
    out.index.name = "datetime"
    return out.sort_index()


def _make_strategy():
    import backtrader as bt

    class MACross(bt.Strategy):
        params = (("fast", 13), ("slow", 52), ("notional", 10_000.0))

        def __init__(self):
            self.t_init = time.perf_counter()  # feeds are preloaded before strategies are built
            self.sf = {d: bt.ind.SMA(d.close, period=self.p.fast) for d in self.datas}
            self.ss = {d: bt.ind.SMA(d.close, period=self.p.slow) for d in self.datas}
            self.pending = {d: None for d in self.datas}
            self.records, self.other_status = [], []

        def start(self):
            self.t_start = time.perf_counter()  # after indicators are created, before the run loop (and `once`)

        def stop(self):
            self.t_stop = time.perf_counter()

        def notify_order(self, order):
            st = order.status
            if st in (order.Submitted, order.Accepted): return
            d = order.data
            if st == order.Completed:
                ex = order.executed
                # one execution bit per order (no volume filler); its price is the exact fill price, while
                # ex.price is the size-weighted average (0 + size*price)/size, which can be 1 ulp off
                assert len(ex.exbits) == 1, "partial fills are not expected without a volume filler"
                self.records.append((d._name, "buy" if order.isbuy() else "sell", abs(float(ex.size)),
                                     float(ex.exbits[0].price), float(ex.comm),
                                     bt.num2date(order.created.dt), bt.num2date(ex.dt)))
            else:  # Canceled / Margin / Rejected / Expired: nothing should land here with large cash
                self.other_status.append((d._name, order.getstatusname(), bt.num2date(order.created.dt)))
            if not order.alive(): self.pending[d] = None

        def _decide(self):
            now = self.datetime[0]
            slow, notional = self.p.slow, self.p.notional
            for d in self.datas:
                if len(d) < slow or d.datetime[0] != now or self.pending[d] is not None: continue
                f, s = self.sf[d][0], self.ss[d][0]
                pos = self.getposition(d).size
                if pos == 0:
                    if f > s:
                        n = math.floor(notional / d.close[0])
                        if n > 0: self.pending[d] = self.buy(data=d, size=n)
                elif pos > 0 and f < s:
                    self.pending[d] = self.sell(data=d, size=pos)

        next = _decide
        prenext = _decide
        nextstart = _decide

    return MACross


def run_backtrader(frames: list[pd.DataFrame], fast: int, slow: int, notional: float, slippage_bps: float,
                   commission_bps: float, cash: float = 1e8, runonce: bool = True, preload: bool = True) -> dict:
    "Run the long-only SMA crossover on every symbol of `frames` in backtrader; the executed orders and timings."
    import backtrader as bt
    t0 = time.perf_counter()
    cerebro = bt.Cerebro(stdstats=False)
    symbol_bars = 0
    for f in frames:
        ff = _feed_frame(f)
        symbol_bars += len(ff)
        data = bt.feeds.PandasData(dataname=ff, datetime=None, open="open", high="high", low="low", close="close",
                                   volume="volume", openinterest=None,
                                   timeframe=bt.TimeFrame.Minutes, compression=15)
        cerebro.adddata(data, name=str(f["symbol"].iloc[0]))
    cerebro.broker.setcash(cash)
    cerebro.broker.set_slippage_perc(slippage_bps / 1e4, slip_open=True, slip_limit=True, slip_match=True, slip_out=False)
    cerebro.broker.setcommission(commission=commission_bps / 1e4)  # percabs=True: 0.0001 = 1 bp; stocklike (no margin)
    cerebro.addstrategy(_make_strategy(), fast=fast, slow=slow, notional=notional)
    t1 = time.perf_counter()
    strat = cerebro.run(runonce=runonce, preload=preload)[0]
    t2 = time.perf_counter()
    tr = pd.DataFrame(strat.records, columns=_TRADE_COLUMNS)
    for c in ("decision_time", "fill_time"):
        tr[c] = pd.to_datetime(tr[c]).dt.tz_localize("UTC")
    tr = tr.sort_values(["decision_time", "symbol"], kind="stable").reset_index(drop=True)
    unfilled = [(d._name, bt.num2date(o.created.dt)) for d, o in strat.pending.items() if o is not None]
    return {"trades": tr, "seconds": t2 - t1, "setup_seconds": t1 - t0, "symbol_bars": symbol_bars,
            "final_value": float(cerebro.broker.getvalue()),
            # extras for the report: where run() spends its time, orders never filled (decided on a symbol's last bar)
            "phases": {"preload": strat.t_init - t1, "indicators": strat.t_start - strat.t_init,
                       "loop": strat.t_stop - strat.t_start, "after": t2 - strat.t_stop},
            "unfilled": unfilled, "other_status": strat.other_status}


def _sma_sign(c: np.ndarray, fast: int, slow: int, exact: bool) -> np.ndarray:
    """sign(SMA_fast - SMA_slow) per bar (NaN before `slow` bars). exact=False: pandas rolling means of the float closes.
    exact=True: the same comparison in integer arithmetic on closes in units of 1e-4 (the data's price grid):
    slow*sum_fast vs fast*sum_slow, so exact ties (which happen on real data) give 0."""
    if not exact:
        s = pd.Series(c)
        return np.sign(s.rolling(fast).mean().to_numpy() - s.rolling(slow).mean().to_numpy())
    ci = np.round(c * 1e4)
    assert np.abs(c * 1e4 - ci).max() < 1e-6, "closes are not on a 1e-4 grid: use exact=False"
    cs = np.concatenate([[0], np.cumsum(ci.astype(np.int64))])
    out = np.full(len(c), np.nan)
    i = np.arange(slow - 1, len(c))
    out[i] = np.sign(slow * (cs[i + 1] - cs[i + 1 - fast]) - fast * (cs[i + 1] - cs[i + 1 - slow]))
    return out


def pandas_decisions(f: pd.DataFrame, fast: int, slow: int, notional: float = 10_000.0, exact: bool = True) -> pd.DataFrame:
    "Decision times of the crossover for one symbol (its own bars): flat->long when fast>slow, long->flat when fast<slow."
    c = f["close"].to_numpy(dtype="float64")
    sg = _sma_sign(c, fast, slow, exact)
    ts = pd.DatetimeIndex(f["timestamp"]).tz_convert("UTC")
    out, long = [], False
    for i in range(slow - 1, len(c)):
        if not long and sg[i] > 0 and math.floor(notional / c[i]) > 0:
            out.append(("buy", i)); long = True
        elif long and sg[i] < 0:
            out.append(("sell", i)); long = False
    return pd.DataFrame({"side": [o[0] for o in out], "i": [o[1] for o in out],
                         "decision_time": ts[[o[1] for o in out]]})


def check_against_pandas(frames: list[pd.DataFrame], fast: int, slow: int, notional: float = 10_000.0,
                         slippage_bps: float = 2.0, commission_bps: float = 1.0, result: dict | None = None,
                         exact: bool = True) -> dict:
    """Assert that backtrader's orders are decided exactly where a pandas rolling-mean state machine decides them,
    per symbol; also check fill bar (the symbol's next bar), quantity, fill price (open*(1+-s) capped at high/low)
    and commission. Returns counts.

    exact=True compares the SMAs tie-exactly (integer sums on the 1e-4 price grid). backtrader's SMA is
    math.fsum(window)/period, which matches that exact sign on all 64 symbols; plain float rolling means
    (exact=False) break exact ties by rounding noise (SLB at 2025-12-31 19:30Z with 13/52) and then fail."""
    r = result or run_backtrader(frames, fast, slow, notional, slippage_bps, commission_bps)
    tr, slip, comm = r["trades"], slippage_bps / 1e4, commission_bps / 1e4
    n_checked = n_capped = n_unfilled = n_ties = 0
    float_mismatch = {}  # symbols where plain float rolling means would decide differently (at exact ties)
    for f in frames:
        sym = f["symbol"].iloc[0]
        f = f.sort_values("timestamp").reset_index(drop=True)
        exp = pandas_decisions(f, fast, slow, notional, exact=exact)
        n_ties += int((_sma_sign(f["close"].to_numpy(dtype="float64"), fast, slow, True) == 0).sum())
        if exact:
            fl = pandas_decisions(f, fast, slow, notional, exact=False)
            if not (len(fl) == len(exp) and (fl["i"].to_numpy() == exp["i"].to_numpy()).all()):
                k = next((j for j in range(min(len(fl), len(exp))) if fl["i"].iloc[j] != exp["i"].iloc[j]), min(len(fl), len(exp)))
                float_mismatch[sym] = (f"{len(fl)} vs {len(exp)} decisions; first difference at "
                                       f"{fl['decision_time'].iloc[k] if k < len(fl) else None} (float) vs "
                                       f"{exp['decision_time'].iloc[k] if k < len(exp) else None} (exact)")
        got = tr[tr["symbol"] == sym].reset_index(drop=True)
        # an order decided on the symbol's last bar has no next bar: backtrader leaves it pending, never filled
        last = len(f) - 1
        if len(exp) and exp["i"].iloc[-1] == last:
            exp = exp.iloc[:-1]; n_unfilled += 1
        assert len(exp) == len(got), f"{sym}: pandas {len(exp)} decisions, backtrader {len(got)} orders"
        assert (exp["side"].to_numpy() == got["side"].to_numpy()).all(), f"{sym}: sides differ"
        bad = exp["decision_time"].to_numpy() != got["decision_time"].to_numpy()
        assert not bad.any(), f"{sym}: decision times differ, first at {exp['decision_time'][bad].iloc[0]} vs {got['decision_time'][bad].iloc[0]}"
        nxt = exp["i"].to_numpy() + 1
        o, h, l, c = (f[k].to_numpy(dtype="float64") for k in ("open", "high", "low", "close"))
        assert (pd.DatetimeIndex(f["timestamp"])[nxt] == pd.DatetimeIndex(got["fill_time"])).all(), f"{sym}: fill bars differ"
        buy = exp["side"].to_numpy() == "buy"
        qty = np.where(buy, np.floor(notional / c[exp["i"].to_numpy()]), 0.0)
        qty[~buy] = qty[np.flatnonzero(~buy) - 1]  # a sell closes the preceding buy
        assert np.array_equal(qty, got["qty"].to_numpy()), f"{sym}: quantities differ"
        px = np.where(buy, np.minimum(o[nxt] * (1 + slip), h[nxt]), np.maximum(o[nxt] * (1 - slip), l[nxt]))
        n_capped += int((np.where(buy, o[nxt] * (1 + slip) > h[nxt], o[nxt] * (1 - slip) < l[nxt])).sum())
        assert np.array_equal(px, got["price"].to_numpy()), f"{sym}: fill prices differ (max {np.abs(px - got['price']).max()})"
        assert np.allclose(qty * px * comm, got["commission"].to_numpy(), rtol=1e-12, atol=0), f"{sym}: commissions differ"
        n_checked += len(got)
    return {"symbols": len(frames), "orders_checked": n_checked, "fills_capped_at_high_low": n_capped,
            "decided_on_last_bar_unfilled": n_unfilled, "exact_sma_ties": n_ties,
            "float_rolling_mean_would_differ": float_mismatch}


def _report(r: dict, label: str, head: int = 10):
    tr = r["trades"]
    print(f"[{label}] trades {len(tr)}  run {r['seconds']:.2f}s  setup {r['setup_seconds']:.2f}s  "
          f"symbol-bars {r['symbol_bars']}  symbol-bars/s {r['symbol_bars'] / r['seconds']:,.0f}  "
          f"final value {r['final_value']:,.2f}")
    print("  phases of run(): " + ", ".join(f"{k} {v:.2f}s" for k, v in r["phases"].items()))
    print(f"  unfilled (decided on a last bar): {r['unfilled']}  other statuses: {r['other_status'][:5]}")
    if head: print(tr.head(head).to_string())


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", default=None, help="comma-separated subset (default: all 64)")
    ap.add_argument("--runnext", action="store_true", help="also run with runonce=False and compare")
    ap.add_argument("--check", action="store_true", help="also run check_against_pandas")
    a = ap.parse_args()
    P = dict(fast=13, slow=52, notional=10_000, slippage_bps=2, commission_bps=1)
    frames = load_frames(a.symbols.split(",") if a.symbols else None)
    r = run_backtrader(frames, **P)
    _report(r, "runonce=True")
    if a.runnext:
        r2 = run_backtrader(frames, **P, runonce=False)
        _report(r2, "runonce=False", head=0)
        same = r["trades"].equals(r2["trades"]) and r["final_value"] == r2["final_value"]
        print(f"  runonce True/False identical trades and final value: {same}")
    if a.check:
        print("pandas check:", check_against_pandas(frames, P["fast"], P["slow"], P["notional"], P["slippage_bps"],
                                                    P["commission_bps"], result=r))
