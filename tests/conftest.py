import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def shared_data():
    """A folder with the real bars as CSV (us15m/, etf15m/): ../shared/data (or $ALPHATRADE_SHARED_DATA) when present,
    else the sample shipped in data/sample written back to CSV (the same bars): no test skips for want of real data."""
    from alphatrade.data.sample import real_data_dir
    return real_data_dir()


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
# module-scoped fixtures are costly (a trained model, a backtest of the real stocks, the docs site), stay together on one
# worker so that each fixture is built once.
GROUPED = {"test_approval.py", "test_backtest.py", "test_bad_input.py", "test_docs.py", "test_features.py",
           "test_lookahead.py", "test_models_science.py", "test_real_data.py", "test_runs.py", "test_simulator.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in GROUPED: item.add_marker(pytest.mark.xdist_group(item.path.stem))


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` by module name: pytest-xdist 3.8's own loadgroup puts a group in the node id (`item._nodeid`), which
    pytest 9 no longer reads (`nodeid` is `str(item._id)`), so every test was scheduled alone and each module fixture above was
    built on both workers (the null test's 16 seeds x 5 strategies twice, the docs site twice). This scheduler keeps each module of
    GROUPED on one worker and spreads every other test on its own, whatever the node ids look like."""
    if config.getvalue("dist") != "loadgroup": return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            f = nodeid.split("::", 1)[0]
            return f if f.rsplit("/", 1)[-1] in GROUPED else nodeid

    return ModuleGroups(config, log)
