"""The Alpaca simulator against the real alpaca-py clients, over real HTTP and websockets.

Every REST call of the wire reference is exercised, both streams are read (with the SDK's stream classes and
with a bare `websockets` client for the protocol's details), fills are compared with a SimBroker run over
the same bars, and every kind of fault is injected and observed.
"""
import asyncio
import json
import logging
import signal
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal

import msgpack
import pandas as pd
import pytest
import requests
import websockets

from alpaca.common.exceptions import APIError
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.live.stock import StockDataStream
from alpaca.data.requests import StockBarsRequest, StockLatestBarRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide as Side, QueryOrderStatus, TimeInForce as TIF
from alpaca.trading.models import TradeUpdate
from alpaca.trading.requests import (ClosePositionRequest, GetAssetsRequest, GetCalendarRequest, GetOrdersRequest, GetPortfolioHistoryRequest, LimitOrderRequest,
                                     MarketOrderRequest, ReplaceOrderRequest, StopLimitOrderRequest, StopOrderRequest)
from alpaca.trading.stream import TradingStream

from alphatrade.core.types import Order
from alphatrade.data.panel import panel_from_bars
from alphatrade.data.store import BarStore
from alphatrade.data.synthetic import generate_market
from alphatrade.execution.broker import SimBroker
from alphatrade.adapters.alpaca.data import sdk_reconnect_backoff
from alphatrade.adapters.alpaca.sandbox.server import AlpacaSimulator
from live_forkserver import first_line, spawn  # tests/live_forkserver.py: processes forked from conftest's `forked`

logging.getLogger("alpaca").setLevel(logging.CRITICAL)  # the SDK's streams log every (intended) drop
KEY, SECRET = "sim-key", "sim-secret"
M15 = TimeFrame(15, TimeFrameUnit.Minute)


@pytest.fixture(scope="module")
def bars():
    return generate_market(seed=1, start="2025-03-03", end="2025-03-07", universe={"AAA": "tech", "BBB": "energy"})


@pytest.fixture(scope="module")
def panel(bars):
    return panel_from_bars(bars)


@pytest.fixture
def sim(panel):
    with AlpacaSimulator(panel, start=panel.timestamps[3]).running() as s:
        yield s


def trading(sim, key=KEY, secret=SECRET, retry=0):
    tc = TradingClient(key, secret, url_override=sim.url)
    tc._retry, tc._retry_wait = retry, 0
    return tc


def data(sim):
    hc = StockHistoricalDataClient(KEY, SECRET, url_override=sim.url)
    hc._retry, hc._retry_wait = 0, 0
    return hc


def wait(cond, secs=10.0):
    end = time.monotonic() + secs
    while not cond() and time.monotonic() < end: time.sleep(0.02)
    return cond()


def api_error(fn) -> APIError:
    with pytest.raises(APIError) as e: fn()
    return e.value


def event(u) -> str: return getattr(u.event, "value", u.event)  # TradeUpdate.event is Union[TradeEvent, str]


def market(sym="AAA", qty=1, side=Side.BUY, tif=TIF.DAY, **kw):
    return MarketOrderRequest(symbol=sym, qty=qty, side=side, time_in_force=tif, **kw)


# --------------------------------------------------------------------------------------------------- REST

# (method, path pattern) of every call in the wire reference's table, and the data API's bars
REST_TABLE = [("GET", "/v2/account"), ("GET", "/v2/clock"), ("GET", "/v2/calendar"), ("GET", "/v2/positions"),
              ("GET", "/v2/positions/{sym}"), ("DELETE", "/v2/positions/{sym}"), ("DELETE", "/v2/positions"), ("POST", "/v2/orders"),
              ("GET", "/v2/orders"), ("GET", "/v2/orders/{id}"), ("GET", "/v2/orders:by_client_order_id"), ("DELETE", "/v2/orders/{id}"),
              ("DELETE", "/v2/orders"), ("PATCH", "/v2/orders/{id}"), ("GET", "/v2/assets/{sym}"), ("GET", "/v2/assets"),
              ("GET", "/v2/stocks/bars")]


def _pattern(path: str) -> str:
    parts = path.split("/")
    if len(parts) == 4 and parts[2] in ("orders", "positions", "assets") and parts[3]:
        return "/".join(parts[:3] + ["{id}" if parts[2] == "orders" else "{sym}"])
    return path


def test_every_rest_call(sim, panel):
    tc = trading(sim)
    acct = tc.get_account()
    assert (acct.status.value, acct.cash, acct.buying_power) == ("ACTIVE", "100000", "100000")
    clock = tc.get_clock()
    assert clock.is_open and clock.timestamp == panel.timestamps[3]
    cal = tc.get_calendar(GetCalendarRequest(start="2025-03-03", end="2025-03-07"))
    assert [(str(c.date), c.open.strftime("%H:%M"), c.close.strftime("%H:%M")) for c in cal][0] == ("2025-03-03", "09:30", "16:00")
    assert len(cal) == 5
    assets = tc.get_all_assets(GetAssetsRequest())
    assert [a.symbol for a in assets] == ["AAA", "BBB"]
    assert tc.get_asset("AAA").id == assets[0].id == tc.get_asset(str(assets[0].id)).id

    # every order type and time in force
    o1 = tc.submit_order(market("AAA", 10, client_order_id="m-1"))
    o2 = tc.submit_order(LimitOrderRequest(symbol="AAA", qty=5, side=Side.BUY, time_in_force=TIF.GTC, limit_price=1.0))
    o3 = tc.submit_order(StopOrderRequest(symbol="BBB", qty=2, side=Side.BUY, time_in_force=TIF.DAY, stop_price=1000.0))
    o4 = tc.submit_order(StopLimitOrderRequest(symbol="BBB", qty=2, side=Side.BUY, time_in_force=TIF.GTC, stop_price=1000.0, limit_price=1001.0))
    o5 = tc.submit_order(market("BBB", 3, tif=TIF.IOC))
    o6 = tc.submit_order(market("BBB", 1, tif=TIF.FOK))
    o7 = tc.submit_order(MarketOrderRequest(symbol="BBB", notional=100.5, side=Side.BUY, time_in_force=TIF.DAY))
    assert {o.status.value for o in (o1, o2, o3, o4, o5, o6, o7)} == {"new"}
    assert (o7.qty, o7.notional) == (None, "100.5")
    assert uuid.UUID(str(o1.id)) and o1.client_order_id == "m-1"
    assert (o2.type.value, o2.limit_price, o4.stop_price) == ("limit", "1", "1000")
    assert tc.get_order_by_id(o1.id).id == o1.id
    assert tc.get_order_by_client_id("m-1").id == o1.id
    assert len(tc.get_orders()) == 7  # default: open

    sim.advance()  # fills the market, ioc, fok and notional orders
    st = {o.id: tc.get_order_by_id(o.id).status.value for o in (o1, o2, o3, o4, o5, o6, o7)}
    assert [st[o.id] for o in (o1, o2, o3, o4, o5, o6, o7)] == ["filled", "new", "new", "new", "filled", "filled", "filled"]
    filled = tc.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED, direction="asc", nested=True, symbols=["BBB"], side=Side.BUY))
    assert [o.id for o in filled] == [o5.id, o6.id, o7.id]
    assert len(tc.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=2))) == 2
    assert tc.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, after=sim.now.to_pydatetime())) == []
    assert len(tc.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, until=sim.now.to_pydatetime()))) == 7

    # replace, cancel one, cancel all
    new2 = tc.replace_order_by_id(o2.id, ReplaceOrderRequest(qty=6, limit_price=1.5))
    assert (new2.qty, new2.limit_price, str(new2.replaces)) == ("6", "1.5", str(o2.id))
    assert tc.get_order_by_id(o2.id).status.value == "replaced"
    assert tc.cancel_order_by_id(o3.id) is None and tc.get_order_by_id(o3.id).status.value == "canceled"
    res = tc.cancel_orders()
    assert sorted(str(r.id) for r in res) == sorted([str(new2.id), str(o4.id)]) and {r.status for r in res} == {200}
    assert tc.get_orders() == []

    # positions: list, one, close part, close all
    ps = {p.symbol: p for p in tc.get_all_positions()}
    frac = Decimal(tc.get_order_by_id(o7.id).filled_qty)
    assert 1 < frac < 2 and frac == Decimal("100.5") / Decimal(str(panel.data["close"][2, 1])) // Decimal("1e-9") * Decimal("1e-9")
    assert (ps["AAA"].qty, ps["AAA"].side.value, Decimal(ps["BBB"].qty)) == ("10", "long", 4 + frac)
    assert tc.get_open_position("AAA").avg_entry_price == tc.get_order_by_id(o1.id).filled_avg_price
    c1 = tc.close_position("AAA", ClosePositionRequest(qty="4"))
    c2 = tc.close_position("AAA", ClosePositionRequest(percentage="50"))
    assert (c1.side.value, c1.qty, c2.qty) == ("sell", "4", "5")
    sim.advance()
    assert tc.get_open_position("AAA").qty == "1"
    closed = tc.close_all_positions(cancel_orders=True)
    assert sorted(r.symbol for r in closed) == ["AAA", "BBB"] and {r.status for r in closed} == {200}
    sim.advance()
    assert tc.get_all_positions() == []

    # historical bars, through the SDK's paging loop
    bs = data(sim).get_stock_bars(StockBarsRequest(symbol_or_symbols=["AAA", "BBB"], timeframe=M15, start=panel.timestamps[0].to_pydatetime()))
    assert {s: len(v) for s, v in bs.data.items()} == {"AAA": sim.cursor + 1, "BBB": sim.cursor + 1}

    seen = {(m, _pattern(p)) for m, p, status in sim.requests if status < 300}
    assert set(REST_TABLE) <= seen, set(REST_TABLE) - seen


def test_bars_paging_and_no_future(sim, panel):
    def get(**q):
        r = requests.get(sim.url + "/v2/stocks/bars", params=q, headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()
    # 3 published bars per symbol (cursor 2); a limit of 4 across both symbols pages AAA x3 + BBB x1, then BBB x2
    p1 = get(symbols="BBB,AAA", timeframe="15Min", limit=4)
    assert [len(p1["bars"]["AAA"]), len(p1["bars"]["BBB"])] == [3, 1] and p1["next_page_token"]
    p2 = get(symbols="BBB,AAA", timeframe="15Min", limit=4, page_token=p1["next_page_token"])
    assert list(p2["bars"]) == ["BBB"] and len(p2["bars"]["BBB"]) == 2 and p2["next_page_token"] is None
    assert [b["t"] for b in p1["bars"]["BBB"] + p2["bars"]["BBB"]] == [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in panel.timestamps[:3]]
    b = p1["bars"]["AAA"][0]
    assert set(b) == {"t", "o", "h", "l", "c", "v", "n", "vw"} and b["o"] == panel.data["open"][0, 0]
    # the future is never served, whatever `end` says; nothing -> {} not null
    assert sum(map(len, get(symbols="AAA", timeframe="15Min", end="2030-01-01T00:00:00Z")["bars"].values())) == 3
    assert get(symbols="AAA", timeframe="15Min", start="2025-03-04T00:00:00Z") == {"bars": {}, "next_page_token": None, "currency": "USD"}
    assert get(symbols="ZZZ", timeframe="15Min")["bars"] == {}
    assert [x["t"] for x in get(symbols="AAA", timeframe="15Min", sort="desc", limit=2)["bars"]["AAA"]] == \
           [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in panel.timestamps[2:0:-1]]
    sim.advance()
    assert len(get(symbols="AAA", timeframe="15Min")["bars"]["AAA"]) == 4
    # the SDK with a limit smaller than the data, and the latest bar
    hc = data(sim)
    got = hc.get_stock_bars(StockBarsRequest(symbol_or_symbols=["AAA", "BBB"], timeframe=M15, limit=5)).data
    assert sum(map(len, got.values())) == 5
    latest = hc.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols=["AAA"]))
    assert latest["AAA"].timestamp == panel.timestamps[3]
    e = api_error(lambda: hc.get_stock_bars(StockBarsRequest(symbol_or_symbols="AAA", timeframe=TimeFrame.Minute)))
    assert (e.status_code, e.code) == (422, 42210000) and "15Min" in e.message  # finer than the data: names what it serves


def test_clock_follows_the_calendar(panel):
    sim = AlpacaSimulator(panel, start=panel.timestamps[25])  # 15:45 on Monday: one bar to the close
    with sim.running():
        tc = trading(sim)
        assert tc.get_clock().is_open
        sim.advance()
        c = tc.get_clock()
        assert not c.is_open
        assert c.timestamp == pd.Timestamp("2025-03-03 16:00", tz="America/New_York")
        assert c.next_open == pd.Timestamp("2025-03-04 09:30", tz="America/New_York")
        assert c.next_close == pd.Timestamp("2025-03-04 16:00", tz="America/New_York")


# --------------------------------------------------------------------------------------------------- fills

def test_fills_equal_the_simbroker(panel):
    """Orders sent through the SDK fill exactly as the same orders given straight to a SimBroker over the same bars."""
    ref = SimBroker(cash=10_000_000, slippage_bps=5.0, impact=0.2, participation=0.05)
    sim = AlpacaSimulator(panel, start=panel.timestamps[3], cash=10_000_000, slippage_bps=5.0, impact=0.2, participation=0.05)
    plan = {3: [("AAA", "buy", 40_000, None), ("BBB", "buy", 300, 61.0)], 5: [("AAA", "sell", 1_000, None)], 6: [("BBB", "buy", 200, None)]}
    with sim.running():
        tc = trading(sim)
        for i in range(3, 12):
            for k, (s, side, q, lim) in enumerate(plan.get(i, [])):
                at = panel.timestamps[i].to_pydatetime()
                ref.submit(Order(s, side, q, "limit" if lim else "market", "gtc", limit_price=lim, client_order_id=f"{i}-{k}"), at)
                req = (LimitOrderRequest(symbol=s, qty=q, side=side, time_in_force=TIF.GTC, limit_price=lim) if lim else
                       MarketOrderRequest(symbol=s, qty=q, side=side, time_in_force=TIF.GTC))
                tc.submit_order(req.model_copy(update={"client_order_id": f"{i}-{k}"}))
            assert sim.now == panel.timestamps[i]
            sim.advance()
            ref.process_bar(panel.timestamps[i].to_pydatetime(), sim.bars_at(i), True, False)
        mine = sorted(((o.client_order_id, o.filled_qty, o.filled_avg_price) for o in tc.get_orders(GetOrdersRequest(status="all"))))
        acct = tc.get_account()
    theirs = sorted((o.client_order_id, o.filled_qty, o.filled_avg_price) for o in ref.orders.values())
    assert [(c, Decimal(q), Decimal(p) if p else None) for c, q, p in mine] == \
           [(c, q, p.quantize(Decimal("1e-9")).normalize() if p else None) for c, q, p in theirs]
    assert len(ref.fills) > 4 and any(f.qty < 40_000 for f in ref.fills if f.symbol == "AAA")  # participation split the big order
    assert Decimal(acct.cash) == ref.cash
    assert [(f.price, f.qty, f.timestamp) for f in sim.broker.fills] == [(f.price, f.qty, f.timestamp) for f in ref.fills]


def test_ioc_and_fok(panel):
    with AlpacaSimulator(panel, start=panel.timestamps[3], cash=10**8).running() as sim:
        tc = trading(sim)
        cap = int(panel.data["volume"][3, 1] * 0.10)
        fok = tc.submit_order(market("BBB", cap + 1, tif=TIF.FOK))
        ioc = tc.submit_order(market("BBB", cap + 1, tif=TIF.IOC))
        fok_ok = tc.submit_order(market("BBB", cap, tif=TIF.FOK))
        sim.advance()
        got = {o.id: (tc.get_order_by_id(o.id).status.value, tc.get_order_by_id(o.id).filled_qty) for o in (fok, ioc, fok_ok)}
        assert got == {fok.id: ("canceled", "0"), ioc.id: ("canceled", str(cap)), fok_ok.id: ("filled", str(cap))}


# --------------------------------------------------------------------------------------------------- errors

def test_error_bodies_parse_into_api_error(panel):
    with AlpacaSimulator(panel, start=panel.timestamps[3], rate_limit=11).running() as sim:
        tc = trading(sim)
        e = api_error(lambda: trading(sim, secret="nope").get_account())
        assert (e.status_code, e.code, e.message) == (401, 40110000, "request is not authorized")
        e = api_error(lambda: tc.submit_order(market("AAA", 10**6)))
        assert (e.status_code, e.code, e.message) == (403, 40310000, "insufficient buying power")
        assert Decimal(json.loads(str(e))["buying_power"]) == 100000 and Decimal(json.loads(str(e))["cost_basis"]) > 100000
        e = api_error(lambda: tc.submit_order(market("AAA", 6, Side.SELL)))
        assert (e.status_code, e.code, e.message) == (403, 40310000, "insufficient qty available for order (requested: 6, available: 0)")
        e = api_error(lambda: tc.get_order_by_id(uuid.uuid4()))
        assert (e.status_code, e.code, e.message) == (404, 40410000, "order not found")
        assert api_error(lambda: tc.get_open_position("AAA")).status_code == 404
        assert api_error(lambda: tc.get_asset("ZZZ")).code == 40410000
        e = api_error(lambda: tc.submit_order(market("ZZZ")))
        assert (e.status_code, e.code) == (422, 40010001)
        e = api_error(lambda: tc.submit_order(LimitOrderRequest(symbol="AAA", qty=1, side=Side.BUY, time_in_force=TIF.DAY, limit_price=290.123)))
        assert (e.status_code, e.code, e.message) == (422, 42210000, "invalid limit_price 290.123. sub-penny increment does not fulfill minimum pricing criteria")
        tc.submit_order(market(client_order_id="x"))
        e = api_error(lambda: tc.submit_order(market(client_order_id="x")))
        assert (e.status_code, e.code, e.message) == (422, 40010001, "client_order_id must be unique")
        e = api_error(lambda: tc.submit_order(market("AAA", 1.5, tif=TIF.GTC)))
        assert (e.status_code, e.code) == (422, 42210000)
        # the rate limit, 11 a minute: 10 requests so far (the 401 is not counted: its key is not known)
        r = requests.get(sim.url + "/v2/clock", headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}, timeout=5)
        assert r.status_code == 200 and r.headers["X-RateLimit-Limit"] == "11" and r.headers["X-RateLimit-Remaining"] == "0"
        e = api_error(lambda: tc.get_clock())
        assert (e.status_code, e.code) == (429, 42910000)
        h = e.response.headers
        assert h["X-RateLimit-Remaining"] == "0" and int(h["X-RateLimit-Reset"]) >= time.time()
        # 404 of an unknown endpoint is still an Alpaca body
        r = requests.get(sim.url + "/v2/nope/deeper", headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": "wrong"}, timeout=5)
        assert r.status_code == 401 and r.json()["code"] == 40110000


# --------------------------------------------------------------------------------------------------- faults

def test_fault_http_429_burst_is_retried_by_the_sdk(sim):
    sim.faults.set(http_429=3)
    tc = trading(sim, retry=3)
    assert tc.get_account().status.value == "ACTIVE"
    assert sim.faults.injected["http_429"] == 3
    assert [s for _, p, s in list(sim.requests)[-4:]] == [429, 429, 429, 200]


def test_fault_http_5xx_before_and_after(sim):
    tc = trading(sim)
    sim.faults.set(http_5xx=3)
    assert [api_error(tc.get_clock).status_code for _ in range(3)] == [500, 503, 504]
    assert tc.get_clock() and sim.faults.injected["http_5xx"] == 3
    assert api_error(lambda: (sim.faults.set(http_5xx=1), tc.submit_order(market(client_order_id="a")))[1]).code == 50010000
    assert sim.orders() == []  # before: nothing happened
    sim.faults.set(http_5xx_after=1)
    e = api_error(lambda: tc.submit_order(market(client_order_id="b")))
    assert e.status_code == 504 and sim.faults.injected["http_5xx_after"] == 1
    # after: the order exists; the retried submission is refused, not doubled
    assert api_error(lambda: tc.submit_order(market(client_order_id="b"))).message == "client_order_id must be unique"
    assert tc.get_order_by_client_id("b").status.value == "new" and len(tc.get_orders()) == 1


def test_fault_slow_responses(sim):
    sim.faults.set(slow=2, delay=0.4)
    tc = trading(sim)
    t0 = time.monotonic(); tc.get_clock(); assert time.monotonic() - t0 >= 0.4
    with pytest.raises(requests.exceptions.ReadTimeout):  # the SDK has no timeout: a client must set its own
        requests.get(sim.url + "/v2/clock", headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}, timeout=0.1)
    t0 = time.monotonic(); tc.get_clock(); assert time.monotonic() - t0 < 0.3
    assert sim.faults.injected["slow"] == 2


def test_fault_rejections(sim):
    tc = trading(sim)
    sim.faults.set(reject=1, reject_as=403)
    e = api_error(lambda: tc.submit_order(market()))
    assert (e.status_code, e.code, e.message) == (403, 40310000, "insufficient buying power") and "buying_power" in json.loads(str(e))
    sim.faults.set(reject=1, reject_as=422)
    assert api_error(lambda: tc.submit_order(market())).status_code == 422
    sim.faults.set(reject=1, reject_as="event")
    o = tc.submit_order(market(client_order_id="rej"))
    assert o.status.value == "rejected" and o.failed_at is not None
    assert tc.get_order_by_client_id("rej").status.value == "rejected"
    assert tc.submit_order(market()).status.value == "new"  # the faults are used up
    assert sim.faults.injected["reject"] == 3


def test_fault_partial_fills_and_trade_events(panel):
    """With partial_fill=1 every fill of 2+ shares arrives as partial_fill + fill; the events carry Alpaca's fields."""
    async def run(sim):
        async with websockets.connect(sim.trade_ws_url) as ws:
            await ws.send(json.dumps({"action": "authenticate", "data": {"key_id": KEY, "secret_key": SECRET}}))
            assert json.loads(await ws.recv()) == {"stream": "authorization", "data": {"status": "authorized", "action": "authenticate"}}
            await ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
            assert json.loads(await ws.recv()) == {"stream": "listening", "data": {"streams": ["trade_updates"]}}
            tc = trading(sim)
            await asyncio.to_thread(tc.submit_order, market("AAA", 10))
            await asyncio.to_thread(sim.advance)
            return [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3)]
    with AlpacaSimulator(panel, start=panel.timestamps[3]).running() as sim:
        sim.faults.set(partial_fill=1.0)
        msgs = asyncio.run(run(sim))
        pos = trading(sim).get_open_position("AAA").qty
    evs = [TradeUpdate(**m["data"]) for m in msgs]
    assert [event(e) for e in evs] == ["new", "partial_fill", "fill"]
    assert [(e.qty, e.position_qty, e.order.filled_qty, e.order.status.value) for e in evs[1:]] == \
           [(5.0, 5.0, "5", "partially_filled"), (5.0, 10.0, "10", "filled")]
    assert evs[1].price == evs[2].price == float(sim.broker.fills[0].price) and pos == "10"
    for m in msgs[1:]:
        d = m["data"]
        assert uuid.UUID(d["execution_id"]) and isinstance(d["price"], str) and d["timestamp"].endswith("Z")
        assert {"id", "client_order_id", "symbol", "qty", "filled_qty", "filled_avg_price", "status", "side", "type"} <= set(d["order"])
    assert sim.faults.injected["partial_fill"] == 1


def test_day_order_expires_at_the_close(panel):
    async def run(sim):
        async with websockets.connect(sim.trade_ws_url) as ws:
            await ws.send(json.dumps({"action": "authenticate", "data": {"key_id": KEY, "secret_key": SECRET}})); await ws.recv()
            await ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}})); await ws.recv()
            tc = trading(sim)
            day = await asyncio.to_thread(tc.submit_order, LimitOrderRequest(symbol="AAA", qty=1, side=Side.BUY, time_in_force=TIF.DAY, limit_price=1.0))
            gtc = await asyncio.to_thread(tc.submit_order, LimitOrderRequest(symbol="AAA", qty=1, side=Side.BUY, time_in_force=TIF.GTC, limit_price=1.0))
            await asyncio.to_thread(sim.advance, 2)
            msgs = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3)]
            return day, gtc, msgs, await asyncio.to_thread(tc.get_order_by_id, gtc.id)
    with AlpacaSimulator(panel, start=panel.timestamps[24]).running() as sim:
        day, gtc, msgs, gtc_now = asyncio.run(run(sim))
    evs = [(m["data"]["event"], m["data"]["order"]["id"]) for m in msgs]
    assert evs == [("new", str(day.id)), ("new", str(gtc.id)), ("expired", str(day.id))]
    assert msgs[2]["data"]["order"]["status"] == "expired" and msgs[2]["data"]["order"]["expired_at"] is not None
    assert msgs[2]["data"]["timestamp"] == "2025-03-03T21:00:00.000000Z"  # 16:00 New York
    assert gtc_now.status.value == "new"


# --------------------------------------------------------------------------------------------------- streams

async def _data_conn(sim, url=None, headers={"Content-Type": "application/msgpack"}):
    ws = await websockets.connect(url or sim.data_ws_url, additional_headers=headers)
    assert msgpack.unpackb(await ws.recv()) == [{"T": "success", "msg": "connected"}]
    return ws


async def _ask(ws, msg):
    await ws.send(msgpack.packb(msg))
    return msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5), timestamp=0)


def test_data_stream_protocol(panel):
    async def run(sim):
        ws = await _data_conn(sim)
        assert await _ask(ws, {"action": "subscribe", "bars": ["AAA"]}) == [{"T": "error", "code": 401, "msg": "not authenticated"}]
        assert await _ask(ws, ["not", "a", "map"]) == [{"T": "error", "code": 400, "msg": "invalid syntax"}]
        assert await _ask(ws, {"action": "auth", "key": KEY, "secret": SECRET}) == [{"T": "success", "msg": "authenticated"}]
        assert await _ask(ws, {"action": "auth", "key": KEY, "secret": SECRET}) == [{"T": "error", "code": 403, "msg": "already authenticated"}]
        ack = (await _ask(ws, {"action": "subscribe", "bars": ["AAA", "BBB"], "trades": ["AAA"]}))[0]
        assert ack["T"] == "subscription" and ack["bars"] == ["AAA", "BBB"] and ack["trades"] == ["AAA"] and ack["quotes"] == []
        assert (await _ask(ws, {"action": "unsubscribe", "bars": ["BBB"]}))[0]["bars"] == ["AAA"]
        await asyncio.to_thread(sim.advance)
        raw = await asyncio.wait_for(ws.recv(), 5)
        bar, = msgpack.unpackb(raw, timestamp=0)
        assert isinstance(bar["t"], msgpack.Timestamp) and bar["t"].to_datetime() == panel.timestamps[3]
        assert (bar["T"], bar["S"], bar["o"], bar["c"]) == ("b", "AAA", panel.data["open"][3, 0], panel.data["close"][3, 0])
        assert {"o", "h", "l", "c", "v", "t", "n", "vw"} <= set(bar)
        await ws.close()
        # wrong keys: 402 and the connection is closed
        ws = await _data_conn(sim)
        assert await _ask(ws, {"action": "auth", "key": KEY, "secret": "bad"}) == [{"T": "error", "code": 402, "msg": "auth failed"}]
        with pytest.raises(websockets.ConnectionClosed): await asyncio.wait_for(ws.recv(), 5)
        # JSON when the client does not ask for msgpack; "*" subscribes to everything
        async with websockets.connect(sim.data_ws_url) as ws:
            assert json.loads(await ws.recv()) == [{"T": "success", "msg": "connected"}]
            await ws.send(json.dumps({"action": "auth", "key": KEY, "secret": SECRET})); await ws.recv()
            await ws.send(json.dumps({"action": "subscribe", "bars": ["*"]})); await ws.recv()
            await asyncio.to_thread(sim.advance)
            bars = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert [b["S"] for b in bars] == ["AAA", "BBB"] and bars[0]["t"] == "2025-03-03T15:30:00Z"
        # an unknown feed is not a stream
        with pytest.raises(Exception): await websockets.connect(sim.data_ws_url.replace("/iex", "/nofeed"))
    with AlpacaSimulator(panel, start=panel.timestamps[3]).running() as sim:
        asyncio.run(run(sim))


def test_stream_auth_timeout_and_connection_limit(panel):
    async def run(sim):
        ws = await _data_conn(sim)
        assert msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5)) == [{"T": "error", "code": 404, "msg": "auth timeout"}]
        with pytest.raises(websockets.ConnectionClosed): await asyncio.wait_for(ws.recv(), 5)
        a = await _data_conn(sim); assert (await _ask(a, {"action": "auth", "key": KEY, "secret": SECRET}))[0]["T"] == "success"
        b = await _data_conn(sim)
        assert await _ask(b, {"action": "auth", "key": KEY, "secret": SECRET}) == [{"T": "error", "code": 406, "msg": "connection limit exceeded"}]
        await a.close()
        async with websockets.connect(sim.trade_ws_url) as t:
            await t.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
            assert json.loads(await t.recv())["data"]["status"] == "unauthorized"
            await t.send(json.dumps({"action": "authenticate", "data": {"key_id": KEY, "secret_key": "bad"}}))
            assert json.loads(await t.recv()) == {"stream": "authorization", "data": {"status": "unauthorized", "action": "authenticate"}}
            with pytest.raises(websockets.ConnectionClosed): await asyncio.wait_for(t.recv(), 5)
    with AlpacaSimulator(panel, ws_auth_timeout=0.3, max_data_connections=1).running() as sim:
        asyncio.run(run(sim))


def test_sdk_streams_receive_and_survive_drops(panel):
    """The SDK's own stream classes, in threads: bars and trade updates arrive, and after injected drops the SDK
    reconnects and keeps receiving."""
    got = {"bars": [], "updates": []}
    sim = AlpacaSimulator(panel, start=panel.timestamps[3])
    with sim.running():
        ds = StockDataStream(KEY, SECRET, url_override=sim.data_ws_url)
        ts = TradingStream(KEY, SECRET, url_override=sim.trade_ws_url)
        for s in (ds, ts): sdk_reconnect_backoff(s, 0.05, 0.1)
        async def on_bar(b): got["bars"].append(b)
        async def on_update(u): got["updates"].append(u)
        ds.subscribe_bars(on_bar, "AAA", "BBB"); ts.subscribe_trade_updates(on_update)
        threads = [threading.Thread(target=s.run, daemon=True) for s in (ds, ts)]
        for t in threads: t.start()
        ready = lambda: sum(bool(c.authed and (c.listening or c.subs["bars"])) for c in sim.connections()) == 2
        assert wait(ready), "the SDK streams did not connect"
        tc = trading(sim)
        tc.submit_order(market("AAA", 3))
        sim.advance()
        assert wait(lambda: len(got["bars"]) == 2 and [event(u) for u in got["updates"]] == ["new", "fill"])
        assert [(b.symbol, b.timestamp) for b in got["bars"]] == [("AAA", panel.timestamps[3]), ("BBB", panel.timestamps[3])]
        assert got["updates"][1].order.filled_qty == "3" and got["updates"][1].position_qty == 3.0

        # on demand: both connections dropped; the SDK reconnects and resubscribes
        assert sim.call(sim.drop_streams()) == 2
        assert wait(ready), "the SDK streams did not reconnect"
        sim.advance()
        assert wait(lambda: len(got["bars"]) == 4)
        # after N messages: the data connection's next batch of bars is its last (connected, authenticated, subscription, bars)
        sim.faults.set(drop_after=4, drops=1)
        sim.call(sim.drop_streams("data"))
        assert wait(lambda: sim.faults.injected["drop"] == 3 and ready())  # the 4th message of the new connection is a bar batch
        sim.advance()
        assert wait(lambda: len(got["bars"]) == 6 and sim.faults.injected["drop"] == 4)
        assert wait(ready)
        sim.advance()
        assert wait(lambda: len(got["bars"]) == 8)
        ds.stop(); ts.stop(); sim.call(sim.drop_streams())
        for t in threads: t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert [b.timestamp for b in got["bars"][::2]] == list(panel.timestamps[3:7])


# --------------------------------------------------------------------------------------------------- running it

def test_speed_mode_steps_by_itself(panel):
    sim = AlpacaSimulator(panel.between(None, panel.timestamps[20]), speed=0)
    with sim.running():
        assert wait(lambda: sim.finished.is_set(), 10)
        assert sim.now == panel.timestamps[20] and sim.cursor == 19
    fast = AlpacaSimulator(panel, speed=900 / 0.05)  # a bar every 0.05 s
    with fast.running():
        t0 = time.monotonic()
        assert wait(lambda: fast.cursor >= 5, 5)
        assert time.monotonic() - t0 >= 0.15
        clock = trading(fast).get_clock().timestamp
        assert pd.Timestamp(clock) >= panel.timestamps[6]


def test_from_store_and_serve(tmp_path, bars, forked):
    BarStore(tmp_path / "bars").write(bars)
    sim = AlpacaSimulator.from_store(tmp_path / "bars", ["AAA"], start="2025-03-04", end="2025-03-05")
    assert sim.panel.symbols == ("AAA",) and len(sim.panel) == 26
    # serve() blocks: run it as the command line will, in its own process, stepped from outside
    code = (f"from alphatrade.adapters.alpaca.sandbox.server import serve; serve({str(tmp_path / 'bars')!r}, speed=None, symbols=['AAA', 'BBB'], "
            f"start='2025-03-03', end='2025-03-05', key='k', secret='s')")
    p = spawn(forked, code=code)  # `python -c code`, forked from conftest's `forked` (the simulator's imports paid once)
    try:
        line = first_line(p)
        assert line.startswith("Alpaca simulator on http://127.0.0.1:"), (line, p.stderr.read() if p.poll() is not None else "")
        url = line.split()[3]
        h = {"APCA-API-KEY-ID": "k", "APCA-API-SECRET-KEY": "s"}
        r = requests.post(url + "/sim/step", params={"n": 3}, headers=h, timeout=10).json()
        assert (r["cursor"], r["timestamp"]) == (2, "2025-03-03T15:00:00Z")
        tc = TradingClient("k", "s", url_override=url); tc._retry = 0
        assert tc.get_clock().timestamp == pd.Timestamp("2025-03-03 15:15", tz="UTC")
        assert requests.post(url + "/sim/faults", json={"http_429": 1}, headers=h, timeout=5).status_code == 200
        assert requests.get(url + "/v2/clock", headers=h, timeout=5).status_code == 429
        p.send_signal(signal.SIGINT)
        assert p.wait(60) == 0  # generous: under a loaded CI machine the interpreter may take a while to wind down
    finally:
        if p.poll() is None: p.kill(); p.wait()


# --------------------------------------------------------------------------------------------------- issue 16: the last gaps with Alpaca

def test_replace_refused_until_the_order_reaches_the_exchange(panel):
    "An order placed while the market is closed is `accepted`: Alpaca refuses to replace it (422) until the open; cancel still works."
    with AlpacaSimulator(panel, start=panel.timestamps[26]).running() as sim:  # Monday 16:00, closed
        tc = trading(sim)
        lim = lambda: LimitOrderRequest(symbol="AAA", qty=2, side=Side.BUY, time_in_force=TIF.GTC, limit_price=1.0)
        o, gone = tc.submit_order(lim()), tc.submit_order(lim())
        assert o.status.value == "accepted"
        e = api_error(lambda: tc.replace_order_by_id(o.id, ReplaceOrderRequest(qty=3)))
        assert (e.status_code, e.code, e.message) == (422, 40010001, "unable to replace order, order isn't sent to exchange yet")
        assert tc.get_order_by_id(o.id).status.value == "accepted" and tc.get_order_by_id(o.id).qty == "2"  # untouched
        tc.cancel_order_by_id(gone.id)
        assert tc.get_order_by_id(gone.id).status.value == "canceled"
        sim.advance()  # Tuesday 09:30: at the exchange
        assert tc.get_order_by_id(o.id).status.value == "new"
        new = tc.replace_order_by_id(o.id, ReplaceOrderRequest(qty=3))
        assert (new.qty, str(new.replaces), tc.get_order_by_id(o.id).status.value) == ("3", str(o.id), "replaced")


def test_orders_of_one_bar_page_by_submitted_at(panel):
    "Orders placed within one bar have strictly increasing submitted_at, so paging get_orders with until=<last seen> loses none."
    with AlpacaSimulator(panel, start=panel.timestamps[3]).running() as sim:
        tc = trading(sim)
        placed = [tc.submit_order(market("AAA", 1)).id for _ in range(5)]
        sim.advance()
        placed += [tc.submit_order(market("BBB", 1)).id for _ in range(6)]
        stamps = [tc.get_order_by_id(i).submitted_at for i in placed]
        assert all(a < b for a, b in zip(stamps, stamps[1:])), stamps
        got, until = [], None
        while True:  # newest first, two a page, each page strictly before the last one seen
            page = tc.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=2, until=until))
            if not page: break
            got += [o.id for o in page]; until = page[-1].submitted_at
        assert got == placed[::-1]
        got, after = [], None
        while True:  # and oldest first with after=
            page = tc.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=3, after=after, direction="asc"))
            if not page: break
            got += [o.id for o in page]; after = page[-1].submitted_at
        assert got == placed
        sim.advance()
        assert {tc.get_order_by_id(i).status.value for i in placed} == {"filled"}  # the stamps do not delay the fills


def test_sim_serve_real_serves_every_stored_symbol(forked):
    "`sim serve --data sample` (the shipped real stocks) serves every stored stock (not only config/symbols.yaml's), or those `--symbols` names."
    import socket
    from alphatrade.core.config import load_universe
    from alphatrade.data.sample import real_frames
    stored = sorted(f.symbol.iloc[0] for f in real_frames("us15m"))
    extra = [s for s in stored if s not in load_universe()]
    assert extra, "every stored stock is in the universe: this test would prove nothing"
    for symbols, want in ((None, stored), ("MSFT," + extra[0], sorted(["MSFT", extra[0]]))):
        with socket.socket() as s: s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "alphatrade.apps.cli", "sim", "serve", "--data", "sample", "--from", "2026-05-29", "--start", "2026-06-01",
               "--end", "2026-06-01", "--speed", "step", "--port", str(port)] + (["--symbols", symbols] if symbols else [])
        p = spawn(forked, cmd[3:], main="alphatrade.apps.cli")  # `alphatrade sim serve ...`, forked from conftest's `forked`
        try:
            url = f"http://127.0.0.1:{port}"
            assert wait(lambda: p.poll() is not None or _up(url), 90) and p.poll() is None, p.stderr.read()[-2000:] if p.poll() is not None else ""
            tc = TradingClient(KEY, SECRET, url_override=url); tc._retry = 0
            assert sorted(a.symbol for a in tc.get_all_assets(GetAssetsRequest())) == want
            bs = StockHistoricalDataClient(KEY, SECRET, url_override=url).get_stock_bars(StockBarsRequest(symbol_or_symbols=want[-1], timeframe=M15))
            assert len(bs.data[want[-1]]) > 0  # its history (2026-05-29) is on REST
            p.send_signal(signal.SIGINT)
            assert p.wait(60) == 0
        finally:
            if p.poll() is None: p.kill(); p.wait()


def _up(url) -> bool:
    try: return requests.get(url + "/v2/clock", headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}, timeout=1).ok
    except requests.RequestException: return False


def _resampled(bars: pd.DataFrame, symbol: str, upto: pd.Timestamp, label) -> list[tuple]:
    "The bars of `symbol` starting before `upto`, folded by pandas over groups `label(New York wall times)`: (t, o, h, l, c, v) each."
    g = bars[(bars.symbol == symbol) & (bars.timestamp < upto)].sort_values("timestamp")
    wall = pd.DatetimeIndex(g.timestamp).tz_convert("America/New_York").tz_localize(None)
    key = pd.DatetimeIndex(label(wall)).tz_localize("America/New_York").tz_convert("UTC")
    agg = g.groupby(key.to_numpy()).agg(o=("open", "first"), h=("high", "max"), l=("low", "min"), c=("close", "last"), v=("volume", "sum"))
    return [(pd.Timestamp(t).tz_localize("UTC") if pd.Timestamp(t).tz is None else pd.Timestamp(t), *r) for t, r in zip(agg.index, agg.itertuples(index=False))]


def test_bars_at_every_timeframe_through_the_sdk(bars, panel):
    "15Min data served at 30Min, 1Hour, 1Day, 1Week and 1Month through alpaca-py, equal to pandas' own folding; 1Min is a 422 naming the rest."
    with AlpacaSimulator(panel, start=panel.timestamps[60]).running() as sim:  # Wednesday 11:00 New York: the day's bar is partial
        hc = data(sim)
        want = {TimeFrame(30, TimeFrameUnit.Minute): lambda w: w.floor("30min"), TimeFrame.Hour: lambda w: w.floor("h"),
                TimeFrame.Day: lambda w: w.normalize(), TimeFrame.Week: lambda w: w.normalize() - pd.to_timedelta(w.day_of_week, "D"),
                TimeFrame.Month: lambda w: w.normalize() - pd.to_timedelta(w.day - 1, "D")}
        for tf, label in want.items():
            got = hc.get_stock_bars(StockBarsRequest(symbol_or_symbols=["AAA", "BBB"], timeframe=tf, start=pd.Timestamp("2025-03-01", tz="UTC").to_pydatetime()))
            for s in ("AAA", "BBB"):
                mine = [(b.timestamp, b.open, b.high, b.low, b.close, b.volume) for b in got.data[s]]
                theirs = _resampled(bars, s, sim.now, label)
                assert [m[0] for m in mine] == [t[0] for t in theirs], (tf, s)
                assert all(m[1:] == pytest.approx(t[1:], rel=1e-12) for m, t in zip(mine, theirs)), (tf, s)
        days = hc.get_stock_bars(StockBarsRequest(symbol_or_symbols="AAA", timeframe=TimeFrame.Day)).data["AAA"]
        assert [b.timestamp for b in days] == [pd.Timestamp(f"2025-03-0{d} 05:00", tz="UTC") for d in (3, 4, 5)]  # midnight New York
        assert days[-1].close == panel.data["close"][59, 0]  # today's bar so far ends with the newest published bar
        e = api_error(lambda: hc.get_stock_bars(StockBarsRequest(symbol_or_symbols="AAA", timeframe=TimeFrame(5, TimeFrameUnit.Minute))))
        assert (e.status_code, e.code) == (422, 42210000)
        assert "15Min..45Min" in e.message and "1Hour" in e.message and "1Day" in e.message


def test_portfolio_history_through_the_sdk(panel):
    "The account's equity over the replay through alpaca-py's get_portfolio_history: daily and intraday, against the bars' closes."
    with AlpacaSimulator(panel, start=panel.timestamps[20]).running() as sim:  # Monday 14:30 New York
        tc = trading(sim)
        tc.submit_order(market("AAA", 10))
        sim.advance(18)  # to Tuesday 12:30
        cash, C = Decimal(tc.get_account().cash), panel.data["close"][:, 0]
        eq = lambda i: cash + 10 * Decimal(str(C[i]))  # the shares bought in bar 20, marked at each close
        d = tc.get_portfolio_history(GetPortfolioHistoryRequest(period="1W", timeframe="1D"))
        assert (d.timeframe, d.base_value) == ("1D", 100_000)
        assert [pd.Timestamp(t, unit="s", tz="UTC") for t in d.timestamp] == [pd.Timestamp(f"2025-03-0{k} 05:00", tz="UTC") for k in (3, 4)]
        assert d.equity == [float(eq(25)), float(eq(37))] and d.profit_loss == [float(eq(25) - 100_000), float(eq(37) - 100_000)]
        assert d.profit_loss_pct == pytest.approx([float(eq(25) / 100_000 - 1), float(eq(37) / 100_000 - 1)], rel=1e-12)
        h = tc.get_portfolio_history(GetPortfolioHistoryRequest(period="1D", timeframe="1H"))  # today only, hourly, against Monday's close
        assert (h.timeframe, h.base_value) == ("1H", float(eq(25)))
        assert [pd.Timestamp(t, unit="s", tz="UTC").tz_convert("America/New_York").strftime("%H:%M") for t in h.timestamp] == ["09:00", "10:00", "11:00", "12:00"]
        assert h.equity == [float(eq(i)) for i in (27, 31, 35, 37)]
        assert h.profit_loss == [float(eq(i) - eq(25)) for i in (27, 31, 35, 37)]
        raw = requests.get(sim.url + "/v2/account/portfolio/history", params={"period": "1D", "timeframe": "1Min"},
                           headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}, timeout=5)
        assert raw.status_code == 422 and "15Min, 1H, 1D" in raw.json()["message"]  # finer than the data


def test_fills_on_arrival_through_the_sdk(panel):
    "fills='on-arrival': a market order is filled at once at the last price (with the slippage model), no bar needed; default next-bar is unchanged."
    with AlpacaSimulator(panel, start=panel.timestamps[3], fills="on-arrival", slippage_bps=5.0, impact=0.0).running() as sim:
        tc = trading(sim)
        o = tc.submit_order(market("AAA", 10))
        assert o.status.value == "new"  # the answer comes first, the fill after it
        got = tc.get_order_by_id(o.id)
        last, high = Decimal(str(panel.data["close"][2, 0])), Decimal(str(panel.data["high"][2, 0]))
        want = min(last * Decimal("1.0005"), high).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        assert (got.status.value, Decimal(got.filled_avg_price), got.filled_qty) == ("filled", want, "10")
        assert sim.cursor == 2 and got.filled_at > got.submitted_at  # no bar was replayed for it
        assert tc.get_open_position("AAA").qty == "10"
        lim = tc.submit_order(LimitOrderRequest(symbol="AAA", qty=1, side=Side.BUY, time_in_force=TIF.DAY, limit_price=1.0))
        assert tc.get_order_by_id(lim.id).status.value == "new"  # only market orders fill on arrival
    with AlpacaSimulator(panel, start=panel.timestamps[3]).running() as sim:  # the default: the next bar's open, as the backtest
        tc = trading(sim)
        o = tc.submit_order(market("AAA", 10))
        assert tc.get_order_by_id(o.id).status.value == "new"
        sim.advance()
        assert tc.get_order_by_id(o.id).status.value == "filled"


def test_sim_serve_fills_on_arrival(forked):
    "`sim serve --fills on-arrival`: a market order through alpaca-py is filled before any further bar is replayed."
    import socket
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "alphatrade.apps.cli", "sim", "serve", "--data", "synthetic", "--symbols", "AAPL", "--from", "2025-03-03",
           "--start", "2025-03-04", "--end", "2025-03-04", "--speed", "step", "--port", str(port), "--fills", "on-arrival"]
    p = spawn(forked, cmd[3:], main="alphatrade.apps.cli")  # `alphatrade sim serve ...`, forked from conftest's `forked`
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait(lambda: p.poll() is not None or _up(url), 90) and p.poll() is None, p.stderr.read()[-2000:] if p.poll() is not None else ""
        h = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
        assert requests.post(url + "/sim/step", headers=h, timeout=10).json()["timestamp"] == "2025-03-04T14:30:00Z"
        tc = TradingClient(KEY, SECRET, url_override=url); tc._retry = 0
        o = tc.submit_order(market("AAPL", 3))
        assert tc.get_order_by_id(o.id).status.value == "filled" and tc.get_clock().timestamp == pd.Timestamp("2025-03-04 14:45", tz="UTC")
        p.send_signal(signal.SIGINT)
        assert p.wait(60) == 0
    finally:
        if p.poll() is None: p.kill(); p.wait()
