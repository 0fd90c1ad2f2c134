"""`make lab`: JupyterLab on nbs/ with the project's environment, bound to 127.0.0.1, behind a token.

The test starts the same command line as the Makefile on a free port, waits for `/api/status` to answer,
checks that the token is required, and stops the server.
"""
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JUPYTER = Path(sys.executable).with_name("jupyter")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r: return r.status, r.read().decode()
    except urllib.error.HTTPError as e: return e.code, ""


def lab_command(port: int, token: str) -> list[str]:
    "The Makefile's `lab` command line."
    cmd = [str(JUPYTER), "lab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port), "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", "--notebook-dir", "nbs"]
    return cmd + (["--allow-root"] if os.geteuid() == 0 else [])


def test_make_lab_uses_this_command():
    make = (ROOT / "Makefile").read_text()
    lab = make[make.index("\nlab:"):make.index("\ndocs:")]
    for part in ("--no-browser", "--ip 127.0.0.1", "--ServerApp.port_retries=0", "--IdentityProvider.token=$$token",
                 "--notebook-dir nbs", "--allow-root", "http://127.0.0.1:$(LAB_PORT)/lab?token=$$token"):
        assert part in lab, f"make lab lost {part!r}"


def test_jupyterlab_starts_answers_api_status_and_stops(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_DATA_DIR": str(tmp_path / "data")}
    log = open(tmp_path / "lab.log", "w+")
    proc = subprocess.Popen(lab_command(port, token), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        status, body, deadline = None, "", time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try: status, body = _get(f"{base}/api/status?token={token}")
            except (urllib.error.URLError, ConnectionError, TimeoutError): status = None
            if status == 200: break
            time.sleep(0.5)
        log.seek(0)
        assert status == 200, f"/api/status did not answer 200 within 60 s (exit code {proc.poll()}):\n{log.read()[-3000:]}"
        info = json.loads(body)
        assert {"started", "last_activity", "connections", "kernels"} <= info.keys(), info
        assert _get(f"{base}/api/status")[0] == 403                      # no token, no access
        assert _get(f"{base}/api/status?token=not-{token}")[0] == 403
        status, body = _get(f"{base}/api/contents?token={token}")        # rooted at nbs/
        assert status == 200 and "index.ipynb" in {c["name"] for c in json.loads(body)["content"]}
    finally:
        proc.terminate()
        try: proc.wait(30)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait(10)
        log.close()
    assert proc.returncode is not None, "JupyterLab did not exit"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the port still answers after the server stopped"
