"""Bulk ingest of the 64 real stocks (~460,000 bars) into SQLite and PostgreSQL, into fresh tables each run.

On PostgreSQL the same run also loads the same rows with psql's raw `\\copy` from a CSV file into an empty `bars`
table of another fresh schema (same columns, primary key and index), the limit for a client: `ratio_to_raw_copy` is
our ingest's time over psql's."""
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
    from alphatrade.infra.bars import BarRepository
    from alphatrade.infra.repository import Database
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


def _raw_copy(timer, url, schema, bars):
    "psql `\\copy` of the same rows (written to a CSV file first, untimed) into an empty bars table of `schema`."
    import os, shutil, subprocess, tempfile
    import pandas as pd
    from alphatrade.infra.repository import Database
    psql = shutil.which("psql")
    if psql is None: raise SystemExit("psql is not installed: the raw \\copy baseline needs it")
    Database(url, schema=schema).migrate()
    cols = ["symbol", "timeframe", "timestamp", "open", "high", "low", "close", "volume", "vwap", "trade_count"]
    f = os.path.join(tempfile.mkdtemp(), "bars.csv")
    out = bars.assign(timeframe="15Min", timestamp=pd.DatetimeIndex(bars["timestamp"]).tz_convert("UTC"),
                      trade_count=bars["trade_count"].astype("Int64"))[cols]
    out.to_csv(f, index=False, header=False)
    cmd = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d", "test",
           "-c", f'SET search_path TO "{schema}"', "-c", f"\\copy bars ({', '.join(cols)}) FROM '{f}' WITH (FORMAT csv)"]
    with timer("raw_copy"):
        subprocess.run(cmd, check=True, capture_output=True)
    os.remove(f)


@benchmark("db.ingest_postgres_real64")
def postgres(timer):
    import sqlalchemy as sa
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    schema, raw = f"bench_{uuid.uuid4().hex[:10]}", f"bench_raw_{uuid.uuid4().hex[:10]}"
    try:
        out = _run(timer, url, schema)
        _raw_copy(timer, url, raw, _bars())
        e = sa.create_engine(url)
        with e.connect() as c: n_raw = c.exec_driver_sql(f'SELECT count(*) FROM "{raw}".bars').scalar()
        e.dispose()
        assert n_raw == out["rows"]
        return {**out, "raw_copy_s": timer.phases["raw_copy"], "raw_copy_rows_per_sec": n_raw / timer.phases["raw_copy"],
                "ratio_to_raw_copy": timer.phases["ingest"] / timer.phases["raw_copy"]}
    finally:
        e = sa.create_engine(url)
        with e.begin() as c:
            for s in (schema, raw): c.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{s}" CASCADE')
        e.dispose()
