"""The `alphatrade` console script end to end, as a user runs it: real files, each command line in a process of its own.

The command lines run through conftest's `alphatrade_cli`: each is forked from a server that has imported the command once
(`alphatrade.apps.cli:main` with the line's argv, exit code, stdout and stderr of its own), not a fresh interpreter, which
costs ~3-4 s of imports per line. `test_help_explains_every_command` starts the real console script (`python -m
alphatrade.apps.cli`) for `alphatrade data --help`; tests/test_readme.py::test_version does for `--version`."""
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

BIN = [sys.executable, "-m", "alphatrade.apps.cli"]  # the `alphatrade` command (console script alphatrade.apps.cli:main)
HEADER = "timestamp,open,high,low,close,volume,vwap,trade_count"


cli = None  # `alphatrade ARGS...` -> CompletedProcess (`cli(*args, cwd=None)`): conftest's alphatrade_cli, bound before each test


@pytest.fixture(autouse=True)
def _bind_cli(alphatrade_cli):
    global cli
    cli = alphatrade_cli


def tree_digest(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()} if folder.exists() else {}


def test_help_explains_every_command():
    top = subprocess.run([*BIN, "data", "--help"], capture_output=True, text=True, timeout=600)  # the real console script
    assert top.returncode == 0 and "usage: alphatrade data" in top.stdout, (top.stdout, top.stderr)
    for cmd in ("synth", "import", "fetch", "validate", "info"):
        assert cmd in top.stdout
        h = cli("data", cmd, "--help")
        assert h.returncode == 0 and "usage: alphatrade data " + cmd in h.stdout and len(h.stdout) > 300, h.stdout


def _session_csv(path: Path, day="2025-06-02", start="13:30", n=26, base=100.0):
    rows = [HEADER]
    for k, t in enumerate(pd.date_range(f"{day} {start}", periods=n, freq="15min", tz="UTC")):
        o = base + k
        rows.append(f"{t:%Y-%m-%dT%H:%M:%SZ},{o},{o + 1},{o - 1},{o + .5},{1000 + k},,")
    path.write_text("\n".join(rows) + "\n")
    return rows


@pytest.fixture
def store_with_data(tmp_path):
    good = tmp_path / "in" / "GOOD_15min_2025-06-02.csv"
    good.parent.mkdir()
    _session_csv(good)
    store = tmp_path / "store"
    r = cli("data", "import", good, "--store", store, "-q")
    assert r.returncode == 0, r.stderr
    return tmp_path, store


def _corrupt(rows, kind):
    rows = list(rows)
    if kind == "high_below_low":  # line 8 (header is line 1): high below low
        f = rows[7].split(","); f[2] = str(float(f[3]) - 5); rows[7] = ",".join(f)
        return rows, "line 8", "column high"
    if kind == "duplicate_timestamp":  # line 12 repeats line 11's timestamp
        f = rows[11].split(","); f[0] = rows[10].split(",")[0]; rows[11] = ",".join(f)
        return rows, "line 12", "column timestamp"
    if kind == "missing_column":
        return [",".join(r.split(",")[:4] + r.split(",")[5:]) for r in rows], None, "column close"
    if kind == "naive_timestamp":  # line 5 has no Z / offset
        f = rows[4].split(","); f[0] = f[0].rstrip("Z"); rows[4] = ",".join(f)
        return rows, "line 5", "column timestamp"
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["high_below_low", "duplicate_timestamp", "missing_column", "naive_timestamp"])
def test_corrupted_csv_is_refused_with_location_and_store_unchanged(store_with_data, kind):
    tmp, store = store_with_data
    before = tree_digest(store)
    ok = tmp / "in" / "OTHER_15min_2025-06-02.csv"
    _session_csv(ok, base=50.0)
    bad = tmp / "in" / "BAD_15min_2025-06-02.csv"
    rows, line, col = _corrupt(_session_csv(bad, base=200.0), kind)
    bad.write_text("\n".join(rows) + "\n")
    r = cli("data", "import", ok, bad, "--store", store, "-q")
    assert r.returncode == 2, (r.stdout, r.stderr)
    msg = r.stderr
    assert "BAD_15min_2025-06-02.csv" in msg and col in msg, msg
    if line: assert line in msg, msg
    assert tree_digest(store) == before  # nothing written, not even the good OTHER file


def test_reimport_is_idempotent(store_with_data):
    tmp, store = store_with_data
    before = tree_digest(store)
    r = cli("data", "import", tmp / "in" / "GOOD_15min_2025-06-02.csv", "--store", store, "-q")
    assert r.returncode == 0 and "0 new" in r.stdout, r.stdout
    assert tree_digest(store) == before


def test_synth_same_seed_same_bytes_other_seed_differs(tmp_path):
    args = ["--start", "2025-03-03", "--end", "2025-03-14", "--symbols", "AAPL,JPM,XOM,WMT", "-q"]
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        r = cli("data", "synth", "--store", tmp_path / name, "--seed", seed, *args)
        assert r.returncode == 0, r.stderr
    a, b, c = (tree_digest(tmp_path / n) for n in "abc")
    assert a == b and len(a) == 4
    assert a != c


def test_import_and_validate_real_data(shared_data, tmp_path):
    store = tmp_path / "store"
    r = cli("data", "import", shared_data / "us15m", "--store", store, "-q")
    assert r.returncode == 0, r.stderr
    assert "64 file(s)" in r.stdout
    info = cli("data", "info", "--store", store)
    assert info.returncode == 0 and "64 symbol(s)" in info.stdout
    v = cli("data", "validate", "--store", store, "-q")
    assert v.returncode == 0 and "0 error(s)" in v.stdout, v.stdout
    # re-importing the same real files changes nothing
    before = tree_digest(store)
    r2 = cli("data", "import", shared_data / "us15m", "--store", store, "-q")
    assert r2.returncode == 0 and " 0 new" in r2.stdout, r2.stdout
    assert tree_digest(store) == before
