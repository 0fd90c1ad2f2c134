"""`alphatrade sim serve` for the live benchmarks: the simulator in a process of its own, stepped (`--speed step`), on a free
port, with no client-side rate limit or buying-power check; returned once `/v2/clock` answers. The caller stops it."""
import socket, subprocess, sys, time

HEADERS = {"APCA-API-KEY-ID": "sim-key", "APCA-API-SECRET-KEY": "sim-secret"}  # the simulator's default keys


def start_sim(store: str, frm: str, start: str, end: str, *extra: str) -> tuple[subprocess.Popen, str]:
    "The simulator on `store` (bars from `frm`, replaying `start`..`end`, `extra` options after), and its URL once it answers."
    import requests
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    sim = subprocess.Popen([sys.executable, "-m", "alphatrade.apps.cli", "sim", "serve", "--data", store, "--from", frm, "--start", start,
                            "--end", end, "--speed", "step", "--port", str(port), "--rate-limit", "1000000", "--no-buying-power-check", *extra],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if requests.get(url + "/v2/clock", headers=HEADERS, timeout=1).ok: return sim, url
        except requests.RequestException: time.sleep(0.1)
        if sim.poll() is not None: break
    sim.terminate(); sim.wait(30)
    raise RuntimeError(f"the simulator on {store} did not answer at {url} (exit code {sim.returncode})")
