"""The `kapps` command line (`kapps.cli` on top of `apps.cli`, `tuner.cli` and `serving.server`): listing,
errors and a train → export → predict round trip."""

import os
import subprocess
import sys

import pytest

from apps import cli as apps_cli
from kapps import cli


def kapps(*arguments, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "kapps", *arguments],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=600,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_list_names_every_registered_app():
    assert "digits" in kapps("list").stdout


LIGHT_COMMANDS = (
    ["list"],
    ["digits", "--help"],
    ["churn", "train", "--help"],
    ["sentiment", "tune", "--help"],
    ["serve", "--help"],
)


@pytest.mark.parametrize("argv", LIGHT_COMMANDS, ids=" ".join)
def test_list_and_help_do_not_import_tensorflow(argv):
    """`kapps list` and `kapps <app> --help` answer from the registry entries and the
    light config modules, without loading TensorFlow or Keras (seconds, not tens of them)."""
    probe = (
        f"import sys\nfrom kapps import cli\ntry:\n    cli.main({argv!r})\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules)\n"
        "print('HEAVY', heavy)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


def test_a_missing_run_is_a_message_and_tensorflow_start_up_lines_hidden_unless_asked(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    command = [sys.executable, "-m", "kapps", "digits", "export", "--run-dir", str(tmp_path / "none")]
    quiet = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert quiet.returncode != 0 and "train first" in quiet.stderr
    assert "absl::InitializeLog" not in quiet.stderr and "Traceback" not in quiet.stderr
    loud = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"}
    )
    assert "train first" in loud.stderr and "I0000" in loud.stderr


def test_backend_flag_is_taken_from_anywhere_in_the_command():
    assert apps_cli.pop_backend(["digits", "train", "--backend", "jax", "--epochs", "1"]) == (
        "jax",
        ["digits", "train", "--epochs", "1"],
    )
    assert apps_cli.pop_backend(["--backend=torch", "list"]) == ("torch", ["list"])
    assert apps_cli.pop_backend(["list"]) == (None, ["list"])


def _actions(parser, app):
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    actions = next(a for a in commands.choices[app]._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(commands.choices), sorted(actions.choices)


def test_the_root_adds_tune_and_serve_to_the_apps_commands():
    from apps.catalog import load_apps

    registry = load_apps()
    app_commands, app_actions = _actions(apps_cli.build_parser(registry), "digits")
    commands, actions = _actions(cli.build_parser(registry), "digits")
    assert "tune" not in app_actions and "serve" not in app_commands
    assert sorted(actions) == sorted(cli.ACTIONS) == sorted([*app_actions, "tune"])
    assert sorted(commands) == sorted([*app_commands, "serve"])


def test_the_apps_commands_run_alone():
    """`python -m apps.cli`: what the export runs on TensorFlow when the user's backend is another."""
    result = subprocess.run([sys.executable, "-m", "apps.cli", "list"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "digits" in result.stdout


def test_unknown_backend_and_app_are_clear_errors():
    result = kapps("--backend", "theano", "list", check=False)
    assert result.returncode != 0 and "tensorflow, jax, torch" in result.stderr
    result = kapps("nope", "train", check=False)
    assert result.returncode != 0 and "digits" in result.stderr


def test_train_export_predict(tmp_path, capsys):
    """Train, export and predict through `cli.main` in this process (`python -m kapps` runs
    the same `main`: the tests above start it as a process)."""
    run_dir, models = tmp_path / "run", tmp_path / "models"
    assert (
        cli.main(
            [
                "digits",
                "train",
                "--data",
                "builtin",
                "--epochs",
                "1",
                "--width",
                "4",
                "--max-examples",
                "128",
                "--run-dir",
                str(run_dir),
            ]
        )
        == 0
    )
    assert "accuracy:" in capsys.readouterr().out
    assert cli.main(["digits", "export", "--run-dir", str(run_dir), "--model-base-path", str(models)]) == 0
    assert f"Exported digits to {models / 'digits' / '1'}" in capsys.readouterr().out
    sample = sorted((run_dir / "samples").glob("*.png"))[0]
    assert cli.main(["digits", "predict", "--model-base-path", str(models), str(sample)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(str(sample)) and "probability" in printed


@pytest.mark.parametrize("action", ["train", "evaluate", "export", "predict", "prepare-data"])
def test_each_action_has_help(action):
    assert "usage" in kapps("digits", action, "--help").stdout


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["churn", "predict", '{"a": ' * 50_000], "kapps churn predict: input 1 is not a JSON row"),
        (["sentiment", "predict", "missing.txt"], "kapps sentiment predict: No such review file: 'missing.txt'"),
        (["digits", "predict", "x" * 50_000], "kapps digits predict: No such image file(s): 'xxxx"),
        (
            ["sentiment", "predict", "bad \udcff bytes"],
            "kapps sentiment predict: input 1 ('bad \\udcff bytes') is not UTF-8 text",
        ),
        (
            ["churn", "predict", '{"gender": "\udcff"}'],
            'kapps churn predict: input 1 (\'{"gender": "\\udcff"}\') is not UTF-8 text',
        ),
    ],
)
def test_bad_predict_inputs_are_one_line_and_a_non_zero_exit(tmp_path, monkeypatch, argv, expected):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--model-base-path", str(tmp_path)])
    message = str(exit_.value.code)
    assert message.startswith(expected) and "\n" not in message and len(message) < 200
