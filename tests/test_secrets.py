"""No command prints a key: every CLI command that can reach a broker or data API, run as a subprocess with distinctive fake keys
in the environment, against a real server on 127.0.0.1 that answers 401/403 with both keys echoed back in its body (and, for the
market-data websocket, an auth error echoing them). Neither key may appear in stdout, stderr or any file the command wrote, and
the command must still fail with a useful message. `test_the_server_really_echoes` shows the check can fail: the same request
made without the redaction prints both keys.
"""
import asyncio, os, signal, subprocess, sys, threading, time
from pathlib import Path

import msgpack
import pytest
from aiohttp import web

from alphatrade.core.secrets import redact, secret_values
from alphatrade.data.panel import panel_from_bars
from alphatrade.data.synthetic import generate_market
from alphatrade.adapters.alpaca.sandbox.server import AlpacaSimulator

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
EXE = str(Path(PY).parent / "alphatrade")
KEY, SECRET = "PKLEAKTEST7Q3Z9X", "sk-leak-test-secret-4f1e2d"
DB_PASSWORD = "pw-leak-test-88c1"


class EchoServer:
    """Answers every HTTP request with `status` (401 by default) and a JSON body echoing the request's key headers, and every
    websocket (Alpaca's market-data protocol: 'connected', then the auth message) with an auth error echoing the keys it got."""
    def __init__(self, status: int = 401):
        self.status, self.requests, self.auths = status, [], []
        self.loop = asyncio.new_event_loop(); self.url = None

    async def handle(self, request):
        if request.headers.get("Upgrade", "").lower() == "websocket":
            ws = web.WebSocketResponse(); await ws.prepare(request)
            await ws.send_bytes(msgpack.packb([{"T": "success", "msg": "connected"}]))
            m = await ws.receive()
            auth = msgpack.unpackb(m.data) if m.type == web.WSMsgType.BINARY else {}
            self.auths.append(request.path)
            await ws.send_bytes(msgpack.packb([{"T": "error", "code": 402, "msg": f"auth failed for key {auth.get('key')} secret {auth.get('secret')}"}]))
            await ws.close(); return ws
        self.requests.append((request.method, request.path))
        return web.json_response({"code": 40110000 if self.status == 401 else 40310000,
                                  "message": f"request is not authorized for key {request.headers.get('APCA-API-KEY-ID')} "
                                             f"secret {request.headers.get('APCA-API-SECRET-KEY')}"}, status=self.status)

    def __enter__(self):
        app = web.Application(); app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        async def start():
            await self.runner.setup(); site = web.TCPSite(self.runner, "127.0.0.1", 0); await site.start()
            return self.runner.addresses[0][1]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True); self.thread.start()
        self.url = f"http://127.0.0.1:{asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)}"
        return self

    def __exit__(self, *a):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop); self.thread.join(5)


def env_with(names=("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"), **extra) -> dict:
    "This environment without any real keys, with the fake ones under `names`, and `extra` (URLs) set."
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APCA_", "ALPHATRADE_ALPACA__", "ALPHATRADE_DATABASE__"))}
    env.update({names[0]: KEY, names[1]: SECRET, "PYTHONPATH": str(ROOT), "ALPHATRADE_CONFIG_DIR": str(ROOT / "config")}, **extra)
    return env


def leaks(p_out: str, folder: Path) -> list[str]:
    "Where a key (or the database password) shows: in the output, or in a file under `folder`."
    secrets = [KEY, SECRET, DB_PASSWORD]
    out = [f"output: {s}" for s in secrets if s in p_out]
    for f in folder.rglob("*"):
        if f.is_file():
            b = f.read_bytes()
            out += [f"{f}: {s}" for s in secrets if s.encode() in b]
    return out


def run(args, env, cwd: Path, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("status,names", [(401, ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY")),
                                          (403, ("ALPHATRADE_ALPACA__API_KEY", "ALPHATRADE_ALPACA__SECRET_KEY"))])
def test_data_fetch_never_prints_the_keys(tmp_path, status, names):
    "`alphatrade data fetch` refused with the keys echoed back: exit 2, the refusal named, both keys redacted."
    with EchoServer(status) as srv:
        p = run(["data", "fetch", "--symbols", "AAPL", "--start", "2025-06-02", "--end", "2025-06-03", "--store", str(tmp_path / "bars")],
                env_with(names, ALPHATRADE_ALPACA__DATA_URL=srv.url), tmp_path)
        assert srv.requests, "the command never reached the server"
    out = p.stdout + p.stderr
    assert p.returncode == 2, out[-3000:]
    assert f"refused the request (HTTP {status})" in out and "for key *** secret ***" in out, out[-3000:]
    assert leaks(out, tmp_path) == [], out[-3000:]


@pytest.mark.parametrize("mode", ["paper", "live"])
def test_live_daemon_never_prints_the_keys(tmp_path, mode):
    """`alphatrade live --mode paper` (and `--mode live --confirm-live`) with the trading and data URLs at the echoing server:
    the daemon refuses to start (exit 2, the 401 named) and writes no key anywhere, its database included. The database URL's
    password is hidden too."""
    with EchoServer() as srv:
        url_env = {"ALPHATRADE_ALPACA__PAPER_URL": srv.url, "ALPHATRADE_ALPACA__LIVE_URL": srv.url, "ALPHATRADE_ALPACA__DATA_URL": srv.url,
                   "ALPHATRADE_ALPACA__STREAM_URL": srv.url.replace("http", "ws")}
        args = ["live", "--mode", mode, *(["--confirm-live"] if mode == "live" else []), "--symbols", "AAPL",
                "--db", f"sqlite:///{tmp_path}/live.db", "--health-port", "-1"]
        p = run(args, env_with(**url_env, ALPHATRADE_DATABASE__URL=f"postgresql://u:{DB_PASSWORD}@127.0.0.1:1/x"), tmp_path)
        assert srv.requests, "the daemon never reached the server"
    out = p.stdout + p.stderr
    assert p.returncode == 2, out[-3000:]
    assert "HTTP 401" in out and "for key *** secret ***" in out, out[-3000:]
    assert (tmp_path / "live.db").exists()  # it wrote its database before it asked the broker: that file is searched too
    assert leaks(out, tmp_path) == [], out[-3000:]


def test_market_data_stream_never_prints_the_keys(tmp_path):
    """The websocket path: REST answered by the simulator (which accepts the fake keys), the market-data stream by the echoing
    server, whose auth error carries both keys. alpaca-py logs each failed attempt with its message; the daemon's log lines say
    the stream failed, and carry no key. Stopped with SIGTERM after a few attempts."""
    bars = generate_market(seed=3, start="2025-03-03", end="2025-03-07", universe={"AAPL": "tech"})
    panel = panel_from_bars(bars)
    sim = AlpacaSimulator(panel, start=panel.timestamps[30], key=KEY, secret=SECRET)
    with sim.running(), EchoServer() as srv:
        env = env_with(ALPHATRADE_ALPACA__PAPER_URL=sim.url, ALPHATRADE_ALPACA__DATA_URL=sim.url,
                       ALPHATRADE_ALPACA__STREAM_URL=srv.url.replace("http", "ws"))
        p = subprocess.Popen([EXE, "live", "--mode", "paper", "--symbols", "AAPL", "--db", f"sqlite:///{tmp_path}/ws.db", "--health-port", "-1",
                              "--history", "20"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            t0 = time.monotonic()
            while len(srv.auths) < 2 and p.poll() is None and time.monotonic() - t0 < 120: time.sleep(0.1)
            assert len(srv.auths) >= 2, f"the stream did not try to authenticate twice: {srv.auths}"
            time.sleep(0.5)  # let the second failure be logged
            p.send_signal(signal.SIGTERM)
            so, se = p.communicate(timeout=60)
        finally:
            if p.poll() is None: p.kill(); p.wait()
    out = so + se
    assert "error during websocket communication: auth failed for key *** secret ***" in out, out[-3000:]
    assert leaks(out, tmp_path) == [], out[-3000:]


def test_db_command_hides_the_url_password(tmp_path):
    "`alphatrade db status` with a password in --db-url and nothing listening: it fails, naming the failure, without the password."
    p = run(["db", "status", "--db-url", f"postgresql+psycopg://u:{DB_PASSWORD}@127.0.0.1:1/x"], env_with(), tmp_path, timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode != 0 and ("OperationalError" in out or "connection" in out.lower()), out[-3000:]
    assert leaks(out, tmp_path) == [], out[-3000:]


def test_the_server_really_echoes(tmp_path):
    """The check can fail: the same fetch without the redaction (the library called directly, its error printed as it is)
    prints both keys, so the tests above would see a leak."""
    code = ("from alphatrade.adapters.alpaca.data import fetch_alpaca_bars\n"
            "try: fetch_alpaca_bars('AAPL', '2025-06-02', '2025-06-03')\n"
            "except Exception as e: print(e)\n")
    with EchoServer() as srv:
        p = subprocess.run([PY, "-c", code], cwd=tmp_path, env=env_with(ALPHATRADE_ALPACA__DATA_URL=srv.url), capture_output=True, text=True, timeout=120)
    assert f"for key {KEY} secret {SECRET}" in p.stdout, p.stdout + p.stderr[-2000:]
    assert leaks(p.stdout, tmp_path) != []
    assert redact(p.stdout, [KEY, SECRET]).count("***") == 2


def test_secret_values_of_the_environment(monkeypatch):
    "The four environment names of the keys and a database URL's password are all known secrets."
    for k in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "ALPHATRADE_ALPACA__API_KEY", "ALPHATRADE_ALPACA__SECRET_KEY"): monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("ALPHATRADE_ALPACA__API_KEY", KEY); monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    monkeypatch.setenv("ALPHATRADE_DATABASE__URL", f"postgresql://u:{DB_PASSWORD}@h/db")
    assert set(secret_values()) >= {KEY, SECRET, DB_PASSWORD}
    assert redact(f"{KEY}:{SECRET}@{DB_PASSWORD}") == "***:***@***"
