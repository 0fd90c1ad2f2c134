"""Bad input fails in bounded time and memory, and says where: junk CSVs through the `alphatrade` CLI (real processes,
peak memory of the child measured), a non-timestamp told apart from a naive timestamp, schema names checked on
SQLite and the real PostgreSQL. No timed assertions (the 200 MB case's time is in bench/bench_bad_input.py)."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from junk_csv import GOOD, HEADER, junk_csv  # tests/junk_csv.py, shared with bench/bench_bad_input.py

BIN = [sys.executable, "-m", "alphatrade.apps.cli"]  # the `alphatrade` command (console script alphatrade.apps.cli:main)

# Runs the CLI in a grandchild and prints its exit code, output and peak RSS (RUSAGE_CHILDREN of this wrapper, so
# only that one process counts, whatever else the test session ran before).
WRAPPER = """
import json, resource, subprocess, sys
r = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=600)
print(json.dumps({"rc": r.returncode, "out": r.stdout, "err": r.stderr,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def cli_measured(*args) -> dict:
    p = subprocess.run([sys.executable, "-c", WRAPPER, *BIN, *map(str, args)], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def nothing_stored(d: Path) -> bool:
    return not list(d.rglob("*.parquet"))


@pytest.fixture(scope="module")
def junk_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("junk")
    a, b = d / "JUNK_15min_x.csv", d / "GOODFIRST_15min_x.csv"
    return {"junk": (a, junk_csv(a, 25)), "goodfirst": (b, junk_csv(b, 25, first=GOOD, seed=1))}


def test_junk_after_a_valid_header_stops_early_and_says_where(junk_files, tmp_path):
    path, rows = junk_files["junk"]
    r = cli_measured("data", "import", path, "--data-dir", tmp_path, "-q")
    err = r["err"]
    assert r["rc"] == 2, err[-2000:]
    assert "JUNK_15min_x.csv: stopped reading after line 1,001: none of the first 1,000 rows is a valid bar" in err, err[:2000]
    first = pd.read_csv(path, nrows=1)["timestamp"].iloc[0]  # the first junk value, read independently
    assert f"JUNK_15min_x.csv, line 2, column timestamp: {first!r} is not a timestamp" in err, err[:2000]
    assert "naive" not in err
    assert err.strip().splitlines()[-1].strip() == "... and 981 more: 981 unparseable timestamp", err[-500:]
    assert len(err.splitlines()) < 40  # the first 20 problems and a count, not one line per problem
    assert r["maxrss_mb"] < 1024, r["maxrss_mb"]
    assert nothing_stored(tmp_path)


def test_junk_read_to_the_end_keeps_memory_bounded_and_counts_the_rest(junk_files, tmp_path):
    # one valid bar first, so the early stop cannot fire: the whole 25 MB is read, a chunk at a time
    path, rows = junk_files["goodfirst"]
    r = cli_measured("data", "import", path, "--data-dir", tmp_path, "-q")
    err = r["err"]
    assert r["rc"] == 2, err[-2000:]
    first = pd.read_csv(path, nrows=2)["timestamp"].iloc[1]
    assert f"GOODFIRST_15min_x.csv, line 3, column timestamp: {first!r} is not a timestamp" in err, err[:2000]
    assert f"{rows:,} problem(s) in market data" in err, err[:300]
    assert err.strip().splitlines()[-1].strip() == f"... and {rows - 20:,} more: {rows - 20:,} unparseable timestamp", err[-500:]
    assert r["maxrss_mb"] < 1024, r["maxrss_mb"]  # main: 710 MB and 27 s for this file, 9.4 GB and 317 s for 200 MB
    assert nothing_stored(tmp_path)


def test_validate_lists_the_first_problems_and_counts_the_rest(tmp_path):
    f = tmp_path / "JUNK_15min_x.csv"
    rows = junk_csv(f, 0.5, first=GOOD, block=2_000)
    r = subprocess.run([*BIN, "data", "validate", str(f), "-q"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    assert sum(l.startswith("ERROR JUNK_15min_x.csv, line ") for l in lines) == 20
    assert f"ERROR JUNK_15min_x.csv: ... and {rows - 20:,} more: {rows - 20:,} unparseable timestamp" in lines, lines[-3:]
    assert lines[-1] == f"validated 1 item(s): {rows} error(s), 0 warning(s)", lines[-1]


def test_not_a_timestamp_is_not_called_naive(tmp_path):
    f = tmp_path / "ABC_15min_x.csv"
    good = [f"2025-06-02T{m // 60}:{m % 60:02d}:00Z,10,11,9,10.5,100,," for m in range(13 * 60 + 30, 14 * 60 + 45, 15)]
    assert len(good) == 5  # lines 2-6
    f.write_text(HEADER + "\n".join(good + ["banana,10,11,9,10.5,100,,", "2025-06-02 10:45:00,10,11,9,10.5,100,,"]) + "\n")
    r = subprocess.run([*BIN, "data", "import", str(f), "--data-dir", str(tmp_path / "d"), "-q"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 2, r.stderr
    assert "ABC_15min_x.csv, line 7, column timestamp: 'banana' is not a timestamp" in r.stderr, r.stderr
    assert "ABC_15min_x.csv, line 8, column timestamp: naive timestamp '2025-06-02 10:45:00' has no time zone" in r.stderr, r.stderr
    assert "--tz" in r.stderr and "'banana' has no time zone" not in r.stderr
    assert "2 problem(s) in market data" in r.stderr


def test_schema_names_are_identifiers(url_schema):
    from alphatrade.core.errors import ConfigError
    from alphatrade.infra import db as dbm
    from alphatrade.infra.repository import Database, KillSwitchRepository
    url, schema = url_schema
    evil = 'x"; drop table orders; --'
    for bad in (evil, "1abc", "a b", "a" * 64):
        with pytest.raises(ConfigError, match="is not a valid name"): Database(url, schema=bad)
        with pytest.raises(ConfigError, match="is not a valid name"): dbm.upgrade(url, schema=bad)
    with pytest.raises(ConfigError, match=r"database schema 'x\"; drop table orders; --' is not a valid name"): dbm.status(url, schema=evil)
    d = Database(url, schema=schema).migrate()  # SQLite: no schema; PostgreSQL: the fixture's fresh, valid one
    KillSwitchRepository(d).activate("schema test")
    assert KillSwitchRepository(Database(url, schema=schema)).state()["active"]
    assert dbm.status(url, schema=schema)["up_to_date"]
    if schema is None:
        with pytest.raises(ConfigError, match="schemas are for PostgreSQL"): Database(url, schema="research")
    else:  # the orders table the evil name would have dropped is still there
        import sqlalchemy as sa
        e = sa.create_engine(url)
        with e.connect() as c: assert c.exec_driver_sql(f'select count(*) from "{schema}".orders').scalar() == 0
        e.dispose()
    d.dispose()


def test_parseable_junk_is_capped_by_validation_too(tmp_path):
    # timestamps fine (every regular bar of three years), every bar impossible (high < low): the loader passes it,
    # validate_bars finds one error per row, keeps 10,000 and counts the rest
    from alphatrade.data.calendar import session_bars
    ts = session_bars("2023-01-03", "2025-12-31")
    f = tmp_path / "HL_15min_x.csv"
    pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": 100.0, "high": 99.0, "low": 101.0, "close": 100.0,
                  "volume": 1000, "vwap": "", "trade_count": ""}).to_csv(f, index=False)
    n = len(ts)
    assert n > 10_000
    r = cli_measured("data", "import", f, "--data-dir", tmp_path / "d", "-q")
    err = r["err"]
    assert r["rc"] == 2, err[-2000:]
    assert f"{n:,} problem(s) in market data" in err, err[:300]
    assert "HL_15min_x.csv, line 2, column high: high 99 < low 101" in err, err[:500]
    assert err.strip().splitlines()[-1].strip() == f"... and {n - 20:,} more: {n - 20:,} ohlc", err[-300:]
    assert r["maxrss_mb"] < 1024
    assert nothing_stored(tmp_path / "d")
