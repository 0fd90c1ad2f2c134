"""The engine writes through the repositories when a database is configured: a backtest on SQLite and on the real
PostgreSQL leaves every order (with its final state), every fill, the signal behind every order, every risk
refusal and the positions at each session start in the database, and they agree with the in-memory result."""
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa

from alphatrade.backtest.engine import run_backtest
from alphatrade.core.config import RiskSettings
from alphatrade.data.panel import panel_from_bars
from alphatrade.data.synthetic import generate_market
from alphatrade.infra.db import OrderRow, RiskEventRow, SignalRow, TradeRow
from alphatrade.infra.repository import OrderRepository, PositionRepository, engine_repositories
from alphatrade.risk.limits import MonitorConfig, PreTradeConfig
from alphatrade.trading.strategy import MACrossover, SignalWeight


def _count(db, row):
    with db.session() as s: return s.scalar(sa.select(sa.func.count()).select_from(row))


def test_backtest_persists_orders_fills_signals_risk_events(db):
    universe = {s: ("A" if i < 3 else "B") for i, s in enumerate(["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"])}
    p = panel_from_bars(generate_market(seed=9, start="2025-03-03", end="2025-03-21", universe=universe), sectors=universe)
    r = run_backtest(p, MACrossover(5, 20, sizer=SignalWeight(max_weight=0.10)), start="2025-03-05", repositories=engine_repositories(db),
                     risk=RiskSettings(max_portfolio_positions=2), pretrade=PreTradeConfig(max_sector_pct=0.12),
                     monitor=MonitorConfig(max_consecutive_losses=10**6))
    # sizing keeps the book within the 2 positions (the strongest two), so the refusals come from the sector limit (12%: one name per sector)
    assert len(r.orders) > 10 and len(r.refusals) > 0, "the run should both trade and be refused (one name per sector)"
    # orders: every one, with its final state and fill
    assert _count(db, OrderRow) == len(r.orders)
    repo = OrderRepository(db)
    for o in r.orders.itertuples():
        stored = repo.get(o.client_order_id)
        assert (stored.status.value, float(stored.filled_qty), stored.symbol, stored.side.value) == (o.status, o.filled_qty, o.symbol, o.side)
    # fills: every one, same quantities and prices
    assert _count(db, TradeRow) == len(r.fills)
    with db.session() as s:
        rows = s.execute(sa.select(TradeRow.client_order_id, TradeRow.qty, TradeRow.price)).all()
    got = sorted((c, Decimal(q), Decimal(pr)) for c, q, pr in rows)
    want = sorted((f.client_order_id, Decimal(repr(f.qty)), Decimal(repr(f.price))) for f in r.fills.itertuples())
    assert [(c, float(q), float(pr)) for c, q, pr in got] == [(c, float(q), float(pr)) for c, q, pr in want]
    # the signal that produced each sent order; each refusal as a risk event
    assert _count(db, SignalRow) == len(r.orders)
    assert _count(db, RiskEventRow) == len(r.refusals)
    with db.session() as s:
        kinds = set(s.scalars(sa.select(RiskEventRow.kind)))
    assert kinds <= {"max_positions", "position_limit", "sector_limit", "buying_power", "max_open_orders", "price_band", "short_sale"}
    assert "sector_limit" in kinds
    # positions: the latest snapshot holds at most the allowed number of names
    assert 0 < len(PositionRepository(db).latest()) <= 2
    # fill ids are the order's cumulative filled quantity: unique, and the same for the same fill after a restart
    with db.session() as s:
        ids = list(s.scalars(sa.select(TradeRow.fill_id)))
    assert len(set(ids)) == len(ids) == len(r.fills) and all(i.startswith(tuple(r.orders.client_order_id)) for i in ids)
