import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def shared_data():
    """The real bars in ../shared/data; tests that need them skip (with the reason) only when it is absent."""
    from alphatrade.core.config import shared_data_dir
    d = shared_data_dir()
    if d is None: pytest.skip(f"../shared/data not found beside {ROOT}: the real-data tests need it")
    return d
