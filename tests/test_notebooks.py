"""Every notebook's unit tests as one pytest item each, through nbdev's own test runner.

Each notebook runs in a fresh Python process, as `nbdev_test` would run it on its own: what one notebook defines in
`__main__` (a feature registered under a built-in's name, a logging handler, an environment variable) cannot leak into
another notebook or into the other tests of this pytest process.

nbdev_test's rules apply: cells flagged with a `tst_flags` flag (`#| slow`) are skipped unless
ALPHATRADE_TEST_FLAGS names them, `#| eval: false` cells never run, and notebooks under folders whose
name starts with `_` or `.`, or with `skip_exec: true` front matter (the papermill pipelines), are left out.

The process of each notebook is forked from a server that has already imported nbdev's runner, IPython, numpy, pandas and
matplotlib (tests/nb_forkserver.py: one per pytest worker), so each notebook does not pay ~2 s of imports; the child is
made to look like the fresh `python -c` process it replaces. ALPHATRADE_NB_FORK=0 runs each in a fresh interpreter instead.
"""
import json, os, subprocess, sys
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


@pytest.fixture(scope="session")  # one per pytest worker for the whole run, however its tests interleave with other modules
def forkserver():
    "tests/nb_forkserver.py in a process of its own (None when ALPHATRADE_NB_FORK=0): `run(nb, flags, tmp)` -> (rc, stdout, stderr)."
    if os.environ.get("ALPHATRADE_NB_FORK", "1") == "0": yield None; return
    p = subprocess.Popen([sys.executable, str(ROOT / "tests" / "nb_forkserver.py")], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    def run(nb, flags, tmp):
        out, err = tmp / "stdout.txt", tmp / "stderr.txt"
        req = {"nb": str(nb), "flags": flags, "root": str(ROOT), "out": str(out), "err": str(err), "env": dict(os.environ), "cwd": str(ROOT)}
        p.stdin.write(json.dumps(req) + "\n"); p.stdin.flush()
        line = p.stdout.readline()
        assert line, f"the notebook fork server died (exit {p.poll()})"
        return json.loads(line)["rc"], out.read_text(errors="replace"), err.read_text(errors="replace")
    yield run
    p.stdin.close(); p.wait(60)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[str(p.relative_to(NBS)) for p in NOTEBOOKS])
def test_notebook(nb, forkserver, tmp_path):
    flags = os.environ.get("ALPHATRADE_TEST_FLAGS", "")
    if forkserver: rc, out, err = forkserver(nb, flags, tmp_path)
    else:
        r = subprocess.run([sys.executable, "-c", RUN_ONE, str(nb), flags, str(ROOT)], cwd=ROOT, capture_output=True, text=True)
        rc, out, err = r.returncode, r.stdout, r.stderr
    sys.stdout.write(out); sys.stderr.write(err)  # shown by pytest for a failing test
    assert rc == 0, f"{nb.name} failed its tests (exit {rc}):\n{err[-4000:]}"
