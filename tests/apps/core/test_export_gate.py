"""The export gate compares a run with the newest exported version on the app's test metric."""

import json
import math

import pytest

from apps.core.export_gate import ExportRefused, check_candidate


class Accuracy:
    name, objective, objective_direction, gate_metric = "digits", "val_accuracy", "max", "accuracy"


class Fid:
    name, objective, objective_direction, gate_metric = "dcgan", "val_fid", "min", "fid"


def exported(model_dir, version, metrics):
    extra = model_dir / str(version) / "assets.extra"
    extra.mkdir(parents=True)
    if metrics is not None:
        (extra / "metrics.json").write_text(json.dumps(metrics))


def test_a_first_export_always_passes(tmp_path):
    assert check_candidate(Accuracy(), {"accuracy": 0.1}, tmp_path / "digits") is None


def test_a_worse_candidate_is_refused_naming_both_figures(tmp_path):
    exported(tmp_path, 1, {"accuracy": 0.99})
    exported(tmp_path, 3, {"accuracy": 0.97})  # the newest version is the one compared
    with pytest.raises(ExportRefused) as refused:
        check_candidate(Accuracy(), {"accuracy": 0.95}, tmp_path, tolerance=0.01)
    message = str(refused.value)
    assert "accuracy 0.9500 against version 3's 0.9700" in message and "--force" in message


def test_within_the_tolerance_or_better_passes(tmp_path):
    exported(tmp_path, 1, {"accuracy": 0.97})
    assert "passed" in check_candidate(Accuracy(), {"accuracy": 0.965}, tmp_path, tolerance=0.01)
    assert "passed" in check_candidate(Accuracy(), {"accuracy": 0.99}, tmp_path, tolerance=0.0)
    with pytest.raises(ExportRefused):
        check_candidate(Accuracy(), {"accuracy": 0.965}, tmp_path, tolerance=0.0)


def test_lower_is_better_for_a_minimised_metric(tmp_path):
    exported(tmp_path, 1, {"fid": 10.0})
    assert "passed" in check_candidate(Fid(), {"fid": 8.0}, tmp_path, tolerance=0.5)
    with pytest.raises(ExportRefused, match="fid 12.0000 against version 1's 10.0000"):
        check_candidate(Fid(), {"fid": 12.0}, tmp_path, tolerance=0.5)


def test_force_exports_anyway_and_says_so(tmp_path):
    exported(tmp_path, 1, {"accuracy": 0.99})
    assert check_candidate(Accuracy(), {"accuracy": 0.5}, tmp_path, force=True).startswith(
        "Export gate skipped (--force)"
    )


def test_a_newest_version_without_stored_metrics_passes(tmp_path):
    exported(tmp_path, 1, {"accuracy": 0.99})
    exported(tmp_path, 2, None)
    assert check_candidate(Accuracy(), {"accuracy": 0.5}, tmp_path) is None


def test_a_nan_candidate_is_refused_and_a_missing_metric_is_a_clear_error(tmp_path):
    exported(tmp_path, 1, {"accuracy": 0.9})
    with pytest.raises(ExportRefused):
        check_candidate(Accuracy(), {"accuracy": math.nan}, tmp_path)
    with pytest.raises(Exception, match="no 'accuracy'.*kapps digits evaluate"):
        check_candidate(Accuracy(), {"loss": 0.3}, tmp_path)
    with pytest.raises(Exception, match="--gate-tolerance must be 0 or more"):
        check_candidate(Accuracy(), {"accuracy": 0.9}, tmp_path, tolerance=-1)
