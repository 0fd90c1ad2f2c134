"""Examples that never go stale: the worked examples in nbs/examples/ keep their outputs in git, and nbval re-runs them
here (`pytest --nbval-lax`). Every cell must run; cells marked `# NBVAL_CHECK_OUTPUT` must print what is stored, so a change
that moves a documented number fails until the example is re-executed (`jupyter nbconvert --execute --inplace`) and committed."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "nbs" / "examples").glob("*.ipynb"))


def _numbered(src: Path, dst: Path) -> Path:
    "A copy of `src` with execution counts (nbdev_clean removes them; nbval skips a cell without one as never run)."
    nb = json.loads(src.read_text())
    for k, c in enumerate(x for x in nb["cells"] if x["cell_type"] == "code"):
        c["execution_count"] = k + 1
    out = dst / src.name; out.write_text(json.dumps(nb)); return out


def _nbval(*paths, cwd=ROOT):
    "nbval on `paths`; the kernels find the project's config and ../shared/data wherever the copies are."
    from alphatrade.data.sample import real_data_dir
    env = {**os.environ, "ALPHATRADE_CONFIG_DIR": str(ROOT / "config"), "MPLBACKEND": "module://matplotlib_inline.backend_inline",
           "ALPHATRADE_SHARED_DATA": str(real_data_dir())}
    return subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider", "-q",
                           "-o", "addopts=", *map(str, paths)], cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)


def test_examples_have_outputs_and_checks():
    assert len(EXAMPLES) >= 2, EXAMPLES
    for p in EXAMPLES:
        cells = [c for c in json.loads(p.read_text())["cells"] if c["cell_type"] == "code"]
        assert any(c["outputs"] for c in cells), f"{p.name}: no stored outputs (execute it and commit the outputs)"
        assert any("# NBVAL_CHECK_OUTPUT" in "".join(c["source"]) for c in cells), f"{p.name}: no cell's output is checked"


def test_examples_run_and_match_their_outputs(shared_data, tmp_path):
    p = _nbval(*(_numbered(e, tmp_path) for e in EXAMPLES))
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-2000:]
    assert " passed" in p.stdout and " failed" not in p.stdout, p.stdout[-3000:]


def test_a_stale_output_fails(tmp_path):
    """The check can fail: a notebook whose stored output no longer matches what its code prints fails, and the same notebook
    with the right output passes (both in one nbval run: one pytest process, one kernel each)."""
    def nb(text):
        return {"cells": [{"cell_type": "code", "execution_count": 1, "id": "c1", "metadata": {}, "source": ["# NBVAL_CHECK_OUTPUT\n", "print(6 * 7)"],
                           "outputs": [{"name": "stdout", "output_type": "stream", "text": [text]}]}],
                "metadata": {"kernelspec": {"display_name": "python3", "language": "python", "name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "stale.ipynb").write_text(json.dumps(nb("41\n"))); (tmp_path / "fresh.ipynb").write_text(json.dumps(nb("42\n")))
    p = _nbval(tmp_path / "stale.ipynb", tmp_path / "fresh.ipynb", cwd=tmp_path)
    assert p.returncode != 0 and "1 failed, 1 passed" in p.stdout, p.stdout[-3000:]
    failed = [l for l in p.stdout.splitlines() if l.startswith("FAILED")]
    assert len(failed) == 1 and "stale.ipynb" in failed[0], p.stdout[-3000:]
