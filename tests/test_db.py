"""Persistence on BOTH engines: a SQLite file and the real PostgreSQL server (127.0.0.1:5432, database `test`).
Each PostgreSQL test runs in a fresh schema of its own, dropped afterwards."""
import os
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from alphatrade.core.errors import DataValidationError, InvalidTransitionError, InvalidValueError
from alphatrade.core.types import Fill, Order, OrderStatus, Position, RiskEvent, TradeSignal
from alphatrade.data.synthetic import generate_market
from alphatrade.infra import db as dbm
from alphatrade.infra.bars import BarRepository
from alphatrade.infra.repository import (Database, KillSwitchRepository, OrderRepository, PositionRepository,
                                         RiskEventRepository, RunRepository, SignalRepository, TradeRepository)

from conftest import PG_URL  # the fixtures url_schema and db (SQLite and PostgreSQL) live in conftest.py
T0 = datetime(2025, 6, 2, 14, 0, tzinfo=timezone.utc)


def test_upgrade_downgrade_upgrade_and_schema_matches_models(url_schema):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    url, schema = url_schema
    dbm.upgrade(url, schema=schema)
    assert dbm.status(url, schema=schema)["up_to_date"]
    dbm.downgrade(url, schema=schema)
    st = dbm.status(url, schema=schema)
    assert st["current"] is None and not st["up_to_date"]
    dbm.upgrade(url, schema=schema)
    d = Database(url, schema=schema)
    with d.engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), dbm.Base.metadata)
        tables = set(sa.inspect(c).get_table_names())
    d.dispose()
    assert diff == []
    assert {"bars", "orders", "trades", "positions", "signals", "risk_events", "runs", "kill_switch"} <= tables


def test_orders_write_ahead_transitions_and_errors(db):
    repo = OrderRepository(db)
    o = repo.create(Order("AAPL", "buy", "12.5", type="limit", limit_price="190.12345678"), at=T0)
    assert repo.get(o.client_order_id).limit_price == Decimal("190.12345678")
    with pytest.raises(InvalidValueError, match="already exists"):
        repo.create(o)
    repo.transition(o.client_order_id, "submitted", broker_order_id="b-1")
    with pytest.raises(InvalidTransitionError, match="submitted -> pending"):
        repo.transition(o.client_order_id, "pending")
    with pytest.raises(InvalidValueError):  # more filled than ordered: rolled back
        repo.transition(o.client_order_id, "filled", filled_qty=13)
    got = repo.get(o.client_order_id)
    assert got.status == OrderStatus.SUBMITTED and got.filled_qty == 0 and got.broker_order_id == "b-1"
    with pytest.raises(InvalidValueError, match="does not fit DECIMAL"):
        repo.create(Order("AAPL", "buy", Decimal("1e12")))
    with db.session() as s:
        assert s.scalar(sa.text("select count(*) from orders")) == 1  # nothing half-written
    repo.transition(o.client_order_id, "filled", filled_qty="12.5", filled_avg_price="190.1")
    assert repo.open_orders() == []


def test_fills_positions_signals_risk_runs_killswitch(db):
    o = OrderRepository(db).create(Order("MSFT", "sell", 3))
    tr = TradeRepository(db)
    f = Fill(o.client_order_id, "MSFT", "sell", 3, "410.55", T0, "0.02")
    assert tr.record(f, fill_id="e1") is True and tr.record(f, fill_id="e1") is False
    with pytest.raises(InvalidValueError, match="unknown order"):
        tr.record(Fill("nope", "MSFT", "sell", 1, 1, T0))
    assert tr.for_order(o.client_order_id) == [f]
    pr = PositionRepository(db)
    pr.snapshot([Position("MSFT", -3, "410.55", "409")], T0)
    pr.snapshot([Position("MSFT", -3, "410.55", "411"), Position("AAPL", 5, 190)], T0.replace(hour=15))
    assert set(pr.latest()) == {"MSFT", "AAPL"} and pr.latest()["MSFT"].market_price == Decimal("411")
    SignalRepository(db).add_many([TradeSignal("MSFT", T0, -0.5, 0.9, "reversal", {"z": 1.2})])
    assert SignalRepository(db).between(T0, T0.replace(hour=16))[0].metadata == {"z": 1.2}
    RiskEventRepository(db).add(RiskEvent(T0, "daily_loss", "warning", "down 3%", {"loss": 0.03}))
    assert RiskEventRepository(db).recent()[0].data == {"loss": 0.03}
    runs = RunRepository(db)
    runs.start("20260101-000000-x", "x", {"seed": 1}, {"git": "abc"})
    runs.finish("20260101-000000-x", {"sharpe": 1.5})
    assert runs.get("20260101-000000-x")["metrics"] == {"sharpe": 1.5}
    runs.note("20260101-000000-x", "adopted", {"at": T0.isoformat(), "positions": {"MSFT": ["0", "-3"]}})
    assert runs.get("20260101-000000-x")["provenance"] == {"git": "abc", "adopted": [{"at": T0.isoformat(), "positions": {"MSFT": ["0", "-3"]}}]}
    ks = KillSwitchRepository(db)
    ks.activate("max drawdown", at=T0)
    assert KillSwitchRepository(Database(str(db.engine.url.render_as_string(hide_password=False)), schema=db.schema)).state()["active"]
    ks.reset("ops lead")
    assert ks.state() == {"active": False, "reason": "reset", "activated_at": None, "reset_by": "ops lead"}


def test_kill_switch_per_run(db):
    """Each run id has its own kill switch: a halt of run A does not stop run B in the same database, a new process for A
    (a restart) still sees A's halt, and the database's own switch (no run id) stops every run."""
    url = db.engine.url.render_as_string(hide_password=False)
    a, b = KillSwitchRepository(db, "A"), KillSwitchRepository(db, "B")
    a.activate("daily loss 6% > 5%", at=T0)
    restarted = Database(url, schema=db.schema)
    assert KillSwitchRepository(restarted, "A").state() == {"active": True, "reason": "daily loss 6% > 5%", "activated_at": T0, "reset_by": None}
    assert not b.state()["active"] and not KillSwitchRepository(db).state()["active"]
    KillSwitchRepository(db).activate("operator: stop everything")
    assert b.state()["active"] and a.state()["reason"] == "operator: stop everything"
    b.reset("ops lead")
    assert not b.state()["active"] and KillSwitchRepository(restarted, "A").state()["active"]
    restarted.dispose()
    with db.session() as s:
        assert s.execute(sa.text("select run_id, active from kill_switch order by id")).all() == [("A", True), (None, True), ("B", False)]


def test_migration_0002_keeps_a_halt_written_under_0001(url_schema):
    "A database halted under revision 0001 (one switch for the database): after the upgrade the halt still stops every run; down and up again work with rows in the table."
    url, schema = url_schema
    dbm.upgrade(url, revision="0001", schema=schema)
    d = Database(url, schema=schema)
    with d.engine.begin() as c:
        if schema: c.exec_driver_sql(f'SET search_path TO "{schema}"')
        c.execute(sa.text("insert into kill_switch (active, reason, activated_at) values (:a, :r, :t)"), {"a": True, "r": "max drawdown", "t": T0})
    dbm.upgrade(url, schema=schema)
    assert dbm.status(url, schema=schema)["up_to_date"]
    assert KillSwitchRepository(d, "any_run").state()["reason"] == "max drawdown"
    KillSwitchRepository(d, "A").reset("ops lead")
    assert not KillSwitchRepository(d, "A").state()["active"] and KillSwitchRepository(d, "B").state()["active"]
    d.dispose()
    dbm.downgrade(url, revision="0001", schema=schema)
    dbm.upgrade(url, schema=schema)
    d = Database(url, schema=schema)
    with d.session() as s:
        assert s.execute(sa.text("select run_id, active, reason from kill_switch order by id")).all() == [(None, True, "max drawdown"), (None, False, "reset")]
    d.dispose()


def test_bars_roundtrip_nan_refused_idempotent(db):
    bars = generate_market(seed=5, start="2025-06-02", end="2025-06-04", universe={"AAA": "X", "BBB": "Y", "CCC": "Y"})
    br = BarRepository(db)
    bad = bars.copy(); bad.loc[bad.index[7], "high"] = np.nan
    with pytest.raises(DataValidationError, match="column high: high is NaN"):
        br.ingest(bad)
    assert br.count() == 0
    first = bars[bars.timestamp < "2025-06-03"]
    assert br.ingest(first) == len(first)
    assert br.ingest(bars) == len(bars) - len(first)  # overlapping input: only the new bars go in
    assert br.ingest(bars) == 0
    back = br.read()
    pd.testing.assert_frame_equal(back, bars.reset_index(drop=True), check_dtype=False, rtol=1e-12)


def test_real_data_ingest_is_idempotent(db, shared_data):
    from alphatrade.data.loader import read_bars_dir
    frames = read_bars_dir(shared_data / "us15m")
    bars = pd.concat(frames, ignore_index=True)
    br = BarRepository(db)
    assert br.ingest(bars) == len(bars) > 450_000
    assert br.ingest(bars) == 0
    assert br.count() == len(bars)
    aapl = br.read(["AAPL"])
    src = frames[[f.symbol.iloc[0] for f in frames].index("AAPL")].reset_index(drop=True)
    np.testing.assert_array_equal(aapl.close.to_numpy(), src.close.to_numpy())


def _pg_keys(d):
    with d.engine.connect() as c:
        return sorted(c.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'bars'").all())


@pytest.mark.parametrize("url_schema", ["postgresql"], indirect=True)  # PostgreSQL only: SQLite has no COPY (its ingest is tested above)
def test_pg_first_load_rebuilds_the_keys_and_keeps_utc_under_another_session_zone(url_schema):
    "A first load into an empty bars table drops and rebuilds its keys in the same transaction; timestamps stay UTC."
    url, schema = url_schema
    assert url.startswith("postgresql")
    d = Database(url, schema=schema).migrate()
    keys = _pg_keys(d)
    assert len(keys) == 2  # the primary key and ix_bars_timeframe_timestamp
    d.dispose()
    # a session whose default zone is New York: the naive-UTC CSV must not be read as New York time
    ny = Database(url, schema=schema)

    @sa.event.listens_for(ny.engine, "connect")
    def _new_york(conn, _):
        conn.autocommit = True; conn.execute("SET TimeZone TO 'America/New_York'"); conn.autocommit = False
    with ny.engine.connect() as c: assert c.exec_driver_sql("SHOW TimeZone").scalar() == "America/New_York"
    bars = generate_market(seed=9, start="2025-06-02", end="2025-06-03", universe={"AAA": "X", "BBB": "Y"})
    br = BarRepository(ny)
    assert br.ingest(bars) == len(bars)
    assert _pg_keys(ny) == keys
    back = br.read()
    pd.testing.assert_series_equal(back.timestamp, bars.timestamp.reset_index(drop=True), check_names=False)
    with ny.engine.connect() as c:  # the stored instant, read as UTC text
        first = c.exec_driver_sql("SELECT to_char(min(timestamp) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM bars").scalar()
    assert first == bars.timestamp.min().strftime("%Y-%m-%d %H:%M")
    # a duplicate bar inside a first load fails when the key is rebuilt, and leaves nothing behind, keys intact
    with ny.engine.begin() as c: c.exec_driver_sql("DELETE FROM bars")
    dup = pd.concat([bars, bars.iloc[[3]]], ignore_index=True)
    with pytest.raises(Exception, match="(?i)duplicate|unique"):
        br.ingest(dup)
    assert br.count() == 0 and _pg_keys(ny) == keys
    ny.dispose()


def test_batch_one_transaction_write_ahead_committed_first(db, url_schema):
    """`Database.batch` (the live step's writes) on both engines: the write-ahead rows are visible to another connection before
    the block goes on, the rest only once the batch commits; a refused transition or a replayed fill inside leaves the batch
    intact; a batch whose block raises still commits what it wrote."""
    url, schema = url_schema
    other = Database(url, schema=schema); look, trades = OrderRepository(other), TradeRepository(other)
    repo, tr = OrderRepository(db), TradeRepository(db)
    try:
        with db.batch():
            repo.create_many([Order("AAPL", "buy", 5, client_order_id="s-1", status="submitted"),
                              Order("MSFT", "sell", 2, client_order_id="s-2", status="submitted")], T0)
            assert look.get("s-1").status == OrderStatus.SUBMITTED  # committed before any submit could go out
            repo.transition("s-1", "accepted", at=T0)
            with pytest.raises(InvalidTransitionError): repo.transition("s-1", "pending", at=T0)
            with pytest.raises(InvalidValueError): repo.transition("s-2", "filled", filled_qty=3, at=T0)  # 3 > 2
            repo.transition("s-1", "filled", filled_qty=5, filled_avg_price="190.5", at=T0)
            assert tr.record(Fill("s-1", "AAPL", "buy", 5, "190.5", T0), fill_id="s-1-5") is True
            assert tr.record(Fill("s-1", "AAPL", "buy", 5, "190.5", T0), fill_id="s-1-5") is False  # replayed
            with pytest.raises(InvalidValueError, match="s-2"): repo.create(Order("MSFT", "sell", 2, client_order_id="s-2"))
            assert repo.get("s-1").status == OrderStatus.FILLED  # this thread sees its batch
            assert look.get("s-1").status == OrderStatus.SUBMITTED and trades.for_order("s-1") == []  # others: not yet
        assert look.get("s-1").status == OrderStatus.FILLED and look.get("s-2").status == OrderStatus.SUBMITTED
        assert [f.qty for f in trades.for_order("s-1")] == [Decimal(5)]
        with pytest.raises(RuntimeError):
            with db.batch(): repo.transition("s-2", "cancelled", at=T0); raise RuntimeError("the step failed")
        assert look.get("s-2").status == OrderStatus.CANCELLED
    finally:
        other.dispose()
