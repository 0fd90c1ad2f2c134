"""Rebuild `data/sample/` (the real bars shipped inside the repository) from `../shared/data`, and check it.

    python tools/make_sample.py [--src ../shared/data] [--check-only]

One zstd-compressed parquet per folder (us15m.parquet, etf15m.parquet): the CSVs' rows as they are (float64 prices and
volume, UTC timestamps) with a `symbol` and a `file` column (the CSV's name, so the CSVs can be written back).
The check reads every CSV and the parquet and requires them to be equal, value for value.
"""
from __future__ import annotations
import argparse, sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from alphatrade.data.loader import read_bars_dir  # noqa: E402
from alphatrade.data.sample import KINDS, SAMPLE_DIR, sample_frames  # noqa: E402


def frame_of(src: Path, kind: str) -> pd.DataFrame:
    "All CSVs of `src/kind` in one frame, with the file name of each row."
    frames = read_bars_dir(src / kind)
    return pd.concat([f.assign(file=f.attrs["source"]) for f in frames], ignore_index=True)


def build(src: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        df = frame_of(src, kind)
        df.to_parquet(out / f"{kind}.parquet", compression="zstd", compression_level=19, index=False)
        print(f"{kind}: {len(df):,} rows, {df.symbol.nunique()} symbols -> {out / f'{kind}.parquet'} "
              f"({(out / f'{kind}.parquet').stat().st_size / 1e6:.2f} MB)")


def check(src: Path, out: Path) -> None:
    "Every CSV's frame equals the sample's frame of that symbol, exactly (dtypes, values, NaNs)."
    for kind in KINDS:
        want = read_bars_dir(src / kind)
        got = sample_frames(kind, out)
        assert [f.attrs["source"] for f in want] == [f.attrs["source"] for f in got], f"{kind}: files differ"
        for w, g in zip(want, got):
            pd.testing.assert_frame_equal(w.reset_index(drop=True), g.reset_index(drop=True), check_exact=True)
        print(f"{kind}: {len(want)} files, equal to the CSVs value for value")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=ROOT.parent / "shared" / "data", help="the folder that holds us15m/ and etf15m/")
    ap.add_argument("--out", type=Path, default=SAMPLE_DIR, help="where the sample goes (default: data/sample)")
    ap.add_argument("--check-only", action="store_true", help="only compare the sample with the CSVs")
    a = ap.parse_args()
    if not a.check_only: build(a.src, a.out)
    check(a.src, a.out)
