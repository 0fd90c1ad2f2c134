"""Infrastructure errors: how long a command takes to say that a service cannot be reached.

Issue 15 measured main at 67 s for the daemon against a `--sim-url` with nothing behind it (start-up retries); the target
is seconds. Each case runs the real command in a child process; the import of the package alone is timed too, so the
failure's own cost is the difference. Phases: `import` (python -c 'import alphatrade.live'), `live_dead_sim`,
`db_status_down` (PostgreSQL URL to a port where nothing listens)."""
import socket, subprocess, sys, tempfile

from harness import ROOT, benchmark


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def _run(cmd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *cmd], capture_output=True, text=True, cwd=ROOT, timeout=300)


@benchmark("infra.unreachable_services")
def unreachable_services(timer):
    with timer("import"): _run(["-c", "import alphatrade.live, alphatrade.apps.cli"])
    with timer("live_dead_sim"):
        live = _run(["-m", "alphatrade.live", "--mode", "sim", "--sim-url", f"http://127.0.0.1:{_port()}", "--quiet",
                     "--db", f"sqlite:///{tempfile.mkdtemp()}/live.db", "--symbols", "AAPL,MSFT"])
    with timer("db_status_down"):
        db = _run(["-m", "alphatrade.apps.cli", "db", "status", "--db-url", f"postgresql+psycopg://postgres@127.0.0.1:{_port()}/test"])
    assert (live.returncode, db.returncode) == (3, 3), (live.stderr[-2000:], db.stderr[-2000:])
    return {"live_exit_code": live.returncode, "live_stderr_lines": len(live.stderr.strip().splitlines()),
            "db_exit_code": db.returncode, "db_stderr_lines": len(db.stderr.strip().splitlines())}
