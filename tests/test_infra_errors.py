"""Infrastructure errors in one line (issue 15, deliverable 6): a database that is down, a database URL that cannot be
parsed, a driver that is not installed, and a simulator URL with nothing behind it each give exactly one line on stderr
(what failed, the value with its password hidden, what to do), no traceback, and the documented exit code
(`alphatrade.core.errors.EXIT_CODES`: 2 bad input or configuration, 3 a service that cannot be reached).
Each case runs the real command in a subprocess, as a user would."""
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "alphatrade.apps.cli"]  # the `alphatrade` command
LIVE = [sys.executable, "-m", "alphatrade.live"]  # the daemon
ROOT = Path(__file__).resolve().parents[1]  # the project: the daemon reads its config/ (symbols, risk) from here
HANG_GUARD = 60  # seconds: a hang guard for the subprocess, not a timed assertion
PW = "s3cretPw"
DOWN = f"postgresql+psycopg://postgres:{PW}@127.0.0.1:{{port}}/test"  # nothing listens on the port


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def run(cmd, cwd):
    return subprocess.run([*cmd], capture_output=True, text=True, cwd=cwd, timeout=HANG_GUARD)


def one_line(p) -> str:
    "The one non-empty line on stderr; fails when there are more, or a traceback."
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert "Traceback" not in p.stderr, p.stderr
    assert len(lines) == 1, f"{len(lines)} lines on stderr:\n{p.stderr}"
    return lines[0]


CASES = [  # (URL, exit code, words the line must hold)
    ("down", 3, ["alphatrade: error: database at 'postgresql+psycopg://postgres:***@127.0.0.1:", "cannot be reached",
                 "Connection refused", "is the server running?", "--db-url"]),
    ("nonsense://", 2, ["alphatrade: error: database URL 'nonsense://': unknown database dialect 'nonsense'", "--db-url"]),
    ("postgres//x", 2, ["alphatrade: error: database URL 'postgres//x' cannot be used: Could not parse", "postgresql+psycopg://", "--db-url"]),
    ("mysql+mysqldb://u@127.0.0.1/x", 2, ["needs the driver module 'MySQLdb', which is not installed: pip install mysqlclient"]),
    ("postgresql+asyncpg://u@127.0.0.1/x", 2, ["needs the driver module 'asyncpg', which is not installed: pip install asyncpg"]),
]


@pytest.mark.parametrize("url,code,words", CASES, ids=[c[0] for c in CASES])
def test_db_status(url, code, words, tmp_path):
    url = DOWN.format(port=free_port()) if url == "down" else url
    p = run([*CLI, "db", "status", "--db-url", url], tmp_path)
    line = one_line(p)
    assert p.returncode == code, (p.returncode, line)
    for w in words: assert w in line, (w, line)
    assert PW not in p.stderr + p.stdout


def test_run_backtest_db_url(tmp_path):
    "`alphatrade run backtest --db-url ...` records the run in the database: it says so in one line before running anything."
    url, code, words = DOWN.format(port=free_port()), *CASES[0][1:]  # the URL mappings themselves are checked on `db status` above
    p = run([*CLI, "run", "backtest", "--runs-dir", tmp_path / "runs", "--db-url", url], tmp_path)
    line = one_line(p)
    assert p.returncode == code, (p.returncode, line)
    for w in words: assert w in line, (w, line)
    assert PW not in p.stderr + p.stdout and not (tmp_path / "runs").exists()


def test_live_sim_unreachable(tmp_path):
    """Nothing listens at --sim-url: the daemon says so in one line and exits 3, at once rather than after a minute of
    retries (measured on main: 67 s; the subprocess's 60 s timeout is only a hang guard)."""
    port = free_port()
    t0 = time.monotonic()
    p = run([*LIVE, "--mode", "sim", "--sim-url", f"http://127.0.0.1:{port}", "--db", f"sqlite:///{tmp_path}/live.db",
             "--symbols", "AAPL,MSFT", "--quiet"], ROOT)
    secs = time.monotonic() - t0
    line = one_line(p)
    assert p.returncode == 3, (p.returncode, line)
    assert line.startswith(f"alphatrade live: get account: nothing listens at http://127.0.0.1:{port} (connection refused)"), line
    assert "--sim-url" in line
    print(f"daemon against a dead --sim-url returned in {secs:.1f} s")


def test_live_db_down(tmp_path):
    "The daemon's --db: a PostgreSQL that is down is one line, exit 3, the password hidden, before any broker is contacted."
    p = run([*LIVE, "--mode", "sim", "--sim-url", f"http://127.0.0.1:{free_port()}", "--db", DOWN.format(port=free_port()),
             "--symbols", "AAPL", "--quiet"], ROOT)
    line = one_line(p)
    assert p.returncode == 3, (p.returncode, line)
    assert line.startswith("alphatrade live: database at 'postgresql+psycopg://postgres:***@127.0.0.1:") and "cannot be reached" in line, line
    assert PW not in p.stderr + p.stdout
