"""The evaluation's TensorBoard summaries, read back from the event files as TensorBoard reads them."""

import numpy as np
import pytest
from PIL import Image
from tensorboard.util import tensor_util

from apps.core import tensorboard
from apps.core.runs import Run
from apps.digits.config import DigitsConfig
from tests.apps.app_checks import read_events


def test_scalar_metrics_flatten_dicts_and_keep_only_finite_numbers():
    metrics = {
        "accuracy": 0.5,
        "examples": 10,
        "app": "digits",
        "ok": True,
        "nan": float("nan"),
        "per_class": {"7": {"recall": 0.25}},
        "plots": ["a.png"],
        "confusion_matrix": [[1]],
    }
    assert tensorboard.scalar_metrics(metrics) == {
        "test/accuracy": 0.5,
        "test/examples": 10.0,
        "test/per_class/7/recall": 0.25,
    }


@pytest.fixture
def evaluated(tmp_path):
    """A run folder with one PNG figure, its evaluation written to TensorBoard with a PR curve."""
    run = Run("digits", tmp_path / "run")
    figure = run.plot_path("confusion_matrix")
    Image.fromarray(np.full((12, 20, 3), 200, np.uint8)).save(figure)
    config = DigitsConfig(width=24, dropout=0.25)
    metrics = {"split": "test", "accuracy": 0.75, "per_class": {"3": {"f1-score": 0.5}}, "plots": [str(figure)]}
    tensorboard.write_pr_curve(run, [0, 1, 1, 0], [0.2, 0.9, 0.6, 0.4])
    tensorboard.write_evaluation(run, config, metrics)
    return run, config


def test_figures_metrics_and_pr_curve_are_in_the_evaluation_events(evaluated):
    run, _ = evaluated
    events = read_events(run.log_dir / tensorboard.EVALUATION_FOLDER)
    assert events.plugin_tags("images") == {"confusion_matrix"}
    (image,) = events.accumulator.Tensors("confusion_matrix")
    width, height, png = image.tensor_proto.string_val
    assert (int(width), int(height)) == (20, 12) and png.startswith(b"\x89PNG")
    assert events.plugin_tags("scalars") == {"test/accuracy", "test/per_class/3/f1-score"}
    (accuracy,) = events.accumulator.Tensors("test/accuracy")
    assert tensor_util.make_ndarray(accuracy.tensor_proto) == pytest.approx(0.75)
    assert events.plugin_tags("pr_curves") == {"pr_curve/pr_curves"}
    (curve,) = events.accumulator.Tensors("pr_curve/pr_curves")
    true_positives, false_positives = tensor_util.make_ndarray(curve.tensor_proto)[:2, 0]  # at threshold 0
    assert (true_positives, false_positives) == (2, 2)


def test_the_run_config_is_an_hparams_session_with_the_test_metrics(evaluated):
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    run, config = evaluated
    events = read_events(run.log_dir)
    content = events.accumulator.SummaryMetadata(metadata.SESSION_START_INFO_TAG).plugin_data.content
    session = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert session.hparams["width"].number_value == 24 and session.hparams["model"].string_value == config.model
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        events.accumulator.SummaryMetadata(metadata.EXPERIMENT_TAG).plugin_data.content
    ).experiment
    assert {(info.name.group, info.name.tag) for info in experiment.metric_infos} == {
        ("evaluation", "test/accuracy"),
        ("evaluation", "test/per_class/3/f1-score"),
    }
