"""Bulk ingest of the 64 real stocks (~460,000 bars) into SQLite and PostgreSQL, into fresh tables each run."""
import uuid

from harness import benchmark


def _bars():
    import pandas as pd
    from alphatrade.core.config import shared_data_dir
    from alphatrade.data.loader import read_bars_dir
    d = shared_data_dir()
    if d is None: raise SystemExit("../shared/data not found: this benchmark reads the real bars")
    return pd.concat(read_bars_dir(d / "us15m"), ignore_index=True)


def _run(timer, url, schema=None):
    from alphatrade.infra.repository import Database, BarRepository
    bars = _bars()
    db = Database(url, schema=schema).migrate()
    br = BarRepository(db)
    with timer("ingest"):
        n = br.ingest(bars)
    with timer("reingest"):
        n2 = br.ingest(bars)
    assert n == len(bars) and n2 == 0
    return {"rows": n, "rows_per_sec": n / timer.phases["ingest"], "reingest_new_rows": n2}


@benchmark("db.ingest_sqlite_real64")
def sqlite(timer):
    import tempfile
    return _run(timer, f"sqlite:///{tempfile.mkdtemp()}/bench.db")


@benchmark("db.ingest_postgres_real64")
def postgres(timer):
    import sqlalchemy as sa
    url, schema = "postgresql+psycopg://postgres@127.0.0.1:5432/test", f"bench_{uuid.uuid4().hex[:10]}"
    try:
        return _run(timer, url, schema)
    finally:
        e = sa.create_engine(url)
        with e.begin() as c: c.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
