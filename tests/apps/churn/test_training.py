"""Churn training: the cross-fitted ensemble, its out-of-fold threshold, resumption, the Telco benchmark."""

import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from apps.churn.model import ensemble_members, get_threshold
from apps.churn.threshold import choose_threshold
from apps.churn.training import held_out_probabilities
from apps.core.runs import Run


def test_ensemble_threshold_comes_from_out_of_fold_predictions(app, trained_run):
    run, metrics = trained_run
    config = run.load_config(app.config_class)
    data = app.load_data(config)
    model = keras.saving.load_model(run.model_path)
    labels, probabilities = [], []
    for member, (_, validation) in zip(ensemble_members(model, config), data.info.folds):
        labels.append(validation.labels)  # each row scored by the member that never trained on it
        probabilities.append(held_out_probabilities(member, validation, model.preprocessing))
    labels, probabilities = np.concatenate(labels), np.concatenate(probabilities)
    assert len(labels) == 320 and not np.allclose(probabilities[:160].mean(), probabilities[160:].mean(), atol=1e-6)
    assert get_threshold(model) == pytest.approx(choose_threshold(labels, probabilities, config.threshold_metric))
    assert metrics["threshold"] == pytest.approx(get_threshold(model))


def test_the_record_and_card_name_each_members_best_epoch(app, trained_run):
    from apps.core import workflow

    run, _ = trained_run
    best = run.load_training()["best_epochs"]
    assert [record["member"] for record in best] == ["member_1", "member_2"]
    assert all(record["monitor"] == "val_auc" and 1 <= record["epoch"] <= record["last_epoch"] for record in best)
    assert "- Weights: each ensemble member's best epoch: member_1, epoch" in workflow.card(app, run.path)


class EpochRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs, self.models = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append((epoch, dict(logs)))
        self.models.append(self.model)


def test_ensemble_training_resumes_at_the_member_it_was_on(app, trained_run, tmp_path, monkeypatch, capsys):
    from apps.churn import training

    trained_path, _ = trained_run
    run = Run("churn", shutil.copytree(trained_path.path, tmp_path / "run"))
    (run.path / "members" / "member_2" / "model.weights.h5").unlink()  # killed while on member 2
    config = run.load_config(app.config_class)
    data = app.load_data(config)
    fitted = []
    original = training.fit_with_early_stopping
    monkeypatch.setattr(
        training,
        "fit_with_early_stopping",
        lambda member, *args, **kwargs: fitted.append(member.name) or original(member, *args, **kwargs),
    )
    resumed = app.build_model(config, data)
    seen = EpochRecorder()
    history = app.train(resumed, data, config, run, callbacks=[seen])
    assert fitted == ["member_2"] and 0.0 <= history.history["val_auc"][0] <= 1.0
    printed = capsys.readouterr().out
    assert f"Ensemble member 2/{config.ensemble}" in printed and "Ensemble member 1/" not in printed
    # A caller's callbacks (a tuner's) see the ensemble as one epoch of the whole model, as its History says.
    assert history.epoch == [0] and set(history.history) == {"val_auc", "threshold"}
    assert seen.epochs == [(0, {name: values[0] for name, values in history.history.items()})]
    assert seen.models == [resumed]
    trained = keras.saving.load_model(trained_path.model_path)
    np.testing.assert_allclose(
        resumed.network.get_layer("member1_deep_logit").get_weights()[0],
        trained.network.get_layer("member1_deep_logit").get_weights()[0],
    )


@pytest.mark.slow
def test_default_model_beats_logistic_regression_on_the_telco_csv(shared_dataset):
    from sklearn.metrics import roc_auc_score

    from apps.churn.app import ChurnApp
    from apps.churn.data import load_table, make_splits
    from apps.churn.evaluation import decoded_predictions
    from benchmarks.churn import logistic_regression_auc, split_for_baseline

    app = ChurnApp()
    csv = Path(shared_dataset("telco_churn")) / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
    config = app.default_config().replace(data=f"files:{csv}", seed=0)
    table = load_table(config)
    keras.utils.set_random_seed(config.seed)
    data = make_splits(table, config)
    model = app.build_model(config, data)
    app.train(model, data, config)
    test = data.info.test_table
    auc = roc_auc_score(test.labels, decoded_predictions(model, test, app.decode_predictions)["churn_probability"])
    assert auc > logistic_regression_auc(*split_for_baseline(table, config)) and auc > 0.85
