"""The real bars in ../shared/data through the loader and validation: the README's facts, exactly.

Every expectation below is transcribed from ../shared/data/README.md, not computed by the code under test.
"""
from collections import Counter, defaultdict

import pandas as pd
import pytest

from alphatrade.data.calendar import session_bars
from alphatrade.data.loader import read_bars_dir
from alphatrade.data.preprocess import validate_bars

STOCK_GAPS = ["2026-02-26 14:30", "2026-03-23 14:45", "2026-03-23 15:00"]  # missing in all 64 stock files
LULU_GAP = "2026-02-24 17:45"
LATE_1128 = {"AMD", "BABA", "COIN", "GOOG", "HOOD", "INTC", "IONQ", "MSFT", "NFLX", "NVDA", "ORCL", "PLTR", "QQQ", "SMCI", "SPY", "XLU"}
LATE_1224 = {"AMD", "COIN", "NFLX", "NVDA", "ORCL", "QQQ", "RGTI", "SPY"}
ZERO_VOLUME = {"MELI": 11, "XYZ": 1}
BIG_REAL_MOVES = [("ORCL", "2025-09-10"), ("AMD", "2025-10-06"), ("SNOW", "2026-05-28"), ("LCID", "2025-07-17"),
                  ("LUNR", "2025-05-13"), ("INTC", "2025-09-18"), ("INTC", "2026-04-24"), ("SMCI", "2026-03-20")]


@pytest.fixture(scope="module")
def reports(shared_data):
    frames = read_bars_dir(shared_data / "us15m") + read_bars_dir(shared_data / "etf15m")
    return {f.symbol.iloc[0]: (f, validate_bars(f)) for f in frames}


def test_all_files_load(reports, shared_data):
    stocks = {p.name.split("_")[0] for p in (shared_data / "us15m").glob("*.csv")}
    assert len(stocks) == 64 and len(reports) == 64 + 16
    assert all(set(reports[s][0].columns) >= {"timestamp", "open", "close"} for s in stocks)
    assert all(len(reports[s][0]) > 7000 for s in stocks)  # ~7,215 per stock


def test_no_errors(reports):
    errors = {s: r.errors[:3] for s, (_, r) in reports.items() if r.errors}
    assert errors == {}


def test_gaps_are_exactly_the_known_missing_bars(reports, shared_data):
    stocks = {p.name.split("_")[0] for p in (shared_data / "us15m").glob("*.csv")}
    for sym, (_, rep) in reports.items():
        got = sorted(pd.Timestamp(i.message.split("missing bar ")[1].split(" (")[0]) for i in rep.of_kind("gap"))
        if sym in stocks:
            want = [pd.Timestamp(t, tz="UTC") for t in STOCK_GAPS + ([LULU_GAP] if sym == "LULU" else [])]
        else:
            want = []  # the ETFs end 2026-03-09, before the stock gaps, and have none of their own
        assert got == sorted(want), sym


def test_bars_after_the_half_day_close(reports):
    late = defaultdict(set)
    for sym, (df, rep) in reports.items():
        for i in rep.of_kind("outside_hours"):
            t = df.loc[i.row, "timestamp"]
            assert t.tz_convert("America/New_York").hour >= 13, (sym, t)
            late[str(t.tz_convert("America/New_York").date())].add(sym)
    assert dict(late) == {"2025-11-28": LATE_1128, "2025-12-24": LATE_1224}


def test_zero_volume_bars(reports):
    got = {s: len(r.of_kind("zero_volume")) for s, (_, r) in reports.items() if r.of_kind("zero_volume")}
    assert got == ZERO_VOLUME


def test_every_other_session_is_26_or_14_bars(reports):
    for sym, (df, rep) in reports.items():
        ts = pd.DatetimeIndex(df.timestamp)
        regular = ts[ts.isin(session_bars(ts.min(), ts.max()))]
        per_day = pd.Series(1, index=regular).groupby(regular.tz_convert("America/New_York").date).sum()
        expected = pd.Series(1, index=session_bars(ts.min(), ts.max()))
        expected = expected.groupby(expected.index.tz_convert("America/New_York").date).sum()
        assert set(expected.unique()) == {26, 14}
        short = per_day[per_day != expected.reindex(per_day.index)]
        known_short = {pd.Timestamp(t).date() for t in STOCK_GAPS + ([LULU_GAP] if sym == "LULU" else [])}
        assert set(short.index) <= known_short, (sym, short)
        assert set(expected.index) == set(per_day.index), sym  # no session is absent


def test_big_real_moves_are_not_flagged_as_splits(reports):
    flagged = {s: r.of_kind("suspected_split") for s, (_, r) in reports.items() if r.of_kind("suspected_split")}
    assert flagged == {}
    for sym, day in BIG_REAL_MOVES:  # and the moves are really there, above 20%
        df = reports[sym][0]
        d = df.timestamp.dt.tz_convert("America/New_York").dt.date
        day = pd.Timestamp(day).date()
        prev_close = df.loc[d < day, "close"].iloc[-1]
        moved = df.loc[d == day, ["high", "low"]]
        assert max(moved.high.max() / prev_close, prev_close / moved.low.min()) > 1.2, (sym, day)
