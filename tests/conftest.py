import contextlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
BIN = [sys.executable, "-m", "alphatrade.apps.cli"]  # the `alphatrade` command (console script alphatrade.apps.cli:main)
os.environ.setdefault("MPLBACKEND", "Agg")
# OpenMP (LightGBM's and PyTorch's libgomp) threads that wait for work sleep instead of spinning: `make test` runs two workers
# on two cores and the tree models default to two threads each (n_jobs=2), so a thread at a barrier usually waits for a core
# the other worker holds, and spinning burns it. Results do not change (the scheduling does): the README's `alphatrade train`
# line, 29 s of CPU spinning, 6.4 s passive, the same folds, ICs and importances; nbs/41's tests 37.8 s, 15.9 s (load ~14).
# Set before any test imports LightGBM or torch; inherited by every child.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def shared_data():
    """A folder with the real bars as CSV (us15m/, etf15m/): ../shared/data (or $ALPHATRADE_SHARED_DATA) when present,
    else the sample shipped in data/sample written back to CSV (the same bars): no test skips for want of real data."""
    from alphatrade.data.sample import real_data_dir
    return real_data_dir()


@contextlib.contextmanager
def _alphatrade_runner(env: dict, cwd: Path, tmp: Path):
    """`run(argv) -> (rc, stdout, stderr)` of `alphatrade ARGV...` with this environment and working directory (or those given to
    `run(argv, cwd_, env_)`; the server imports with the first ones, so give it those the package should see): each command
    line in a process of its own, forked from tests/nb_forkserver.py --cli, which has imported the command's modules once
    (~3-4 s of CPU per line otherwise); ALPHATRADE_NB_FORK=0 starts `python -m alphatrade.apps.cli` for each instead."""
    if os.environ.get("ALPHATRADE_NB_FORK", "1") == "0":
        def run(argv, cwd_=None, env_=None):
            r = subprocess.run([*BIN, *argv], cwd=cwd_ or cwd, env=env_ or env, capture_output=True, text=True, timeout=900)
            return r.returncode, r.stdout, r.stderr
        yield run; return
    p = subprocess.Popen([sys.executable, str(ROOT / "tests" / "nb_forkserver.py"), "--cli"], cwd=cwd, env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    def run(argv, cwd_=None, env_=None):
        out, err = tmp / "stdout.txt", tmp / "stderr.txt"
        req = {"argv": argv, "out": str(out), "err": str(err), "env": dict(env_ or env), "cwd": str(cwd_ or cwd)}
        p.stdin.write(json.dumps(req) + "\n"); p.stdin.flush()
        line = p.stdout.readline()
        assert line, f"the command fork server died (exit {p.poll()})"
        return json.loads(line)["rc"], out.read_text(errors="replace"), err.read_text(errors="replace")
    try: yield run
    finally: p.stdin.close(); p.wait(60)


@pytest.fixture(scope="session")
def alphatrade_runner():
    "`with alphatrade_runner(env, cwd, tmp) as run: rc, out, err = run(argv)`: many `alphatrade` command lines without paying the imports each time."
    return _alphatrade_runner


@pytest.fixture(scope="session")
def alphatrade_cli(tmp_path_factory):
    """`alphatrade_cli(*args, cwd=None, env=None) -> CompletedProcess` of `alphatrade ARGS...` (default: this process's working
    directory and environment), each in a process of its own forked from one server per pytest worker (`_alphatrade_runner`).
    Tests of the console script itself (tests/test_cli.py, test_secrets.py, test_bad_input.py, ...) start real processes."""
    with _alphatrade_runner(dict(os.environ), Path.cwd(), tmp_path_factory.mktemp("cli")) as run:
        def cli(*args, cwd=None, env=None):
            argv = [str(a) for a in args]
            return subprocess.CompletedProcess([*BIN, *argv], *run(argv, cwd, env))
        yield cli


@pytest.fixture(scope="session")
def forked(tmp_path_factory):
    """tests/live_forkserver.py's server, one per pytest worker (None when ALPHATRADE_NB_FORK=0): `forked.popen(argv)` a daemon
    (`python -m alphatrade.live ARGV...`), `popen(argv, main="alphatrade.apps.cli")` an `alphatrade ARGV...` and `popen(code=CODE)`
    a `python -c CODE`, each a process of its own that runs while the test signals it (Popen-like: pid, poll, wait, send_signal),
    forked from a server that has imported the daemon's modules once (~1.7 s of CPU per start otherwise)."""
    if os.environ.get("ALPHATRADE_NB_FORK", "1") == "0": yield None; return
    sys.path.insert(0, str(ROOT / "tests"))
    from live_forkserver import LiveServer
    srv = LiveServer(dict(os.environ), ROOT, tmp_path_factory.mktemp("forked"))
    try: yield srv
    finally: srv.close()


# Persistence runs on BOTH engines: a SQLite file and the real PostgreSQL server (127.0.0.1:5432, database `test`).
# Each PostgreSQL test runs in a fresh schema of its own, dropped afterwards.
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pg_reachable():
    try:
        e = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with e.connect() as c: c.exec_driver_sql("select 1")
        e.dispose(); return None
    except Exception as ex:
        return f"PostgreSQL at 127.0.0.1:5432 is not reachable ({type(ex).__name__}); .ci/run starts it"


@pytest.fixture(params=["sqlite", "postgresql"])
def url_schema(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/alphatrade.db", None
        return
    why = _pg_reachable()
    if why and os.environ.get("CI"): pytest.fail(why + " (in CI the PostgreSQL half must run)")
    if why: pytest.skip(why)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield PG_URL, schema
    e = sa.create_engine(PG_URL)
    with e.begin() as c: c.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    e.dispose()


@pytest.fixture
def db(url_schema):
    url, schema = url_schema
    from alphatrade.infra.repository import Database
    d = Database(url, schema=schema).migrate()
    yield d
    d.dispose()




# `make test` runs on both cores (pytest-xdist, `--dist loadgroup`). Tests are isolated (tmp_path folders, a PostgreSQL
# schema each, free ports, each notebook in its own process), so they spread one by one; only the modules below, whose
# module-scoped fixtures are costly (a trained model, a backtest of the real stocks, the docs site, the examples' nbval run), stay together on one
# worker so that each fixture is built once.
GROUPED = {"test_approval.py", "test_backtest.py", "test_bad_input.py", "test_docs.py", "test_examples.py", "test_features.py",
           "test_lookahead.py", "test_models_science.py", "test_real_data.py", "test_runs.py", "test_simulator.py"}


# The longest work units, longest first (seconds measured alone with `pytest --durations`, on a loaded machine): they start
# first, so that the run does not end waiting on one of them while the other worker is idle. Then the other grouped modules
# (most tests first), then every other test in collection order. A node id prefix names a module or a test.
SLOW_FIRST = ("tests/test_backtest.py",  # 100-300 s: the null test (16 seeds x 4 strategies and the planted edge: 80 backtests)
              "tests/test_notebooks.py::test_notebook[83_backtest.optimized.ipynb]",  # ~166 s: 56 look-ahead cuts of the optimisers
              "tests/test_readme.py::test_readme_command_lines_run_verbatim",  # ~127 s: the README's 20 command lines
              "tests/test_docs.py",  # ~115 s: the docs site
              "tests/test_runs.py",  # ~80 s: four papermill runs, each a kernel
              "tests/test_live.py::test_crash_run",  # ~68 s: the daemon killed and restarted 7 times
              "tests/test_simulator.py", "tests/test_lookahead.py")


def _order(item, i, sizes):
    rank = next((k for k, p in enumerate(SLOW_FIRST) if item.nodeid == p or item.nodeid.startswith(p + "::")), len(SLOW_FIRST))
    grouped = item.path.name in GROUPED
    return (rank, not grouped, -sizes.get(item.path.name, 0) if grouped else 0, i)


def pytest_collection_modifyitems(config, items):
    sizes = {}
    for item in items:
        if item.path.name in GROUPED:
            item.add_marker(pytest.mark.xdist_group(item.path.stem)); sizes[item.path.name] = sizes.get(item.path.name, 0) + 1
    if getattr(config.option, "loadgroup", False):  # an xdist worker of `--dist loadgroup`: the controller hands out work units in
        # the order the workers collected them (see the scheduler below)
        items[:] = [it for _, it in sorted(((_order(it, i, sizes), it) for i, it in enumerate(items)), key=lambda t: t[0])]


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` by module name, work units handed out in collection order (SLOW_FIRST first): pytest-xdist 3.8's own loadgroup puts a group in the node id (`item._nodeid`), which
    pytest 9 no longer reads (`nodeid` is `str(item._id)`), so every test was scheduled alone and each module fixture above was
    built on both workers (the null test's 16 seeds x 5 strategies twice, the docs site twice). This scheduler keeps each module of
    GROUPED on one worker and spreads every other test on its own, whatever the node ids look like."""
    if config.getvalue("dist") != "loadgroup": return None
    from xdist.scheduler import LoadScopeScheduling
    config.option.loadscopereorder = False  # the order is pytest_collection_modifyitems's: longest first, not most tests first

    class ModuleGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            f = nodeid.split("::", 1)[0]
            return f if f.rsplit("/", 1)[-1] in GROUPED else nodeid

    return ModuleGroups(config, log)
