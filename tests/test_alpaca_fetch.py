"""`fetch_alpaca_bars` through the real alpaca-py client against a real local HTTP server speaking Alpaca's
historical-bars wire protocol (GET /v2/stocks/bars, auth headers, `limit` across symbols, next_page_token)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest

from alphatrade.core.config import Settings
from alphatrade.core.errors import DataError
from alphatrade.adapters.alpaca.data import fetch_alpaca_bars
from alphatrade.data.loader import read_csv_bars

KEY, SECRET = "PKTEST", "test-secret"


class BarsServer:
    """Serves bars of real CSV files; records every request it answered."""

    def __init__(self, frames: dict):
        self.frames, self.requests = frames, []
        srv = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a): pass

            def _send(self, code, body):
                b = json.dumps(body).encode()
                self.send_response(code); self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)

            def do_GET(self):
                u = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(u.query).items()}
                srv.requests.append((u.path, q))
                if self.headers.get("APCA-API-KEY-ID") != KEY or self.headers.get("APCA-API-SECRET-KEY") != SECRET:
                    return self._send(401, {"code": 40110000, "message": "request is not authorized"})
                if u.path != "/v2/stocks/bars":
                    return self._send(404, {"code": 40410000, "message": "not found"})
                start, end = pd.Timestamp(q["start"]), pd.Timestamp(q["end"])
                limit = int(q.get("limit", 1000))
                rows = []
                for sym in q["symbols"].split(","):
                    df = srv.frames.get(sym)
                    if df is None: continue
                    d = df[(df.timestamp >= start) & (df.timestamp <= end)]
                    rows += [(sym, r) for r in d.itertuples()]
                offset = int(q.get("page_token") or 0)
                page = rows[offset:offset + limit]
                bars = {}
                for sym, r in page:
                    bars.setdefault(sym, []).append({"t": r.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"), "o": r.open, "h": r.high,
                                                     "l": r.low, "c": r.close, "v": r.volume, "n": 10, "vw": (r.high + r.low) / 2})
                nxt = str(offset + limit) if offset + limit < len(rows) else None
                self._send(200, {"bars": bars, "next_page_token": nxt})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self): self.thread.start(); return self
    def __exit__(self, *a): self.httpd.shutdown(); self.httpd.server_close()


@pytest.fixture
def real_frames(shared_data):
    return {s: read_csv_bars(shared_data / "us15m" / f"{s}_15min_2025-05-12.csv") for s in ("AAPL", "MSFT", "NVDA")}


def test_fetch_pages_through_and_matches_the_files(real_frames):
    # the whole history of three stocks: ~21,600 bars, more than two of the SDK's 10,000-bar pages
    start, end = "2025-05-01T00:00:00Z", "2026-07-01T00:00:00Z"
    settings = Settings(config_dir=None)
    with BarsServer(real_frames) as srv:
        got = fetch_alpaca_bars(["AAPL", "MSFT", "NVDA"], start, end, api_key=KEY, secret_key=SECRET, url_override=srv.url, settings=settings)
    pages = [q for p, q in srv.requests if p == "/v2/stocks/bars"]
    assert len(pages) == 3 and pages[0].get("page_token") in (None, "") and pages[1]["page_token"] == "10000"
    assert pages[0]["symbols"] == "AAPL,MSFT,NVDA" and pages[0]["limit"] == "10000"
    assert pages[0]["timeframe"] == "15Min" and pages[0]["adjustment"] == "all" and pages[0]["feed"] == "iex"
    for sym, df in real_frames.items():
        want = df[(df.timestamp >= pd.Timestamp(start)) & (df.timestamp <= pd.Timestamp(end))].reset_index(drop=True)
        g = got[got.symbol == sym].reset_index(drop=True)
        assert len(g) == len(want) > 7000
        pd.testing.assert_series_equal(g.timestamp, want.timestamp, check_names=False)
        for c in ("open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(g[c].to_numpy(), want[c].to_numpy())
        np.testing.assert_allclose(g.vwap.to_numpy(), ((want.high + want.low) / 2).to_numpy())
        assert (g.trade_count == 10).all()


def test_wrong_keys_are_a_clear_error(real_frames):
    with BarsServer(real_frames) as srv:
        with pytest.raises(DataError, match="refused the request.*not authorized"):
            fetch_alpaca_bars("AAPL", "2025-06-02", "2025-06-03", api_key="bad", secret_key="bad",
                              url_override=srv.url, settings=Settings(config_dir=None))


def test_no_keys_no_request(monkeypatch):
    for v in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "ALPHATRADE_ALPACA__API_KEY", "ALPHATRADE_ALPACA__SECRET_KEY"):
        monkeypatch.delenv(v, raising=False)
    with pytest.raises(DataError, match="no Alpaca keys"):
        fetch_alpaca_bars("AAPL", "2025-06-02", "2025-06-03", url_override="http://127.0.0.1:9", settings=Settings(config_dir=None))


def test_a_hanging_server_times_out(real_frames):
    import socket
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)  # accepts, never answers
    try:
        with pytest.raises(Exception, match="(?i)timed out|timeout"):
            fetch_alpaca_bars("AAPL", "2025-06-02", "2025-06-03", api_key=KEY, secret_key=SECRET,
                              url_override=f"http://127.0.0.1:{s.getsockname()[1]}", timeout=1.0, settings=Settings(config_dir=None))
    finally:
        s.close()
