"""What a training prints when its output is captured (a log file, CI): one line per epoch,
no progress-bar redraws, and no TensorFlow log lines unless `KAPPS_VERBOSE_TF=1`."""

import io
import os
import re
import subprocess
import sys

from apps.core.backend import import_tensorflow_quietly
from apps.core.console import fit_verbosity

# C++ log lines (I0000, W0000, E0000...), absl's preamble, TensorFlow's Python warnings.
TENSORFLOW_NOISE = re.compile(
    r"^([IWEF]\d{4} |WARNING: All log messages|WARNING:tensorflow|INFO:tensorflow)"
    r"|retracing|oneDNN",
    re.MULTILINE,
)
EPOCH_LINE = re.compile(r"^\d+/\d+ - \d+m?s - .*loss", re.MULTILINE)


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_progress_bar_redraws_on_a_terminal_only(monkeypatch):
    monkeypatch.setattr(sys, "stdout", Terminal())
    assert fit_verbosity() == 1
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert fit_verbosity() == 2


def test_app_train_prints_a_line_per_epoch_when_its_output_is_captured(capsys):
    """`App.train`'s `fit` (every app but churn and DCGAN, which call `fit` themselves)."""
    from apps.catalog import load_apps

    app = load_apps().get("digits")
    config = app.tiny_config().replace(epochs=2, max_examples=128)
    data = app.load_data(config)
    app.train(app.make_model(config, data), data, config)
    printed = capsys.readouterr().out
    assert "\r" not in printed and len(EPOCH_LINE.findall(printed)) == 2, printed


def kapps_env(**extra):
    """The environment of a user who set none of the log variables."""
    names = ("TF_CPP_MIN_LOG_LEVEL", "KAPPS_QUIET_TF_STARTUP", "KAPPS_VERBOSE_TF")
    return {**{key: value for key, value in os.environ.items() if key not in names}, **extra}


def test_a_captured_training_prints_a_line_per_epoch_and_no_tensorflow_logs(tmp_path):
    """Churn trains a cross-fitted ensemble: five members of two epochs each, one `fit`
    and one Keras predict function per member (which TensorFlow counts as retracing)."""
    command = [
        sys.executable,
        "-m",
        "kapps",
        "churn",
        "train",
        "--data",
        "builtin",
        "--builtin-rows",
        "400",
        "--ensemble",
        "5",
        "--epochs",
        "2",
        "--patience",
        "2",
        "--width",
        "8",
        "--numeric-bins",
        "4",
        "--batch-size",
        "80",
        "--run-dir",
        str(tmp_path / "run"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=kapps_env(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "\r" not in result.stdout and "\x1b" not in result.stdout
    assert len(EPOCH_LINE.findall(result.stdout)) == 5 * 2
    assert not TENSORFLOW_NOISE.search(result.stderr), result.stderr[-3000:]


def test_tensorflow_cpp_lines_are_hidden():
    """Start-up lines and the ERROR line of oneDNN falling back on a uint8 transpose (on CPUs
    without full AVX-512; DCGAN's sample grids do it)."""
    probe = (
        "from apps.core.backend import import_tensorflow_quietly\nimport_tensorflow_quietly()\n"
        "import tensorflow as tf\ntf.transpose(tf.zeros([2, 3, 4], tf.uint8), [1, 0, 2])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=kapps_env(), timeout=300)
    assert result.returncode == 0 and result.stderr == "", result.stderr


RETRACING = "5 out of the last 5 calls to <function f> triggered tf.function retracing."


def test_retracing_warnings_and_info_lines_are_hidden_other_warnings_shown(caplog):
    import tensorflow as tf

    import_tensorflow_quietly()  # what the CLI and this test session call first
    tf.get_logger().warning(RETRACING)
    tf.get_logger().info("Assets written to: x")
    tf.get_logger().warning("Another warning")
    assert [record.getMessage() for record in caplog.records] == ["Another warning"]


def test_kapps_verbose_tf_keeps_every_line(monkeypatch, caplog):
    import tensorflow as tf

    logger = tf.get_logger()
    monkeypatch.setattr(logger, "filters", [])
    monkeypatch.setenv("KAPPS_VERBOSE_TF", "1")
    import_tensorflow_quietly()
    logger.warning(RETRACING)
    assert RETRACING in caplog.text
