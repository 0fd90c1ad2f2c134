"""Every notebook's unit tests as one pytest item each, through nbdev's own test runner.

Each notebook runs in a fresh Python process, as `nbdev_test` would run it on its own: what one notebook defines in
`__main__` (a feature registered under a built-in's name, a logging handler, an environment variable) cannot leak into
another notebook or into the other tests of this pytest process.

nbdev_test's rules apply: cells flagged with a `tst_flags` flag (`#| slow`) are skipped unless
ALPHATRADE_TEST_FLAGS names them, `#| eval: false` cells never run, and notebooks under folders whose
name starts with `_` or `.`, or with `skip_exec: true` front matter (the papermill pipelines), are left out.
"""
import os, subprocess, sys
from pathlib import Path

import pytest

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

# nbdev's own runner for one notebook: `slow` cells skipped unless forced, exit 1 when a cell fails
RUN_ONE = ("import sys, pathlib, nbdev.test as t; "
           "ok, _ = t.test_nb(pathlib.Path(sys.argv[1]), skip_flags=['slow'], force_flags=sys.argv[2].split(), basepath=sys.argv[3]); "
           "sys.exit(0 if ok else 1)")


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 5, f"expected the notebooks under {NBS}, found {NOTEBOOKS}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[str(p.relative_to(NBS)) for p in NOTEBOOKS])
def test_notebook(nb):
    flags = os.environ.get("ALPHATRADE_TEST_FLAGS", "")
    r = subprocess.run([sys.executable, "-c", RUN_ONE, str(nb), flags, str(ROOT)], cwd=ROOT, capture_output=True, text=True)
    sys.stdout.write(r.stdout); sys.stderr.write(r.stderr)  # shown by pytest for a failing test
    assert r.returncode == 0, f"{nb.name} failed its tests (exit {r.returncode}):\n{r.stderr[-4000:]}"
