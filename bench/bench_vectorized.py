"""The vectorised research path (research.vectorized, on vectorbt) against the event-driven engine: 1,000 parameter
sets of the moving-average crossover over the 64 real stocks (regular hours, trading from 2025-08-01 to the end of
the bars after May-July of warm-up).

Vectorised: the 1,000 sets (random windows, fast 2-60 < slow 10-300 bars, seed 0) in one `run_vectorized` call
(vectorbt calls of 16 sets x 64 symbols each), signals included. Event-driven: the same kind of run, one set at a
time through `run_backtest` with the parity settings (the rules the vectorised path does not model out of the way, so
both do the same work and send the same orders; the look-ahead check off, as it is in the vectorised path), timed on
EVENT_SAMPLE of the 1,000 sets and extrapolated to all of them. The ratio is the extrapolated event-driven time over
the vectorised time; the same with CPU seconds (process time), which a busy shared machine disturbs less.
"""
from __future__ import annotations
import time

import numpy as np

from harness import benchmark

N_SETS, EVENT_SAMPLE, START = 1000, 3, "2025-08-01"


def _panel():
    from alphatrade.core.config import load_universe
    from alphatrade.data.panel import panel_from_bars
    from alphatrade.data.preprocess import filter_regular_hours
    from alphatrade.data.sample import real_bars
    return panel_from_bars(filter_regular_hours(real_bars()), sectors=load_universe())


@benchmark("research.vectorized_1000_ma_crossover_64")
def sweep_1000(timer):
    from alphatrade.backtest.engine import run_backtest
    from alphatrade.research.optimize import random_sets
    from alphatrade.research.vectorized import PARITY_CONFIG, PARITY_PRETRADE, PARITY_RISK, prepare, run_vectorized
    from alphatrade.trading.strategy import MACrossover
    p = _panel()
    sets = random_sets(N_SETS, seed=0, valid=lambda fast, slow: fast < slow, fast=(2, 60), slow=(10, 300))
    c0 = time.process_time()
    with timer("vectorized_prepare"):
        prep = prepare(p, START, None, PARITY_CONFIG.jump_band)
    with timer("vectorized_1000"):
        vr = run_vectorized(p, [MACrossover(**s) for s in sets], start=START, config=PARITY_CONFIG, risk=PARITY_RISK, prep=prep)
    vcpu = time.process_time() - c0
    ev_secs, ev_cpu, agree = [], [], []
    for k in np.linspace(0, N_SETS - 1, EVENT_SAMPLE).astype(int):
        t0, c0 = time.perf_counter(), time.process_time()
        r = run_backtest(p, MACrossover(**sets[k]), start=START, config=PARITY_CONFIG, risk=PARITY_RISK, pretrade=PARITY_PRETRADE, benchmark=None)
        ev_secs.append(time.perf_counter() - t0); ev_cpu.append(time.process_time() - c0)
        agree.append(bool(vr.stats.orders.iloc[k] == len(r.fills)) and abs(vr.stats.final_equity.iloc[k] / r.equity.iloc[-1] - 1) < 0.005)
    vsecs = timer.phases["vectorized_prepare"] + timer.phases["vectorized_1000"]
    del timer.phases["vectorized_prepare"]  # the event-driven runs are not part of the measured time: they are extrapolated
    timer.phases["vectorized_1000"] = vsecs
    extrapolated = float(np.mean(ev_secs)) * N_SETS
    return {"sets": N_SETS, "symbols": len(p.symbols), "bars": len(vr.equity), "vectorized_seconds": vsecs,
            "vectorized_sets_per_sec": N_SETS / vsecs, "event_driven_seconds_per_set": float(np.mean(ev_secs)),
            "event_driven_sample": EVENT_SAMPLE, "event_driven_1000_extrapolated_seconds": extrapolated,
            "speedup": extrapolated / vsecs, "vectorized_cpu_seconds": vcpu, "event_driven_cpu_seconds_per_set": float(np.mean(ev_cpu)),
            "speedup_cpu": float(np.mean(ev_cpu)) * N_SETS / vcpu, "sample_sets_agree": all(agree), "orders_total": int(vr.stats.orders.sum())}
