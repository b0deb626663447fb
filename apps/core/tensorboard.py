"""What a run shows in TensorBoard beyond Keras' per-epoch scalars, written with TensorBoard's own
summary APIs into the run's `logs/`:

- `logs/evaluation/`: the evaluation's PNG figures (`tf.summary.image`, one tag per file: confusion
  matrix, mistakes, detections, overlays, sample grids...), its numbers as scalars (`<split>/<name>`,
  nested dicts flattened: `test/per_class_iou/circle`) and, for binary classifiers, a PR curve
  (`tensorboard.plugins.pr_curve`);
- `logs/`: the run's config as HParams (`tensorboard.plugins.hparams.api`) with the test metrics as
  its metrics, so `tensorboard --logdir runs/<app>` compares runs side by side;
- `logs/samples/`: images written during training (DCGAN's sample grid per epoch).

The step of the evaluation's summaries is the number of epochs trained.
"""

import numbers
from contextlib import closing
from pathlib import Path

import numpy as np

EVALUATION_FOLDER = "evaluation"
SAMPLES_FOLDER = "samples"
PR_CURVE_THRESHOLDS = 201


def _tf():
    import tensorflow as tf

    return tf


def writer(run, folder=""):
    """A `tf.summary` file writer into the run's `logs/<folder>`."""
    return _tf().summary.create_file_writer(str(Path(run.log_dir) / folder))


def epochs_trained(run):
    history = run.load_history()
    return max((len(values) for values in history.values()), default=0)


def scalar_metrics(metrics, prefix="test"):
    """`{tag: float}` of the numbers in `metrics`, nested dicts flattened into `prefix/key/key`;
    booleans, strings, lists (plots, confusion matrices) and non-finite numbers left out."""
    scalars = {}
    for key, value in metrics.items():
        tag = f"{prefix}/{key}"
        if isinstance(value, dict):
            scalars.update(scalar_metrics(value, tag))
        elif isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value):
            scalars[tag] = float(value)
    return scalars


def _hparam_value(value):
    """A config value as HParams takes it (bool, number or string)."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def write_image_file(path, tag, step):
    """One PNG file as an image summary, to the default writer."""
    tf = _tf()
    image = tf.io.decode_png(Path(path).read_bytes(), channels=3)
    tf.summary.image(tag, image[tf.newaxis], step=step)


def write_evaluation(run, config, metrics):
    """The evaluation's figures, scalars and the run's HParams (see the module's docstring)."""
    from tensorboard.plugins.hparams import api as hp

    tf, step = _tf(), epochs_trained(run)
    scalars = scalar_metrics(metrics, metrics.get("split", "test"))
    with closing(writer(run, EVALUATION_FOLDER)) as evaluation, evaluation.as_default(step=step):
        for tag, value in scalars.items():
            tf.summary.scalar(tag, value)
        for path in metrics.get("plots", []):
            if str(path).endswith(".png") and Path(path).exists():
                write_image_file(path, Path(path).stem, step)
    hparams = {name: _hparam_value(value) for name, value in config.to_dict().items()}
    with closing(writer(run)) as top, top.as_default(step=step):
        hp.hparams_config(
            hparams=[hp.HParam(name) for name in hparams],
            metrics=[hp.Metric(tag, group=EVALUATION_FOLDER) for tag in scalars],
        )
        hp.hparams(hparams, trial_id=Path(run.path).name)


def write_pr_curve(run, labels, probabilities, name="pr_curve"):
    """A precision-recall curve of 0/1 `labels` and positive-class `probabilities` in
    `logs/evaluation` (TensorBoard's PR Curves dashboard)."""
    from tensorboard.plugins.pr_curve import summary as pr_curve

    summary = pr_curve.pb(
        name,
        labels=np.asarray(labels).astype(bool).reshape(-1),
        predictions=np.asarray(probabilities, np.float32).reshape(-1),
        num_thresholds=PR_CURVE_THRESHOLDS,
    )
    with closing(writer(run, EVALUATION_FOLDER)) as evaluation, evaluation.as_default():
        _tf().summary.experimental.write_raw_pb(summary.SerializeToString(), step=epochs_trained(run))


def write_image(file_writer, tag, image, step):
    """A uint8 `[H, W, C]` image through `file_writer` at `step` (an epoch): cheap enough per epoch."""
    with file_writer.as_default():
        _tf().summary.image(tag, np.asarray(image, np.uint8)[np.newaxis], step=step)
    file_writer.flush()
