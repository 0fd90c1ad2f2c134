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
