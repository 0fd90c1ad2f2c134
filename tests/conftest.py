import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def shared_data():
    """The real bars in ../shared/data; tests that need them skip (with the reason) only when it is absent."""
    from alphatrade.core.config import shared_data_dir
    d = shared_data_dir()
    if d is None: pytest.skip(f"../shared/data not found beside {ROOT}: the real-data tests need it")
    return d


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


