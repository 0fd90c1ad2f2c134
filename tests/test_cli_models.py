"""`alphatrade models ls|show` as a user runs it: the command line through its entry point, each in a process of its own (conftest.alphatrade_cli), a real registry folder."""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alphatrade.models.base import TradingModel, register_model
from alphatrade.models.registry import ModelRegistry

ROOT = Path(__file__).resolve().parents[1]


cli = None  # `alphatrade ARGS...` -> CompletedProcess: conftest's alphatrade_cli (a process of its own per command line, forked
# from a server that imported the command once), bound before each test


@pytest.fixture(autouse=True)
def _bind_cli(alphatrade_cli):
    global cli
    cli = lambda *args: alphatrade_cli(*args, cwd=ROOT)


@register_model
class _JsonLeastSquares(TradingModel):
    "A least-squares model whose artifact is a JSON list of coefficients."
    artifact_format = "json"
    def _fit(self, X, y, validation=None, sample_weights=None):
        A = np.c_[np.ones(len(X)), X]; self.coef_ = np.linalg.lstsq(A, y, rcond=None)[0]
    def _predict(self, X): return np.c_[np.ones(len(X)), X] @ self.coef_
    def _importance(self): return self.coef_[1:]
    def _save_artifact(self, folder): (folder / "coef.json").write_text(json.dumps(self.coef_.tolist())); return ["coef.json"]
    def _load_artifact(self, folder): self.coef_ = np.array(json.loads((folder / "coef.json").read_text()))


@pytest.fixture
def registry(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = 2 * X["a"] - X["c"] + 0.1 * rng.normal(size=200)
    reg = ModelRegistry(tmp_path / "models")
    m = _JsonLeastSquares(name="ls").fit(X, y)
    meta = {"label": "fwd_ret_1", "train_start": "2025-01-02", "train_end": "2025-06-30", "metrics": {"oos_ic": 0.0312}}
    r1 = reg.register(m, "ridge_fwd1", metadata=meta)
    r2 = reg.register(m, "ridge_fwd1", metadata=meta)
    return reg, r1, r2


def test_ls_lists_every_version(registry):
    reg, r1, r2 = registry
    r = cli("models", "ls", "--root", reg.root)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].split() == ["name", "version", "class", "created_at", "n_features", "label", "train_start", "train_end",
                                "metric", "value", "artifact_sha256"]
    assert len(lines) == 3
    for line, rec in zip(lines[1:], (r1, r2)):
        f = line.split()
        assert f[:3] == ["ridge_fwd1", rec.version, "_JsonLeastSquares"]
        assert f[4:10] == ["3", "fwd_ret_1", "2025-01-02", "2025-06-30", "oos_ic", "0.0312"]
        assert f[10] == rec.artifact_sha256[:12]


def test_ls_of_an_empty_registry(tmp_path):
    r = cli("models", "ls", "--root", tmp_path / "none")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"no models registered in {tmp_path / 'none'}"


def test_show_prints_metadata_and_verified_checksums(registry):
    reg, r1, r2 = registry
    r = cli("models", "show", "ridge_fwd1", "--root", reg.root)
    assert r.returncode == 0, r.stderr
    body, status = r.stdout.rsplit("checksums: ", 1)
    assert status.startswith("ok")
    meta = json.loads(body)
    assert (meta["name"], meta["version"], meta["class"]) == ("ridge_fwd1", "2", "_JsonLeastSquares")
    assert meta["artifact_sha256"] == r2.artifact_sha256 and meta["feature_names"] == ["a", "b", "c"]
    assert meta["metrics"] == {"oos_ic": 0.0312} and meta["path"] == str(r2.path)
    r = cli("models", "show", "ridge_fwd1", "--version", "1", "--root", reg.root)
    assert r.returncode == 0 and json.loads(r.stdout.rsplit("checksums: ", 1)[0])["version"] == "1"
    assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=r1.path, capture_output=True).returncode == 0


def test_show_refuses_a_tampered_artifact(registry):
    reg, r1, r2 = registry
    with open(r2.path / "coef.json", "ab") as f: f.write(b"\n")
    r = cli("models", "show", "ridge_fwd1", "--root", reg.root)
    assert r.returncode == 1 and r.stdout == ""
    assert "coef.json was modified" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert cli("models", "show", "ridge_fwd1", "--version", "1", "--root", reg.root).returncode == 0  # the other version is intact
    (r1.path / "evil.pkl").write_bytes(b"\x80\x04N.")
    r = cli("models", "show", "ridge_fwd1", "--version", "1", "--root", reg.root)
    assert r.returncode == 1 and "evil.pkl is a pickle: refused" in r.stderr, r.stderr


def test_show_unknown_name_or_version(registry):
    reg, *_ = registry
    r = cli("models", "show", "nope", "--root", reg.root)
    assert r.returncode == 1 and "no model named 'nope'" in r.stderr and "registered: ridge_fwd1" in r.stderr, r.stderr
    r = cli("models", "show", "ridge_fwd1", "--version", "7", "--root", reg.root)
    assert r.returncode == 1 and "no version 7" in r.stderr and "versions: 1, 2" in r.stderr, r.stderr
    r = cli("models", "show", "../x", "--root", reg.root)
    assert r.returncode == 1 and "Traceback" not in r.stderr


def test_help():
    r = cli("models", "--help")
    assert r.returncode == 0 and "ls" in r.stdout and "show" in r.stdout
    assert "models" in cli("--help").stdout


SIX = {"lstm": (["seq_window=3", "epochs=2", "hidden=8"], "LSTMRegressor", 6),
       "transformer": (["seq_window=3", "epochs=2", "d_model=8", "heads=2", "layers=1", "dim_ff=16"], "TransformerRegressor", 6),
       "tcn": (["seq_window=3", "epochs=2", "channels=8", "levels=2"], "TCNRegressor", 6),
       "ppo": (["steps=4000", "eval_every=2000"], "PPORegressor", 2),
       "a2c": (["steps=4000", "eval_every=2000"], "A2CRegressor", 2),
       "catboost": (["n_estimators=30", "thread_count=1"], "CatBoostRegressor", 2)}  # tiny configurations: seconds each
# (CatBoost on one thread: make test's two workers share two cores, where a second thread mostly waits for one)


@pytest.mark.parametrize("family", list(SIX))
def test_train_each_new_model_then_ls_and_show(tmp_path, family):
    "`alphatrade train --model lstm|transformer|tcn|ppo|a2c|catboost` registers the model; `models ls` lists it and `models show` verifies its files."
    params, cls, n_features = SIX[family]
    root = tmp_path / "models"
    # `alphatrade train` too runs forked from the command server (which has imported torch and SB3 once: ~3-4 s of CPU a family)
    r = cli("train", "--model", family, "--start", "2025-02-03", "--end", "2025-02-28", "--symbols", "AAPL,MSFT,JPM,XOM",
            "--features", "ret_1,vol_26", "--folds", "2", "--seed", "3", "--root", root, "-q", *[a for p in params for a in ("--param", p)])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "out-of-sample: IC" in r.stdout and f"registered {family} version 1" in r.stdout, r.stdout[-1500:]
    ls = cli("models", "ls", "--root", root)
    assert ls.returncode == 0, ls.stderr
    row = ls.stdout.strip().splitlines()[1].split()
    assert row[:3] == [family, "1", cls] and row[4] == str(n_features), ls.stdout  # a sequence model: 2 features x 3 bars
    show = cli("models", "show", family, "--root", root)
    assert show.returncode == 0 and "checksums: ok" in show.stdout, show.stdout[-1500:]
    files = json.loads(show.stdout[show.stdout.index("{"):show.stdout.rindex("}") + 1])["files"]
    assert any(f.endswith((".safetensors", ".cbm")) for f in files) and not any(f.endswith((".pt", ".pth", ".pkl", ".zip")) for f in files), files
