"""Fast checks of the tuner's pieces, without training."""

import csv
import json

import keras_tuner
import pytest

from tuner import importance, plots, report
from tuner.cli import parse_fixed
from tuner.distributed import (
    ENV_ORACLE_IP,
    ENV_ORACLE_PORT,
    ENV_TUNER_ID,
    distributed_environment,
    parse_address,
    role_from_environment,
)
from tuner.objective import ObjectiveError, resolve_direction
from tuner.search import SearchMismatchError, check_same_search
from tuner.settings import TuneFolder, TuneSettings


def _records():
    rows = [
        ("0", "cnn", 1e-3, 0.9),
        ("1", "resnet", 3e-3, 0.95),
        ("2", "cnn", 1e-2, 0.7),
        ("3", "resnet", 5e-4, 0.96),
        ("4", "cnn", 2e-3, 0.85),
        ("5", "resnet", 8e-3, 0.93),
    ]
    records = [
        {
            "trial_id": trial_id,
            "status": "COMPLETED",
            "hyperparameters": {"model": model, "learning_rate": rate, "batch_size": 64},
            "objective": value,
            "seconds": 1.5,
            "metrics": {"val_accuracy": value},
            "tuner_id": "tuner0",
            "starts": 1,
        }
        for trial_id, model, rate, value in rows
    ]
    records.append(
        {
            "trial_id": "6",
            "status": "FAILED",
            "hyperparameters": {"model": "cnn"},
            "objective": None,
            "seconds": None,
            "metrics": {},
            "tuner_id": "tuner0",
            "starts": 1,
        }
    )
    return records


def test_best_record_follows_the_direction():
    assert report.best_record(_records(), "max")["trial_id"] == "3"
    assert report.best_record(_records(), "min")["trial_id"] == "2"
    assert report.best_record([], "max") is None


def test_table_csv_and_json_list_every_trial(tmp_path):
    records = _records()
    table = report.format_table(records, "val_accuracy", best_trial_id="3")
    assert "learning_rate" in table and "seconds" in table and "FAILED" in table
    assert any(line.startswith("*3") for line in table.splitlines())
    report.write_csv(records, "val_accuracy", tmp_path / "trials.csv")
    with open(tmp_path / "trials.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["trial"] for row in rows] == [str(index) for index in range(7)]
    assert set(rows[0]) == {"trial", "status", "model", "learning_rate", "batch_size", "val_accuracy", "seconds"}
    report.write_json(records, {"objective": {"name": "val_accuracy"}}, tmp_path / "trials.json")
    assert len(json.loads((tmp_path / "trials.json").read_text())["trials"]) == 7


def test_importance_ranks_what_moves_the_objective():
    scores = importance.hyperparameter_importance(_records())
    assert set(scores) == {"model", "learning_rate", "batch_size"}
    assert scores["batch_size"] == 0.0  # never varied
    assert scores["model"] > 0.5  # resnet trials are all better
    assert importance.most_important(_records(), 2)[0] == "model"
    assert importance.hyperparameter_importance(_records()[:2]) == {}


def test_plot_is_written_with_few_or_many_trials(tmp_path):
    objective = keras_tuner.Objective("val_accuracy", "max")
    for count in (0, 1, 7):
        path = tmp_path / f"plot{count}.png"
        records = _records()[:count]
        names = importance.most_important(records)
        plots.plot_objective(records, names, objective, importance.hyperparameter_importance(records), path)
        assert path.stat().st_size > 1000


def test_fixed_values_are_typed_like_the_config():
    from apps.digits.config import DigitsConfig

    fixed = parse_fixed(["model=cnn", "width=8", "dropout=0.1", "augment=false", "other=[1, 2]"], DigitsConfig)
    assert fixed == {"model": "cnn", "width": 8, "dropout": 0.1, "augment": False, "other": [1, 2]}
    with pytest.raises(ValueError):
        parse_fixed(["width"], DigitsConfig)


def test_direction_comes_from_the_flag_the_app_or_the_name():
    from apps.digits.app import DigitsApp

    app = DigitsApp()
    assert resolve_direction(app, "val_accuracy") == "max"
    assert resolve_direction(app, "val_loss") == "min"
    assert resolve_direction(app, "val_loss", "max") == "max"
    with pytest.raises(ObjectiveError, match="--direction"):
        resolve_direction(app, "val_weirdness")


def test_distributed_environment():
    assert parse_address("127.0.0.1:8000") == ("127.0.0.1", 8000)
    with pytest.raises(ValueError):
        parse_address("localhost")
    chief = distributed_environment("chief", "0.0.0.0:9000")
    assert chief == {ENV_TUNER_ID: "chief", ENV_ORACLE_IP: "0.0.0.0", ENV_ORACLE_PORT: "9000"}
    worker = distributed_environment("worker", "10.0.0.5:9000", "worker-a")
    assert worker[ENV_TUNER_ID] == "worker-a"
    with pytest.raises(ValueError):
        distributed_environment("worker", "10.0.0.5:9000", "mischief")
    assert role_from_environment({}) is None
    assert role_from_environment(worker) == "worker" and role_from_environment(chief) == "chief"


def test_settings_validation_and_folders(tmp_path):
    with pytest.raises(ValueError):
        TuneSettings(tuner="annealing")
    with pytest.raises(ValueError, match="--oracle"):
        TuneSettings(distributed="worker")
    with pytest.raises(ValueError):
        TuneSettings(max_trials=0)
    folder = TuneSettings(project_name="p1").folder("digits")
    assert folder.path.as_posix() == "runs/digits/tune/p1"
    assert folder.keras_tuner_dir.parent == folder.path


def test_resuming_a_different_search_is_refused(tmp_path):
    folder = TuneFolder(tmp_path).create()
    folder.save_search({"identity": {"tuner": "random", "objective": "val_loss"}})
    check_same_search(folder, {"tuner": "random", "objective": "val_loss"})
    with pytest.raises(SearchMismatchError, match="tuner"):
        check_same_search(folder, {"tuner": "bayesian", "objective": "val_loss"})
