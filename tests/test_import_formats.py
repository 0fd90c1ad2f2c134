"""Bring your own data (issue 16): bar files as outside sources write them, imported through the `alphatrade` CLI (its own
process, real files, the real store), each giving the right bars or one clear error naming file, line and column.
The expected bars are the shipped real sample (data/sample), read with pandas, not with the code under test."""
import os
import stat
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from alphatrade.data.sample import sample_frames
from alphatrade.data.store import BarStore

BIN = [sys.executable, "-m", "alphatrade.apps.cli"]
NY = "America/New_York"
OHLCV = ["open", "high", "low", "close", "volume"]


cli = None  # `alphatrade ARGS...` -> CompletedProcess: conftest's alphatrade_cli (a process of its own per command line, forked
# from a server that imported the command once), bound before each test


@pytest.fixture(autouse=True)
def _bind_cli(alphatrade_cli):
    global cli
    cli = lambda *args: alphatrade_cli(*args, cwd=None)


@pytest.fixture(scope="module")
def real():
    "Three real stocks, a year of 15-minute bars each, as shipped: {symbol: frame}."
    return {f.symbol.iloc[0]: f.reset_index(drop=True) for f in sample_frames("us15m")[:3]}


def stored(d, symbol):
    return BarStore(d / "real").read(symbol)


def same_bars(got: pd.DataFrame, want: pd.DataFrame):
    assert len(got) == len(want)
    assert (got.timestamp.to_numpy() == want.timestamp.to_numpy()).all()
    np.testing.assert_array_equal(got[OHLCV].to_numpy(), want[OHLCV].to_numpy())


def ny_text(ts: pd.Series) -> pd.Series:
    return ts.dt.tz_convert(NY).dt.strftime("%Y-%m-%d %H:%M:%S")


def test_headerless_with_mapping(real, tmp_path):
    sym, want = "MSFT", next(iter(real.values()))
    f = tmp_path / "prices.txt"
    want.assign(timestamp=ny_text(want.timestamp))[["timestamp"] + OHLCV].to_csv(f, index=False, header=False)
    r = cli("data", "import", f, "--data-dir", tmp_path, "-q", "--symbol", sym, "--no-header", "--tz", NY,
            "--columns", "timestamp,open,high,low,close,volume")
    assert r.returncode == 0, r.stderr
    got = stored(tmp_path, sym)
    same_bars(got, want)
    assert got.vwap.isna().all() and got.trade_count.isna().all()
    r = cli("data", "import", f, "--data-dir", tmp_path / "x", "-q", "--symbol", sym, "--no-header", "--tz", NY, "--columns", "timestamp,open,high,low,close")
    assert r.returncode == 2
    assert "prices.txt, line 1: the file has 6 columns but 5 names were given" in r.stderr, r.stderr


def test_descending_with_duplicates_and_repeated_headers(real, tmp_path):
    sym, want = list(real.items())[1]
    rows = want.assign(timestamp=want.timestamp.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))[["timestamp"] + OHLCV].iloc[::-1]
    rows = pd.concat([rows.iloc[:100], rows.iloc[50:]])  # 50 rows twice (two downloads that overlap)
    f = tmp_path / f"{sym}_15m.csv"
    with open(f, "w", newline="") as out:
        rows.iloc[:3000].to_csv(out, index=False, lineterminator="\r\n")
        rows.iloc[3000:].to_csv(out, index=False, lineterminator="\r\n")  # its header again, mid-file
    common = ["--data-dir", tmp_path, "-q", "--symbol-pattern", "^([A-Z.]+)_"]
    r = cli("data", "import", f, *common)
    assert r.returncode == 2
    assert f"{sym}_15m.csv, line 3, column timestamp: out of order" in r.stderr and "--sort" in r.stderr, r.stderr
    assert not (tmp_path / "real").exists()
    r = cli("data", "import", f, *common, "--sort")
    assert r.returncode == 0, r.stderr
    assert "50 exact duplicate row(s) removed, 1 repeated header line(s) dropped, 1 file(s) sorted" in r.stdout, r.stdout
    same_bars(stored(tmp_path, sym), want)


def test_bar_end_stamps_are_flagged_and_can_be_shifted(real, tmp_path):
    sym, want = list(real.items())[2]
    f = tmp_path / f"{sym}_15min_ends.csv"  # the real bars stamped at their ends, naive New York time
    want.assign(timestamp=ny_text(want.timestamp + pd.Timedelta("15min")))[["timestamp"] + OHLCV].to_csv(f, index=False)
    r = cli("data", "import", f, "--data-dir", tmp_path, "-q", "--tz", NY, "--regular-hours-only")
    assert r.returncode == 2
    first_close = int(np.flatnonzero(ny_text(want.timestamp).str.endswith("15:45:00"))[0]) + 2  # the first 16:00 stamp's line
    assert f"{f.name}, line {first_close}, column timestamp: timestamps look like bar ENDS" in r.stderr, r.stderr
    assert "--timestamps end" in r.stderr and not (tmp_path / "real").exists()
    r = cli("data", "validate", f, "-q", "--tz", NY)
    assert r.returncode == 1 and "end_stamped" in r.stdout, r.stdout
    r = cli("data", "import", f, "--data-dir", tmp_path, "-q", "--tz", NY, "--timestamps", "end")
    assert r.returncode == 0, r.stderr
    same_bars(stored(tmp_path, sym), want)
    r = cli("data", "import", f, "--data-dir", tmp_path / "as-is", "-q", "--tz", NY, "--allow-end-stamps")
    assert r.returncode == 0, r.stderr  # the user's call: stored as written, with the warning counted
    assert stored(tmp_path / "as-is", sym).timestamp.iloc[0] == want.timestamp.iloc[0] + pd.Timedelta("15min")


def test_plain_ohlcv(real, tmp_path):
    sym, want = next(iter(real.items()))
    f = tmp_path / f"{sym}_15min_plain.csv"
    want.assign(timestamp=want.timestamp.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))[["timestamp"] + OHLCV].to_csv(f, index=False)
    r = cli("data", "import", f, "--data-dir", tmp_path, "-q")
    assert r.returncode == 0, r.stderr
    same_bars(stored(tmp_path, sym), want)
    old = os.umask(0o022)
    try: assert stat.S_IMODE(BarStore(tmp_path / "real").path(sym).stat().st_mode) == 0o644
    finally: os.umask(old)


def test_naive_multi_symbol_parquet_with_tz(real, tmp_path):
    bulk = pd.concat([f.assign(time=f.timestamp.dt.tz_convert(NY).dt.tz_localize(None), ticker=s)[["ticker", "time"] + OHLCV]
                      for s, f in real.items()], ignore_index=True)
    f = tmp_path / "bulk.parquet"
    bulk.to_parquet(f, index=False)
    r = cli("data", "import", f, "--data-dir", tmp_path, "-q", "--columns", "ticker=symbol,time=timestamp")
    assert r.returncode == 2
    assert "bulk.parquet, line 1, column timestamp: naive timestamps" in r.stderr and "--tz" in r.stderr, r.stderr
    r = cli("data", "import", f, "--data-dir", tmp_path, "-q", "--columns", "ticker=symbol,time=timestamp", "--tz", NY)
    assert r.returncode == 0, r.stderr
    for s, want in real.items(): same_bars(stored(tmp_path, s), want)
    # a bad value in the last symbol is found, with its record number (the reader does not stop at the first symbol)
    n = len(bulk)
    bulk.loc[n - 5, "close"] = np.nan; bulk.loc[2, "open"] = np.nan
    bulk.to_parquet(f, index=False)
    r = cli("data", "validate", f, "-q", "--columns", "ticker=symbol,time=timestamp", "--tz", NY)  # parquet read as parquet
    assert r.returncode == 1
    assert "ERROR bulk.parquet, line 3, column open: empty open" in r.stdout, r.stdout
    assert f"ERROR bulk.parquet, line {n - 4}, column close: empty close" in r.stdout, r.stdout


def test_max_errors_lists_n_and_counts_every_kind(real, tmp_path):
    sym, want = next(iter(real.items()))
    bad = want.assign(timestamp=want.timestamp.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))[["timestamp"] + OHLCV]
    bad.loc[10:509, "high"] = bad.loc[10:509, "low"] - 1  # 500 high < low
    bad.loc[600:629, "open"] = -1.0  # 30 non-positive opens, each also outside [low, high]
    f = tmp_path / f"{sym}_15min_bad.csv"
    bad.to_csv(f, index=False)
    r = cli("data", "validate", f, "-q", "--max-errors", "7")
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert sum(l.startswith(f"ERROR {f.name}, line ") for l in lines) == 7, lines[:10]
    assert "listed 7 of 560 errors (--max-errors N; 0 lists all)" in lines, lines[-4:]
    assert "errors by kind: 530 ohlc, 30 price" in lines, lines[-4:]
    r = cli("data", "validate", f, "-q", "--max-errors", "0")
    assert sum(l.startswith("ERROR ") for l in r.stdout.splitlines()) == 560
