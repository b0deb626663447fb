"""Churn training: early stopping, the cross-fitted ensemble, its threshold and resumption."""

from pathlib import Path

import keras
import numpy as np
import pytest

from apps.churn.data import load_builtin_table, make_splits
from apps.churn.evaluation import predict_probabilities
from apps.churn.model import get_threshold

from tests.apps.churn.churn_helpers import tiny_config

def test_ensemble_threshold_comes_from_out_of_fold_predictions(tmp_path):
    from apps.churn.model import build_model, ensemble_members
    from apps.churn.threshold import choose_threshold
    from apps.churn.training import fit_and_calibrate

    config = tiny_config(ensemble=2, epochs=1)
    data = make_splits(load_builtin_table(config), config)
    model = build_model(config, data.info)
    before = model.get_layer("member2_deep_logit").get_weights()[0].copy()
    labels, probabilities = fit_and_calibrate(model, data, config, verbose=0)
    assert not np.allclose(before, model.get_layer("member2_deep_logit").get_weights()[0])
    folds = data.info["folds"]
    assert len(labels) == len(probabilities) == sum(len(validation) for _, validation in folds)
    for index, member in enumerate(ensemble_members(model, config)):
        validation = folds[index][1]
        start = sum(len(v) for _, v in folds[:index])
        np.testing.assert_allclose(probabilities[start:start + len(validation)],
                                   predict_probabilities(member, validation), rtol=1e-6)
    assert get_threshold(model) == pytest.approx(choose_threshold(labels, probabilities, config.threshold_metric))
    model.save(tmp_path / "ensemble.keras")
    reloaded = keras.saving.load_model(tmp_path / "ensemble.keras")
    test = data.info["test_table"]
    np.testing.assert_allclose(predict_probabilities(model, test), predict_probabilities(reloaded, test),
                               rtol=1e-6)
    assert get_threshold(reloaded) == pytest.approx(get_threshold(model))


def test_ensemble_training_resumes_at_the_member_it_was_on(tmp_path, monkeypatch):
    from apps.churn import training
    from apps.churn.model import build_model
    from apps.core.runs import Run

    config = tiny_config(ensemble=2, epochs=1)
    data = make_splits(load_builtin_table(config), config)
    run = Run("churn", tmp_path / "run")
    trained = build_model(config, data.info)
    training.fit_and_calibrate(trained, data, config, run, verbose=0)
    (run.path / "members" / "member_2" / "model.weights.h5").unlink()  # killed while on member 2

    fitted = []
    original = training.fit_with_early_stopping
    monkeypatch.setattr(training, "fit_with_early_stopping",
                        lambda member, *args, **kwargs: fitted.append(member.name) or original(member, *args,
                                                                                                **kwargs))
    resumed = build_model(config, data.info)
    training.fit_and_calibrate(resumed, data, config, run, verbose=0)
    assert fitted == ["member_2"]
    np.testing.assert_allclose(resumed.get_layer("member1_deep_logit").get_weights()[0],
                               trained.get_layer("member1_deep_logit").get_weights()[0])


@pytest.mark.slow
def test_default_model_beats_logistic_regression_on_the_telco_csv(shared_dataset):
    from sklearn.metrics import roc_auc_score

    from apps.churn.app import ChurnApp
    from apps.churn.data import load_table
    from apps.churn.training import fit_and_calibrate
    from benchmarks.churn import logistic_regression_auc, split_for_baseline

    app = ChurnApp()
    csv = Path(shared_dataset("telco_churn")) / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
    config = app.default_config().replace(data=f"files:{csv}", seed=0)
    table = load_table(config)
    keras.utils.set_random_seed(config.seed)
    data = make_splits(table, config)
    model = app.build_model(config, data)
    fit_and_calibrate(model, data, config, verbose=0)
    test = data.info["test_table"]
    auc = roc_auc_score(test.labels, predict_probabilities(model, test))
    assert auc > logistic_regression_auc(*split_for_baseline(table, config)) and auc > 0.85
