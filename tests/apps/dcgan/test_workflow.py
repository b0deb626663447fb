"""A conditional DCGAN through the CLI's workflow: train, figures, metrics, export, predict."""

import numpy as np
from PIL import Image

from apps.core import workflow
from apps.dcgan.evaluation import CAPTION_HEIGHT, CAPTION_MIN_WIDTH, GRID_SCALE
from tests.apps.app_checks import read_events
from tests.apps.dcgan.conftest import tiny_config


def test_conditional_run_writes_its_figures_and_answers_predict_with_a_png_grid(app, tmp_path):
    config = tiny_config(conditional=True, epochs=2, sample_images=10)
    run, metrics = workflow.train(app, config, tmp_path / "run", verbose=False)
    assert metrics["fid"] >= 0 and metrics["fid_samples"] == 128 and metrics["fid_real_floor"] >= 0
    assert 0 <= metrics["generated_label_accuracy"] <= 1
    assert set(metrics["generated_label_accuracy_per_class"]) == set(metrics["generated_class_counts"])
    # One epoch on builtin digits makes a weak classifier: the run says so beside its FID.
    assert metrics["fid_classifier_accuracy"] < 0.95 and "under 95%" in metrics["fid_warning"]
    assert "(the floor)" in app.report(metrics) and metrics["fid_warning"] in app.report(metrics)
    assert sum(metrics["generated_class_counts"].values()) == 128
    assert len(run.load_history()["val_fid"]) == 2
    for name in (
        "sample_grid.png",
        "interpolation.png",
        "loss_curves.png",
        "samples.gif",
        "samples/epoch_001.png",
        "samples/epoch_002.png",
    ):
        assert (run.path / name).exists(), name
    with Image.open(run.path / "sample_grid.png") as grid:  # one row per digit class, one column, scaled ×3
        assert grid.size == (CAPTION_MIN_WIDTH, 10 * 30 * GRID_SCALE + CAPTION_HEIGHT)
    samples = read_events(run.log_dir / "samples")
    assert [event.step for event in samples.accumulator.Tensors("generated")] == [1, 2]
    with Image.open(run.path / "samples.gif") as gif:
        assert gif.n_frames == 2

    workflow.export(app, run.path, tmp_path / "models")
    text = workflow.predict(
        app, ["seed=1", "count=4", "label=3"], tmp_path / "models", output_dir=tmp_path / "predictions"
    )
    assert "Generated 4 images of 28x28 pixels (seed 1, class 3)" in text
    (written,) = (tmp_path / "predictions").glob("*.png")
    assert f"Wrote {written}" in text
    with Image.open(written) as png:
        assert png.size == (2 * 30, 2 * 30) and np.asarray(png).max() > 0
