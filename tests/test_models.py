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

# Trees on one thread (the models' default is two): `make test` runs two workers on two cores, where a model's second
# OpenMP thread mostly spins waiting for a core (LightGBM's walk-forward in test_models_deep: 0.2 s of CPU on one thread,
# 8-10 s on two with the machine loaded, the same trees). The notebooks' own tests (nbs/41) run the defaults.
SMALL = {"xgboost": dict(n_estimators=60, n_jobs=1), "lightgbm": dict(n_estimators=60, n_jobs=1),
         "catboost": dict(n_estimators=60, thread_count=1), "random_forest": dict(n_estimators=40, n_jobs=1), "elastic_net": {},
         **{fam: dict(epochs=15, lr=3e-3, **cfg) for fam, cfg in TINY.items()},  # tiny networks: seconds on a CPU
         **TINY_POLICY}  # PPO and A2C: 20k one-step episodes, seconds

# The round trip is plumbing, not skill (save, load, the same predictions; the same training gives the same bytes): its
# networks train 2 epochs and its policies 2 chunks of 1000 steps, which runs every stage of their training without a
# validation set (the round trip gives none); the conformance cases above keep the training that learns (ic > 0.3) and
# the validation set (early stopping, the best chunk kept).
ROUND_TRIP = {**SMALL, **{fam: dict(epochs=2, lr=3e-3, **cfg) for fam, cfg in TINY.items()},
              **{fam: dict(steps=2_000, eval_every=1_000) for fam in TINY_POLICY}}

def _classical(family, kind, small=SMALL): return make_model(family, kind, seed=11, **small[family])

def _ensembles(small=SMALL):
    out = []
    for kind in ("regression", "classification"):
        m = lambda: [_classical("lightgbm", kind, small), _classical("elastic_net", kind, small)]
        out += [(f"voting-soft-{kind}", lambda m=m: VotingEnsemble(m(), voting="soft")),
                (f"stacking-{kind}", lambda m=m: StackingEnsemble(m(), n_folds=3)),
                (f"adaptive-{kind}", lambda m=m: AdaptiveEnsemble(m()))]
    # a sequence model is a member like any other
    out += [("voting-lstm-lightgbm-regression", lambda: VotingEnsemble([_classical("lstm", "regression", small), _classical("lightgbm", "regression", small)])),
            ("stacking-tcn-catboost-classification", lambda: StackingEnsemble([_classical("tcn", "classification", small), _classical("catboost", "classification", small)], n_folds=3)),
            ("adaptive-transformer-elastic_net-regression", lambda: AdaptiveEnsemble([_classical("transformer", "regression", small), _classical("elastic_net", "regression", small)])),
            # so is a PPO or A2C policy
            ("voting-ppo-elastic_net-regression", lambda: VotingEnsemble([_classical("ppo", "regression", small), _classical("elastic_net", "regression", small)])),
            ("stacking-a2c-lightgbm-classification", lambda: StackingEnsemble([_classical("a2c", "classification", small), _classical("lightgbm", "classification", small)], n_folds=3))]
    out.append(("voting-hard-classification", lambda: VotingEnsemble([_classical("lightgbm", "classification", small), _classical("random_forest", "classification", small)], voting="hard")))
    return out

def _cases(small=SMALL):
    return [(f"{fam}-{kind}", lambda fam=fam, kind=kind: _classical(fam, kind, small)) for fam in MODELS for kind in ("regression", "classification")] + _ensembles(small)

CASES, ROUND_TRIP_CASES = _cases(SMALL), _cases(ROUND_TRIP)

def test_every_registered_class_is_covered():
    covered = {type(make()).__name__ for _, make in CASES}
    public = {n for n in MODEL_CLASSES if not n.startswith("_")}
    assert public <= covered, f"model classes without a conformance case: {sorted(public - covered)}"

@pytest.mark.parametrize("name,make", CASES, ids=[c[0] for c in CASES])
def test_conformance(name, make):
    m = conformance(make())
    assert m["ic"] > 0.3

@pytest.mark.parametrize("name,make", ROUND_TRIP_CASES, ids=[c[0] for c in ROUND_TRIP_CASES])
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
