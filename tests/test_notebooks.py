"""Every notebook's unit tests as one pytest item each, through nbdev's own test runner.

nbdev_test's rules apply: cells flagged with a `tst_flags` flag (`#| slow`) are skipped unless
ALPHATRADE_TEST_FLAGS names them, `#| eval: false` cells never run, and notebooks under folders whose
name starts with `_` or `.`, or with `skip_exec: true` front matter (the papermill pipelines), are left out.
"""
import os
from pathlib import Path

import pytest
import nbdev.test as nbt

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"


def _notebooks():
    out = []
    for p in sorted(NBS.rglob("*.ipynb")):
        rel = p.relative_to(NBS)
        if any(part.startswith(("_", ".")) for part in rel.parts): continue
        if (p.parent / ".notest").exists(): continue
        out.append(p)
    return out


NOTEBOOKS = _notebooks()


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 5, f"expected the notebooks under {NBS}, found {NOTEBOOKS}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[str(p.relative_to(NBS)) for p in NOTEBOOKS])
def test_notebook(nb):
    flags = os.environ.get("ALPHATRADE_TEST_FLAGS", "").split()
    ok, secs = nbt.test_nb(nb, skip_flags=["slow"], force_flags=flags, basepath=ROOT)
    assert ok, f"{nb.name} failed its tests (traceback above)"
