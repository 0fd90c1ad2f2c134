"""The junk-CSV writer of the bad-input test (tests/test_bad_input.py) and benchmark (bench/bench_bad_input.py): one
function, so the test and the benchmark feed `alphatrade data import` the same kind of file. A test helper, not a
library feature: it lives beside the tests (bench puts this folder on its path, as bench_live does)."""
from pathlib import Path

import numpy as np
import pandas as pd

HEADER = "timestamp,open,high,low,close,volume,vwap,trade_count\n"  # the seed CSV format's header
GOOD = "2025-06-02T13:30:00Z,10,11,9,10.5,100,10.2,7\n"  # one valid bar
WORDS = np.array(["apple", "banana", "cherry", "delta", "echo", "falcon", "granite", "harbor", "indigo", "juniper"])


def junk_csv(path: Path, mb: float, first: str = "", seed: int = 0, block: int = 100_000) -> int:
    "A valid header, `first`, then well-formed junk (two words as the timestamp, random numbers) up to `mb` MB; returns the junk rows."
    rng, n = np.random.default_rng(seed), 0
    with open(path, "w") as f:
        f.write(HEADER + first)
        while f.tell() < mb * 1e6:
            p = rng.uniform(1, 500, (block, 4)).round(2)
            t = np.char.add(WORDS[rng.integers(len(WORDS), size=block)], WORDS[rng.integers(len(WORDS), size=block)])
            pd.DataFrame({"t": t, "o": p[:, 0], "h": p[:, 1], "l": p[:, 2], "c": p[:, 3], "v": rng.integers(0, 10**6, block),
                          "vw": p.mean(1).round(3), "n": rng.integers(0, 5000, block)}).to_csv(f, header=False, index=False)
            n += block
    return n
