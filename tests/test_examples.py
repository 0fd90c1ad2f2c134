"""Examples that never go stale: the worked examples in nbs/examples/ keep their outputs in git, and nbval re-runs them
here (`pytest --nbval-lax`). Every cell must run; cells marked `# NBVAL_CHECK_OUTPUT` must print what is stored, so a change
that moves a documented number fails until the example is re-executed (`jupyter nbconvert --execute --inplace`) and committed."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "nbs" / "examples").glob("*.ipynb"))


def _numbered(src: Path, dst: Path) -> Path:
    "A copy of `src` with execution counts (nbdev_clean removes them; nbval skips a cell without one as never run)."
    nb = json.loads(src.read_text())
    for k, c in enumerate(x for x in nb["cells"] if x["cell_type"] == "code"):
        c["execution_count"] = k + 1
    out = dst / src.name; out.write_text(json.dumps(nb)); return out


def _nbval(*paths, cwd=ROOT):
    """nbval on `paths` in one pytest process (one kernel per notebook), every item's outcome listed (-rA); the kernels find the
    project's config and ../shared/data wherever the copies are. (The process lets jsonschema's optional import of rfc3987_syntax
    fail: it builds 39 lark parsers as it is imported, ~1.1 s of CPU, for an "iri" format check nbformat never asks for.)"""
    from alphatrade.data.sample import real_data_dir
    env = {**os.environ, "ALPHATRADE_CONFIG_DIR": str(ROOT / "config"), "MPLBACKEND": "module://matplotlib_inline.backend_inline",
           "ALPHATRADE_SHARED_DATA": str(real_data_dir())}
    main = "import sys; sys.modules['rfc3987_syntax'] = None; import pytest; sys.exit(pytest.main())"
    return subprocess.run([sys.executable, "-c", main, "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider", "-q", "-rA",
                           "-o", "addopts=", *map(str, paths)], cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)


def _stale_check(text):
    "A notebook of one cell, `print(6 * 7)`, whose checked output is stored as `text`."
    return {"cells": [{"cell_type": "code", "execution_count": 1, "id": "c1", "metadata": {}, "source": ["# NBVAL_CHECK_OUTPUT\n", "print(6 * 7)"],
                       "outputs": [{"name": "stdout", "output_type": "stream", "text": [text]}]}],
            "metadata": {"kernelspec": {"display_name": "python3", "language": "python", "name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture(scope="module")
def nbval(shared_data, tmp_path_factory):
    """One nbval run of the examples and of two one-cell notebooks, stale.ipynb (its stored output is wrong) and fresh.ipynb (right):
    (the CompletedProcess, {notebook file name: [outcome of each of its items, PASSED/FAILED/ERROR...]}). One pytest process for
    both tests below (a second one cost ~2.5 s of CPU); each notebook still runs in a kernel of its own."""
    tmp = tmp_path_factory.mktemp("examples")
    (tmp / "examples").mkdir(); (tmp / "check").mkdir()
    (tmp / "check" / "stale.ipynb").write_text(json.dumps(_stale_check("41\n")))
    (tmp / "check" / "fresh.ipynb").write_text(json.dumps(_stale_check("42\n")))
    p = _nbval(*(_numbered(e, tmp / "examples") for e in EXAMPLES), tmp / "check" / "stale.ipynb", tmp / "check" / "fresh.ipynb")
    items = {}
    for line in p.stdout.splitlines():
        m = re.match(r"(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\s+(?:\S*/)?([^/\s]+\.ipynb)(?:::|\s|$)", line)
        if m: items.setdefault(m[2], []).append(m[1])
    return p, items


def test_examples_have_outputs_and_checks():
    assert len(EXAMPLES) >= 2, EXAMPLES
    for p in EXAMPLES:
        cells = [c for c in json.loads(p.read_text())["cells"] if c["cell_type"] == "code"]
        assert any(c["outputs"] for c in cells), f"{p.name}: no stored outputs (execute it and commit the outputs)"
        assert any("# NBVAL_CHECK_OUTPUT" in "".join(c["source"]) for c in cells), f"{p.name}: no cell's output is checked"


def test_examples_run_and_match_their_outputs(nbval):
    p, items = nbval
    for e in EXAMPLES:  # every code cell of every example is an item, and each passed
        n = sum(c["cell_type"] == "code" for c in json.loads(e.read_text())["cells"])
        assert items.get(e.name) == ["PASSED"] * n, (e.name, items.get(e.name), p.stdout[-6000:] + p.stderr[-2000:])
    assert set(items) == {e.name for e in EXAMPLES} | {"stale.ipynb", "fresh.ipynb"}, (sorted(items), p.stdout[-3000:])
    # the run's own summary: the one failure is stale.ipynb's (below), nothing else failed or errored
    assert p.stdout.splitlines()[-1].strip().startswith(("1 failed,", "= 1 failed,")) and " error" not in p.stdout.splitlines()[-1], p.stdout[-3000:]


def test_a_stale_output_fails(nbval):
    """The check can fail: a notebook whose stored output no longer matches what its code prints fails, and the same notebook
    with the right output passes (in the examples' nbval run: one kernel each)."""
    p, items = nbval
    assert p.returncode != 0, p.stdout[-3000:]
    assert items.get("stale.ipynb") == ["FAILED"] and items.get("fresh.ipynb") == ["PASSED"], (items, p.stdout[-3000:])
    failed = [l for l in p.stdout.splitlines() if l.startswith("FAILED")]
    assert len(failed) == 1 and "stale.ipynb" in failed[0], p.stdout[-3000:]
    assert re.search(r"\b1 failed, \d+ passed\b", p.stdout.splitlines()[-1]), p.stdout[-3000:]
