"""Execution algorithms with their persistence on BOTH engines (SQLite file and the real PostgreSQL at 127.0.0.1:5432):
a parent survives its desk dying mid-schedule without a duplicated child; the kill switch stops every algorithm."""
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from alphatrade.execution.algos_base import ALGOS, ExecutionDesk, ParentOrder, drive, flat_panel
from alphatrade.execution.broker import CostModel, SimBroker
from alphatrade.execution.vwap import volume_profile
from alphatrade.infra.db import ParentOrderRow
from alphatrade.infra.parents import ParentStore, resume
from alphatrade.risk.limits import KillSwitch
import alphatrade.execution.twap, alphatrade.execution.shortfall, alphatrade.execution.adaptive  # noqa: F401 (register)

PANEL = flat_panel()
PARAMS = {"twap": {"jitter": 0.2}, "vwap": {"profile": volume_profile(flat_panel("2025-02-24", "2025-02-28"))},
          "is": {"risk_aversion": 0.1, "sigma": 1.0, "eta": 1.0}, "adaptive": {"base_rate": 0.08}, "market": {}}


def _broker(): return SimBroker(cash=10_000_000, costs=CostModel.none(), slippage_bps=0, impact=0, participation=0.10)
def _parent(algo): return ParentOrder(parent_id=f"p-{algo}", symbol="AAA", side="buy", qty=3000, algorithm=algo, params=PARAMS[algo],
                                      start=PANEL.timestamps[2], deadline=PANEL.timestamps[9] + pd.Timedelta("15min"), arrival_price=100)


@pytest.mark.parametrize("algo", ["twap", "vwap", "is", "adaptive"])
def test_parent_survives_a_dead_desk_without_a_duplicate_child(db, algo):
    store, broker = ParentStore(db), _broker()
    ref = ExecutionDesk(_broker()); r = ref.add(_parent(algo)); drive(ref, PANEL)  # the same parent never interrupted
    desk = ExecutionDesk(broker, store=store); desk.add(_parent(algo))
    drive(desk, PANEL, 0, 5)
    desk.step(PANEL.timestamps[5].to_pydatetime(), {"AAA": {"volume": 10_000.0, "price": 100.0, "range": 0.0}})  # a child sent, then the desk dies
    del desk
    broker.subscribe(None, None)
    broker.process_bar(PANEL.timestamps[5].to_pydatetime(), {"AAA": (100.0, 100.0, 100.0, 100.0, 10_000.0)})
    d2 = ExecutionDesk(broker, store=store)
    (a,) = resume(store, d2)
    drive(d2, PANEL, 6)
    ids = [o.client_order_id for o in store.orders.all(prefix=f"p-{algo}-")]
    assert len(ids) == len(set(ids)) == a.sent and sorted(broker.orders) == ids
    assert sum(f.qty for f in store.trades.all(prefix=f"p-{algo}-")) == a.filled == r.filled  # as if it had never stopped
    assert [f.qty for f in a.fills] == [f.qty for f in r.fills]
    with db.session() as s:
        row = s.get(ParentOrderRow, f"p-{algo}")
        assert (row.status, row.filled, row.children) == (r.status, r.filled, r.sent)


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_kill_switch_stops_every_algorithm_mid_schedule(algo):
    ks, b = KillSwitch(), _broker()
    desk = ExecutionDesk(b, kill_switch=ks); a = desk.add(_parent(algo))
    drive(desk, PANEL, 0, 4)
    sent = desk.step(PANEL.timestamps[4].to_pydatetime(), {"AAA": {"volume": 10_000.0, "price": 100.0, "range": 0.0}})
    ks.activate("test", PANEL.timestamps[4].to_pydatetime())
    before = (a.filled, a.sent)
    drive(desk, PANEL, 4)
    assert a.status == "halted" and (a.filled, a.sent) == before and not a.open_children()
    assert all(not o.is_open for o in b.orders.values())
    assert 0 < a.filled < a.parent.qty, (algo, a.filled)


def test_engine_kill_switch_halts_parents_mid_schedule():
    "A backtest with TWAP parents whose kill switch fires (a 2% drawdown limit): no child after it, every parent stopped."
    from alphatrade.backtest.engine import BacktestConfig, run_backtest
    from alphatrade.backtest.tca import algo_frames
    from alphatrade.core.config import RiskSettings, load_universe
    from alphatrade.data.panel import panel_from_bars
    from alphatrade.data.preprocess import filter_regular_hours
    from alphatrade.data.sample import sample_frames
    from alphatrade.trading.execution import ExecutionPolicy
    from alphatrade.trading.strategy import MomentumStrategy
    b = pd.concat([filter_regular_hours(f) for f in sample_frames("us15m")])
    p = panel_from_bars(b[(b.timestamp >= "2025-08-18") & (b.timestamp < "2025-10-14")], sectors=load_universe())
    r = run_backtest(p, MomentumStrategy(), start="2025-09-15", end="2025-10-11", config=BacktestConfig(cash=1e6, verify_causal=0), benchmark=None,
                     risk=RiskSettings(max_portfolio_positions=50, max_drawdown_pct=0.02), execution=ExecutionPolicy(algorithm="twap", bars=52))
    at = pd.Timestamp(r.kill_switch["at"])
    assert r.kill_switch["active"] and at < pd.Timestamp("2025-10-10", tz="UTC")
    P, _ = algo_frames(r.desk)
    assert "halted" in set(P.status) and set(P.status) <= {"done", "halted", "expired"}  # expired: children refused (buying power) until the deadline
    kids = r.orders[r.orders.client_order_id.str.rsplit("-", n=1).str[0].isin(P.parent_id)]
    assert (pd.to_datetime(kids.created_at, utc=True) <= at).all()  # no child after the kill switch
    assert not r.orders.status.isin(["submitted", "accepted", "partially_filled"]).any()


# --------------------------------------------------------------------------------------------------- the daemon: parity and a SIGKILL
# The daemon against the simulator (the helpers of tests/test_live.py): the simulator fills with the backtest's intra-bar model
# (fills="intrabar" = run_backtest(fill_model="intrabar")), so the children and their fills must be the backtest's, one for one.

import os, signal, subprocess, sys, threading, time
from pathlib import Path

from test_live import AGREE, HISTORY, SYMBOLS20, fills_of, free_port, ledger_positions, parity, problems, real_panel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _policy(algo, panel, start, bars=8):
    from alphatrade.trading.execution import ExecutionPolicy
    params = {"profile": volume_profile(panel.rows(0, panel.loc_of(start - pd.Timedelta(1, "ns")) + 1))} if algo == "vwap" else {}
    return ExecutionPolicy(algorithm=algo, params=params, bars=bars)  # the VWAP profile of the bars before start, as run_backtest makes it


def _parents(db, run_id) -> pd.DataFrame:
    with db.session() as s:
        rows = s.scalars(sa.select(ParentOrderRow).where(ParentOrderRow.parent_id.startswith(run_id + "-"))).all()
        return pd.DataFrame([(r.parent_id, r.symbol, r.side, float(r.qty), r.status, float(r.filled), r.children) for r in rows],
                            columns=["parent_id", "symbol", "side", "qty", "status", "filled", "children"])


@pytest.mark.parametrize("algo", ["twap", "vwap"])
def test_daemon_children_parity(shared_data, tmp_path, algo):
    """Momentum on 20 real stocks for a week, every order worked by TWAP / VWAP over 8 bars: the daemon (in this process) against
    the simulator places the backtest's children (symbol, side, qty, bar), gets their fills (price to 1/100 cent, bar) and ends
    with its positions; the parents' rows agree with the backtest's desk."""
    from alphatrade.apps.live_ops import orders_of, run_in_thread
    from alphatrade.adapters.alpaca.config import AlpacaEndpoints
    from alphatrade.adapters.alpaca.execution import AlpacaBroker
    from alphatrade.adapters.alpaca.sandbox.server import AlpacaSimulator
    from alphatrade.backtest.engine import BacktestConfig, run_backtest
    from alphatrade.backtest.tca import algo_frames
    from alphatrade.core.config import load_settings, load_universe
    from alphatrade.infra.repository import Database
    from alphatrade.live import LiveConfig, LiveDaemon
    from alphatrade.trading.strategy import builtin_strategy
    panel, start = real_panel(shared_data, "2025-09-15", "2025-09-19", SYMBOLS20)
    pol, uni, name = _policy(algo, panel, start), load_universe(), f"algo{algo}"
    bt = run_backtest(panel, builtin_strategy("momentum"), start=start, config=BacktestConfig(run_id="bt"), risk=load_settings().risk, benchmark=None,
                      execution=pol, fill_model="intrabar")
    sim = AlpacaSimulator(panel, start=start, check_buying_power=False, rate_limit=10**6, fills="intrabar")
    with sim.running():
        db = Database(f"sqlite:///{tmp_path}/{name}.db").migrate()
        broker = AlpacaBroker(AlpacaEndpoints.simulator(sim.url), rate_limit=10**6)
        lc = LiveConfig(symbols=panel.symbols, run_id=name, drive=True, grace=0.3, poll=0.3, history=HISTORY, health_port=None, execution=pol)
        dmn = run_in_thread(LiveDaemon(lc, broker, builtin_strategy("momentum"), db, risk=load_settings().risk,
                                       sectors={s: uni[s] for s in panel.symbols if s in uni}), timeout=600)
        orders, fills, par = orders_of(db, name), fills_of(db, name), _parents(db, name)
        sim_pos = {s: p.qty for s, p in sim.broker.positions().items()}
        assert problems(sim, db, name, {s: q for s, q, _ in dmn.engine.om.tracker.held()}) == []
        assert ledger_positions(db, name) == sim_pos
        db.dispose()
    P, _ = algo_frames(bt.desk)
    kids = orders.client_order_id.str.rsplit("-", n=1).str[0].isin(par.parent_id)
    print(f"\n{algo} parity: daemon {len(par)} parents, {kids.sum()} children, {len(fills)} fills; backtest {len(P)} parents, {len(bt.orders)} orders, {len(bt.fills)} fills")
    assert len(P) >= 10 and kids.sum() >= 3 * len(P), "too few parents or children for the comparison to mean something"
    assert dmn.steps == len(panel.between(start))
    assert parity(orders, fills, sim_pos, bt) == AGREE
    want = sorted((a.parent.symbol, a.parent.side.value, float(a.parent.qty), a.status, float(a.filled), a.sent) for a in bt.desk.algos.values())
    assert sorted(zip(par.symbol, par.side, par.qty, par.status, par.filled, par.children)) == want
    # the comparison can fail: one child one share short
    off = orders.copy(); off.loc[off.index[kids.to_numpy()][0], "qty"] -= 1
    assert parity(off, fills, sim_pos, bt)["orders"] != []


def test_parent_survives_daemon_sigkill(shared_data, tmp_path, forked):
    """`alphatrade live --algo twap --drive` (a process, stepping the simulator after each decision; the simulator fills with
    fills="intrabar"): SIGKILLed while a TWAP parent is mid-schedule with a child out at the simulator; the market moves one bar
    while it is down; restarted, it resumes the parent (the reconciliation report names it) and works it on to the end of the
    replay. The simulator's orders: no child twice, every fill in the ledger, the positions equal; the parent's children are
    numbered on from where it stopped, its fills agree with its row, and it finished: done, or expired with its remainder
    reported (on these bars: its last child refused by the 10% position limit once the price had risen). Both daemons are processes
    forked from tests/live_forkserver.py (conftest's `forked`: the daemon's imports, ~1.7 s of CPU a start, paid once per pytest
    worker), as tests/test_live.py's; ALPHATRADE_NB_FORK=0 starts `python -m alphatrade.live` itself."""
    import requests
    from alphatrade.adapters.alpaca.sandbox.server import AlpacaSimulator
    from alphatrade.adapters.alpaca.sandbox.wire import OPEN_STATUSES
    from alphatrade.infra.repository import Database, OrderRepository, TradeRepository
    symbols = ["AAPL", "AMD", "AMZN", "META", "MSFT", "NVDA", "ORCL", "TSLA"]
    panel, start = real_panel(shared_data, "2025-09-15", "2025-09-16", symbols)
    db_url, port, run = f"sqlite:///{tmp_path}/kill.db", free_port(), "kill"
    cmd = [sys.executable, "-m", "alphatrade.live", "--mode", "sim", "--symbols", ",".join(symbols), "--strategy", "ma_crossover", "--fast", "5",
           "--slow", "20", "--run-id", run, "--db", db_url, "--grace", "0.2", "--poll", "0.2", "--history", str(HISTORY), "--health-port", str(port),
           "--rate-limit", "1000000", "--quiet", "--algo", "twap", "--algo-bars", "8", "--drive"]
    def health():
        try: return requests.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
        except Exception: return {}
    def wait_running(p, secs=120):
        t0 = time.monotonic()
        while (h := health()).get("status") != "running":
            if p.poll() is not None: pytest.fail(f"the daemon exited ({p.returncode})")
            assert time.monotonic() - t0 < secs, "the daemon did not start"
            time.sleep(0.05)
        return h
    sim = AlpacaSimulator(panel, start=start, check_buying_power=False, rate_limit=10**6, fills="intrabar")
    logs = [tmp_path / f"daemon{k}.log" for k in range(2)]
    def start(k):  # stderr to a file, not a pipe: a full pipe would block the daemon
        if forked is not None:
            p = forked.popen(cmd[3:] + ["--sim-url", sim.url]); logs[k] = Path(p._err); return p
        with open(logs[k], "w") as f: return subprocess.Popen([*cmd, "--sim-url", sim.url], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=f)
    with sim.running():
        db = Database(db_url)
        p = start(0)
        wait_running(p)
        victim, t0 = None, time.monotonic()
        while victim is None:  # a TWAP parent mid-schedule: working, two children or more sent, one open at the simulator
            assert p.poll() is None and time.monotonic() - t0 < 180, f"no parent was caught mid-schedule: {_parents(db, run)}"
            time.sleep(0.02)
            try:
                par = _parents(db, run)
                cand = set(par[(par.status == "working") & (par.children >= 2)].parent_id)
                out = [pid for r in sim.orders() if (pid := r.client_order_id.rsplit("-", 1)[0]) in cand
                       and r.status_of(sim.exchange.order_of(r)) in OPEN_STATUSES]
            except Exception: continue  # the daemon is writing, or the simulator's book changed while it was read: look again
            if out: victim = out[0]; os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
        row0 = _parents(db, run).set_index("parent_id").loc[victim]
        sent_before = {r.client_order_id for r in sim.orders() if r.client_order_id.startswith(victim + "-")}
        sim.advance()  # the market moves on while the daemon is down: the open child may fill there
        p = start(1)
        h = wait_running(p)
        resumed = h["reconciliation"].get("parents_resumed", [])
        rc = p.wait(300)  # --drive: the daemon steps the replay to its end, then stops
        assert rc == 0, (rc, logs[1].read_text()[-3000:])
        found = problems(sim, db, run, ledger_positions(db, run))
        par = _parents(db, run).set_index("parent_id")
        kids = OrderRepository(db).all(victim + "-")
        fills = TradeRepository(db).all(victim + "-")
        at_sim = [r.client_order_id for r in sim.orders() if r.client_order_id.startswith(victim + "-")]
        db.dispose()
    v = par.loc[victim]
    print(f"\nkilled with {victim} at {row0.filled:g}/{row0.qty:g} after {row0.children} children; resumed {resumed}; it ended {v.status} "
          f"at {v.filled:g}/{v.qty:g} after {v.children} children; {len(par)} parents in the run")
    assert victim in resumed, resumed
    assert found == [], found
    assert len(at_sim) == len(set(at_sim)) == v.children == len(kids) and set(at_sim) == {o.client_order_id for o in kids}  # no child twice
    assert [o.client_order_id for o in kids] == [f"{victim}-{k:03d}" for k in range(len(kids))]  # numbered on from where it stopped
    assert len(at_sim) > len(sent_before), "the resumed parent sent no child"
    assert float(sum(f.qty for f in fills)) == v.filled == float(sum(o.filled_qty for o in kids)) <= v.qty
    assert v.status == "done" and v.filled == v.qty or v.status == "expired" and v.filled < v.qty, v


# --------------------------------------------------------------------------------------------------- the TCA notebook stays fresh

TCA_NB = ROOT / "nbs" / "84_backtest.tca.ipynb"


def test_tca_notebook_has_its_outputs_and_a_check():
    """nbs/84's real-data comparison keeps its outputs in git, and one cell's printed table is checked against them by the
    notebook's own tests (tests/test_notebooks.py runs them): a hidden cell right after it compares the table, as printed,
    with the stored output, character for character. (tests/test_execalgo.py re-ran the whole notebook under nbval for that
    one comparison: the four weeks of backtests and replays twice per `make test`, ~10 s of CPU and a kernel start.)"""
    import json
    cells = [c for c in json.loads(TCA_NB.read_text())["cells"] if c["cell_type"] == "code"]
    checked = [c for c in cells if "".join(c["source"]).startswith("# NBVAL_CHECK_OUTPUT")]  # (the comparison cell names the marker too)
    assert checked and all(c["outputs"] for c in checked), "execute nbs/84_backtest.tca.ipynb and commit its outputs"
    text = "".join("".join(o.get("text", "")) for c in checked for o in c["outputs"])
    assert "twap x1" in text and "vwap x1" in text and "market x1" in text and "through the engine" in text, text[:500]
    # the comparison: the cell after the checked one reads the stored output of the cell that starts with the marker and compares
    # it with what was just printed (`checked`)
    assert len(checked) == 1 and "print(checked)" in "".join(checked[0]["source"])
    after = "".join(cells[cells.index(checked[0]) + 1]["source"])
    assert 'startswith("# NBVAL_CHECK_OUTPUT")' in after and 'test_eq(' in after and 'checked + "\\n")' in after, after
