"""The four registries (features, labels, alphas, model classes): a duplicate name is refused, and a fresh process that
imports only a registry's own module still sees every built-in (the registry loads them itself, on first lookup)."""
import json
import subprocess
import sys

import pytest

from alphatrade.core.errors import ConfigError

HOMES = {"features": ("alphatrade.features.base", "REGISTRY"), "labels": ("alphatrade.features.labels", "LABELS"),
         "alphas": ("alphatrade.alpha.factors", "ALPHAS"), "models": ("alphatrade.models.base", "MODEL_CLASSES")}


MODULES = ("alphatrade.features.technical", "alphatrade.features.statistical", "alphatrade.features.microstructure",
           "alphatrade.features.cross_sectional", "alphatrade.features.labels", "alphatrade.alpha.combiner",
           "alphatrade.models.classical", "alphatrade.models.ensemble", "alphatrade.models.sequence", "alphatrade.models.policy")


def _names() -> tuple:
    """In one fresh interpreter: each registry's sorted names when nothing is imported but the registries' own modules (`alone`),
    then again after importing by hand every module that defines built-ins (`everything`, the reference: what the side-effect
    imports used to register). A built-in module a registry does not load itself registers its names at the hand import, so
    `everything` gains them; a second interpreter that imports by hand first would find the same names, at twice the start-up."""
    code = "import importlib, json\n" + f"homes = {HOMES!r}\n" + \
        "names = lambda: {k: sorted(getattr(importlib.import_module(m), n)) for k, (m, n) in homes.items()}\n" + \
        "alone = names()\n" + f"for m in {MODULES!r}: importlib.import_module(m)\n" + \
        "print(json.dumps([alone, names()]))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return tuple(json.loads(r.stdout.strip().splitlines()[-1]))


def test_fresh_process_sees_every_builtin():
    alone, everything = _names()  # alone: nothing imported but the registries' own modules; everything: built-in modules imported by hand
    assert alone == everything
    assert {"rsi_14", "adx_14", "amihud_26", "beta_mkt_260"} <= set(alone["features"])
    assert {"fwd_ret_1", "fwd_ret_26", "class_26", "barrier_26"} <= set(alone["labels"])
    assert {"momentum_130_4", "reversal_1", "combined_ic", "combined_orthogonal"} <= set(alone["alphas"])
    assert {"LightGBMRegressor", "XGBoostClassifier", "StackingEnsemble", "AdaptiveEnsemble", "CatBoostRegressor",
            "LSTMRegressor", "TransformerClassifier", "TCNRegressor", "PPORegressor", "A2CClassifier"} <= set(alone["models"])
    # 11 classical and ensembles + CatBoost x2 + LSTM, Transformer, TCN x (regressor, classifier) + PPO, A2C x 2
    assert (len(alone["features"]), len(alone["labels"]), len(alone["alphas"]), len(alone["models"])) == (77, 8, 9, 11 + 2 + 6 + 4)


def test_duplicate_feature_refused():
    from alphatrade.features.base import REGISTRY, feature
    before = REGISTRY["rsi_14"]
    with pytest.raises(ConfigError, match=r"feature 'rsi_14' is defined twice: by alphatrade\.features\.technical\.\w+ and by "
                                          r"test_registries\.test_duplicate_feature_refused\.<locals>\.my_rsi"):
        @feature("rsi_14", "technical", 14)
        def my_rsi(p):
            "Not the real RSI."
            return p.close
    assert REGISTRY["rsi_14"] is before  # the refused definition left the registry as it was


def test_duplicate_label_alpha_and_model_refused():
    from alphatrade.alpha.factors import register, Momentum
    from alphatrade.features.labels import label
    from alphatrade.models.base import MODEL_CLASSES, register_model
    with pytest.raises(ConfigError, match=r"label 'fwd_ret_1' is defined twice: by alphatrade\.features\.labels\.\w+ and by test_registries\."):
        @label("fwd_ret_1", 1)
        def other(p):
            "Another forward return."
            return p.close

    class NotMomentum(Momentum): pass
    with pytest.raises(ConfigError, match=r"alpha 'momentum_130_4' is defined twice: by alphatrade\.alpha\.factors\.Momentum and by "
                                          r"test_registries\..*NotMomentum"):
        register(NotMomentum(130, 4))
    cls = MODEL_CLASSES["StackingEnsemble"]
    with pytest.raises(ConfigError, match=r"model class 'StackingEnsemble' is defined twice: by alphatrade\.models\.ensemble\.StackingEnsemble"):
        register_model(type("StackingEnsemble", (), {}))
    assert MODEL_CLASSES["StackingEnsemble"] is cls
