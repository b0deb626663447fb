"""The sentiment app end to end: train → evaluate → export → serve raw strings."""

import json
import re

import keras
import keras_tuner
import numpy as np
import pytest

from apps.core import workflow
from apps.core.errors import InputError
from apps.sentiment.text import MAX_TEXT_CHARACTERS
from tests.apps import tiny_runs
from tests.apps.sentiment.conftest import tiny_config
from tuner.hypermodel import ConfigHyperModel

LONG_REVIEW = "the acting was great but the plot was dull " * 40


def test_training_writes_metrics_and_plots(trained_run):
    run, metrics = trained_run
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["split"] == "test" and metrics["examples"] == 1000
    for name in ("learning_curves", "roc_curve", "attention"):
        assert run.plot_path(name).stat().st_size > 1000
    assert (run.path / "confident_mistakes.md").read_text().startswith("| # | true |")
    assert len(metrics["confident_mistakes"]) <= 8
    json.loads(run.metrics_path.read_text())


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """The session's tiny run exported once: `(version folder, model_base_path)`."""
    from apps.sentiment.app import SentimentApp

    base, path = tiny_runs.exported(SentimentApp(), tmp_path_factory)
    return path, base


def test_export_answers_raw_strings_with_the_decoded_stacked_model(app, trained_run, exported):
    import tensorflow as tf

    run, _ = trained_run
    path, _ = exported
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    texts = ["the plot was not good", "", LONG_REVIEW]
    outputs = {name: value.numpy() for name, value in signature(text=tf.constant(texts)).items()}
    assert {name: value.dtype for name, value in outputs.items()} == {
        "probability": np.float32,
        "label": np.int64,
        "sentiment": object,
    }
    assert outputs["probability"].shape == (3,) and np.isfinite(outputs["probability"]).all()
    model = keras.saving.load_model(run.model_path)
    combination = model.classifier.get_layer("probability")
    assert not np.allclose(keras.ops.convert_to_numpy(combination.member_weights), 0.5)  # stacked in train
    probabilities = model(model.vectorize(np.array(texts)), training=False)
    expected = app.decode_predictions(probabilities, model)
    np.testing.assert_allclose(outputs["probability"], keras.ops.convert_to_numpy(expected["probability"]), atol=1e-5)
    assert outputs["label"].tolist() == keras.ops.convert_to_numpy(expected["label"]).tolist()
    assert outputs["sentiment"].tolist() == [[b"negative", b"positive"][label] for label in outputs["label"]]
    answer = app.format_response(outputs, texts).splitlines()
    assert len(answer) == 3 and "P(positive)" in answer[0] and "the plot was not good" in answer[0]


def test_sample_requests_fit_the_signature(app):
    (request,) = app.sample_requests(tiny_config())
    body = request.as_rest_instances()
    assert body["signature_name"] == "serving_default" and len(body["instances"]) == 3


def test_cli_reads_text_files_and_plain_texts(app, tmp_path):
    review = tmp_path / "review.txt"
    review.write_text("a moving story")
    request = app.request_from_cli([str(review), "just text"])
    assert request.inputs["text"].tolist() == [b"a moving story", b"just text"]


@pytest.mark.parametrize("item", ["missing.txt", "reviews/MISSING.JSONL", "notes.md"])
def test_cli_a_file_name_that_names_no_file_is_an_error_not_a_review(app, tmp_path, monkeypatch, item):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=f"No such review file: {re.escape(repr(item))}"):
        app.request_from_cli([item])


def test_cli_texts_that_only_mention_files_are_reviews(app):
    texts = ["see notes.txt for more", "10/10", "Great.", "loved.it"]
    assert app.request_from_cli(texts).inputs["text"].tolist() == [text.encode() for text in texts]


def test_cli_review_files_must_be_utf8_and_are_read_as_far_as_the_model_reads(app, tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes("très bon".encode("latin-1"))
    with pytest.raises(InputError, match="latin.txt: not UTF-8 text \\(invalid continuation byte, byte 0xe8"):
        app.request_from_cli([str(latin)])
    long = tmp_path / "long.txt"
    long.write_text("é" * (3 * MAX_TEXT_CHARACTERS))
    (text,) = app.request_from_cli([str(long)]).inputs["text"]
    assert text.decode() == "é" * (2 * MAX_TEXT_CHARACTERS)  # 4 bytes per character read, none cut


def test_cli_help_says_what_an_input_is(capsys):
    from apps import cli

    with pytest.raises(SystemExit):
        cli.main(["sentiment", "predict", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "A single word ending in .txt" in help_text and "UTF-8 text" in help_text


def test_hypermodel_builds_compiled_models_within_the_adapted_limits(app):
    config = tiny_config(max_examples=64)
    data = app.load_data(config)
    hypermodel = ConfigHyperModel(app, config, data)
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    chosen = hypermodel.config_for(hp)
    assert model.optimizer is not None
    assert chosen.sequence_length <= config.sequence_length
    assert chosen.vocabulary_size <= config.vocabulary_size
    assert {"num_blocks", "num_heads", "embedding_dim", "dropout", "learning_rate"} <= set(hp.values)


def test_recurrent_attention_weights_cover_the_words(app):
    from apps.sentiment.evaluation import attention_weights

    config = tiny_config(model="recurrent", max_examples=64)
    model = app.build_model(config, app.load_data(config))
    words, weights = attention_weights(model, "the plot was not good but the cast was superb")
    assert words[:3] == ["the", "plot", "was"] and len(weights) == len(words)
    assert np.all(weights >= 0) and weights.max() <= 1.0


def test_the_catalog_lists_the_app():
    from apps.catalog import load_apps

    assert "sentiment" in load_apps()


@pytest.mark.slow
def test_a_short_imdb_run_learns(app, shared_dataset, tmp_path):
    config = tiny_config(
        data=f"files:{shared_dataset('imdb')}",
        max_examples=3000,
        epochs=3,
        sequence_length=200,
        vocabulary_size=8000,
        bigram_vocabulary_size=20000,
        embedding_dim=32,
        pool_size=4,
        learning_rate=5e-3,
        dropout=0.25,
    )
    _, metrics = workflow.train(app, config, tmp_path / "imdb", verbose=False)
    assert metrics["accuracy"] > 0.7
