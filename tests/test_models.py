"""One conformance test for every registered model class (classical, sequence, PPO/A2C policies and ensembles), and the registry round trip
for each: fit, predict, proba where relevant, importance, save/load with identical predictions and bytes."""
import numpy as np
import pytest

from alphatrade.models.base import MODEL_CLASSES, ModelType
from alphatrade.models.classical import MODELS, make_model, conformance
from alphatrade.models.ensemble import VotingEnsemble, StackingEnsemble, AdaptiveEnsemble
from alphatrade.models.registry import ModelRegistry
from alphatrade.models.sequence import TINY
from alphatrade.models.policy import TINY as TINY_POLICY

SMALL = {"xgboost": dict(n_estimators=60), "lightgbm": dict(n_estimators=60), "catboost": dict(n_estimators=60),
         "random_forest": dict(n_estimators=40), "elastic_net": {},
         **{fam: dict(epochs=15, lr=3e-3, **cfg) for fam, cfg in TINY.items()},  # tiny networks: seconds on a CPU
         **TINY_POLICY}  # PPO and A2C: 20k one-step episodes, seconds

def _classical(family, kind): return make_model(family, kind, seed=11, **SMALL[family])

def _ensembles():
    out = []
    for kind in ("regression", "classification"):
        m = lambda: [_classical("lightgbm", kind), _classical("elastic_net", kind)]
        out += [(f"voting-soft-{kind}", lambda m=m: VotingEnsemble(m(), voting="soft")),
                (f"stacking-{kind}", lambda m=m: StackingEnsemble(m(), n_folds=3)),
                (f"adaptive-{kind}", lambda m=m: AdaptiveEnsemble(m()))]
    # a sequence model is a member like any other
    out += [("voting-lstm-lightgbm-regression", lambda: VotingEnsemble([_classical("lstm", "regression"), _classical("lightgbm", "regression")])),
            ("stacking-tcn-catboost-classification", lambda: StackingEnsemble([_classical("tcn", "classification"), _classical("catboost", "classification")], n_folds=3)),
            ("adaptive-transformer-elastic_net-regression", lambda: AdaptiveEnsemble([_classical("transformer", "regression"), _classical("elastic_net", "regression")])),
            # so is a PPO or A2C policy
            ("voting-ppo-elastic_net-regression", lambda: VotingEnsemble([_classical("ppo", "regression"), _classical("elastic_net", "regression")])),
            ("stacking-a2c-lightgbm-classification", lambda: StackingEnsemble([_classical("a2c", "classification"), _classical("lightgbm", "classification")], n_folds=3))]
    out.append(("voting-hard-classification", lambda: VotingEnsemble([_classical("lightgbm", "classification"), _classical("random_forest", "classification")], voting="hard")))
    return out

CASES = [(f"{fam}-{kind}", lambda fam=fam, kind=kind: _classical(fam, kind)) for fam in MODELS for kind in ("regression", "classification")] + _ensembles()

def test_every_registered_class_is_covered():
    covered = {type(make()).__name__ for _, make in CASES}
    public = {n for n in MODEL_CLASSES if not n.startswith("_")}
    assert public <= covered, f"model classes without a conformance case: {sorted(public - covered)}"

@pytest.mark.parametrize("name,make", CASES, ids=[c[0] for c in CASES])
def test_conformance(name, make):
    m = conformance(make())
    assert m["ic"] > 0.3

@pytest.mark.parametrize("name,make", CASES, ids=[c[0] for c in CASES])
def test_registry_round_trip(name, make, tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 4)); s = X[:, 0] - X[:, 1]
    model = make()
    y = np.sign(s + 0.3 * rng.normal(size=600)) if model.model_type is ModelType.CLASSIFIER else s + rng.normal(size=600)
    model.fit(X, y, feature_names=list("abcd"))
    reg = ModelRegistry(tmp_path / "models")
    rec = reg.register(model, "m", metadata={"label": "test"})
    back = reg.load("m", rec.version)
    assert type(back) is type(model)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    # a second registry with the same training gives the same artifact hash
    model2 = make().fit(X, y, feature_names=list("abcd"))
    assert ModelRegistry(tmp_path / "other").register(model2, "m").artifact_sha256 == rec.artifact_sha256
