"""Sentiment models: masking (padding never changes a prediction), layers, saving."""

import keras
import numpy as np
import pytest

import layers
from apps.core.config import ConfigError
from apps.sentiment.blocks import LimitTokenIds, TfIdfBagLogit
from apps.sentiment.decode import decode_predictions
from apps.sentiment.model import (
    BAG_LAYER,
    SentimentClassifier,
    build_classifier,
    build_model,
    fit_member_combination,
)
from apps.sentiment.text import (
    BAG_COUNTS,
    BAG_IDS,
    BIGRAM_IDS,
    TOKEN_IDS,
    adapt_vectorizers,
    make_vectorizers,
)
from tests.apps.sentiment.conftest import tiny_config

pytestmark = pytest.mark.multibackend

SHORT = [5, 9, 17, 3, 40, 8, 2]
LONG = list(range(2, 26))


def _ids(rows, length):
    """Right-padded id matrices for token, bigram and bag inputs."""
    tokens = np.zeros((len(rows), length), dtype="int32")
    bag_ids = np.zeros((len(rows), length), dtype="int32")
    bag_counts = np.zeros((len(rows), length), dtype="float32")
    for row, ids in enumerate(rows):
        tokens[row, : len(ids)] = ids
        distinct, counts = np.unique(ids, return_counts=True)
        bag_ids[row, : len(distinct)], bag_counts[row, : len(distinct)] = distinct, counts
    bigrams = np.where(tokens > 0, (tokens * 7) % 290 + 2, 0).astype("int32")
    return {TOKEN_IDS: tokens, BIGRAM_IDS: bigrams, BAG_IDS: bag_ids, BAG_COUNTS: bag_counts}


def _probabilities(model, inputs):
    """The model's inference outputs. A plain call is the quickest on TensorFlow and PyTorch
    (no `predict` graph traced per shape); eager JAX compiles op by op, so one jitted
    `predict_on_batch` is quicker there."""
    if keras.backend.backend() == "jax":
        outputs = model.predict_on_batch(inputs)
    else:
        outputs = model(inputs, training=False)
    return keras.ops.convert_to_numpy(outputs).astype("float64")


@pytest.mark.parametrize("model_name,pool_size", [("transformer", 1), ("transformer", 3), ("recurrent", 3)])
def test_padding_does_not_change_a_prediction_and_an_empty_text_is_answered(model_name, pool_size):
    classifier = build_classifier(tiny_config(model=model_name, pool_size=pool_size, dropout=0.0))
    alone = _probabilities(classifier, _ids([SHORT], len(SHORT)))
    padded_beside_a_long_review_and_an_empty_one = _probabilities(classifier, _ids([SHORT, LONG, []], 24))
    np.testing.assert_allclose(padded_beside_a_long_review_and_an_empty_one[0], alone[0], atol=1e-5)
    assert np.isfinite(padded_beside_a_long_review_and_an_empty_one).all()


def test_without_bigrams_and_bag_the_model_takes_token_ids_only():
    classifier = build_classifier(tiny_config(bigram_vocabulary_size=0, bag_vocabulary_size=0))
    assert [tensor.name for tensor in classifier.inputs] == [TOKEN_IDS]
    assert _probabilities(classifier, {TOKEN_IDS: _ids([SHORT], 24)[TOKEN_IDS]}).shape == (1, 1)


def test_limit_token_ids_truncates_and_maps_rare_ids_to_unknown():
    limited = LimitTokenIds(vocabulary_size=10, sequence_length=4)(np.array([[3, 12, 9, 0, 7, 8]]))
    assert keras.ops.convert_to_numpy(limited).tolist() == [[3, 1, 9, 0]]


@pytest.mark.parametrize(
    "name,config",
    [
        ("MaskedMeanMaxPooling", {}),
        ("MaskedChunkPooling", {"pool_size": 3}),
        ("BigramEmbedding", {"vocabulary_size": 9, "embedding_dim": 4, "table_dim": 2}),
    ],
)
def test_models_saved_before_the_layers_moved_still_load_them(name, config):
    """`.keras` files name these layers by their registration in `apps.sentiment.blocks`."""
    revived = keras.saving.deserialize_keras_object(
        {
            "module": "apps.sentiment.blocks",
            "class_name": name,
            "registered_name": f"kapps_sentiment>{name}",
            "config": {"name": "old", "trainable": True, "dtype": "float32", **config},
        }
    )
    assert type(revived) is getattr(layers, name) and revived.name == "old"
    assert keras.saving.get_registered_name(type(revived)) == f"kapps>{name}"  # new files use the new name


def _adapted_vectorizers(config):
    texts = ["a fine film", "a dull film", "not a fine plot", "fine acting"] * 3
    return adapt_vectorizers(make_vectorizers(config), texts)


def test_saved_model_keeps_its_vocabularies_and_idf(tmp_path):
    config = tiny_config()
    vectorizers = _adapted_vectorizers(config)
    idf = np.linspace(1.0, 2.0, config.bag_vocabulary_size).astype("float32")
    model = build_model(config, vectorizers, train_examples=12, bag_term_scale=idf)
    model.classifier.get_layer(BAG_LAYER).set_term_weights(np.linspace(-1, 1, config.bag_vocabulary_size))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, SentimentClassifier)
    assert loaded.token_vectorizer.get_vocabulary() == model.token_vectorizer.get_vocabulary()
    assert loaded.bigram_vectorizer.get_vocabulary() == model.bigram_vectorizer.get_vocabulary()
    assert loaded.bag_vectorizer.get_vocabulary() == model.bag_vectorizer.get_vocabulary()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded.classifier.get_layer(BAG_LAYER).term_scale), idf)
    # Same weights (term weights included) in the same architecture; the shared app test
    # checks that a reloaded model scores as before on every backend.
    assert [weight.path for weight in loaded.weights] == [weight.path for weight in model.weights]
    for saved, reloaded in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded), keras.ops.convert_to_numpy(saved))


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"model": "cnn"}, "model must be"),
        ({"embedding_dim": 30, "num_heads": 4}, "divisible"),
        ({"rnn_cell": "elman"}, "--rnn-cell must be one of gru, lstm"),
        ({"sequence_length": 0}, "positive"),
    ],
)
def test_invalid_configs_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config(**changes).validate()


def test_shared_fields_the_app_ignores_are_refused():
    assert tiny_config(warmup_epochs=0.5, ema_momentum=0.99, first_cycle_epochs=1.0).validate()
    with pytest.raises(ConfigError, match="--field-metrics-every"):
        tiny_config(field_metrics_every=2).validate()


@pytest.mark.parametrize("binary", [False, True])
def test_bag_logit_is_an_l2_normalised_dot_product_of_scaled_sublinear_or_binary_counts(binary):
    idf = np.array([1.0, 1.5, -2.0, 3.0, 1.2], "float32")
    weights = np.array([0.0, 0.5, -1.0, 2.0, 0.3], "float32")
    layer = TfIdfBagLogit(5, learning_rate_multiplier=4.0, binary=binary)
    bag_ids = np.array([[2, 3, 0, 0], [1, 2, 3, 4], [0, 0, 0, 0]], "int32")
    bag_counts = np.array([[3, 1, 0, 0], [1, 1, 2, 1], [0, 0, 0, 0]], "float32")
    layer.build(bag_ids.shape)
    layer.set_term_scale(idf)
    layer.set_term_weights(weights)
    logits = keras.ops.convert_to_numpy(layer(bag_ids, bag_counts))
    expected = []
    for ids, counts in zip(bag_ids, bag_counts):
        features = np.zeros(5)
        for index, count in zip(ids, counts):
            if index and count:
                features[index] = (1.0 if binary else 1 + np.log(count)) * idf[index]
        norm = np.linalg.norm(features)
        expected.append(features @ weights / norm if norm else 0.0)
    np.testing.assert_allclose(logits.reshape(-1), expected, rtol=1e-5, atol=1e-6)


def test_the_bag_reads_the_whole_text_beyond_the_sequence_length():
    config = tiny_config(sequence_length=4, dropout=0.0, bag_weighting="nb")
    vectorizers = _adapted_vectorizers(config)
    scale = np.ones(config.bag_vocabulary_size, "float32")
    model = build_model(config, vectorizers, train_examples=12, bag_term_scale=scale)
    model.classifier.get_layer(BAG_LAYER).set_term_weights(
        np.where(
            np.array(vectorizers["ngram_bag"].get_vocabulary() + [""] * config.bag_vocabulary_size)[
                : config.bag_vocabulary_size
            ]
            == "dull",
            -5.0,
            0.0,
        )
    )
    texts = np.array(["a fine film a fine film", "a fine film a fine film dull"])
    inputs = model.vectorize(texts)
    assert inputs[TOKEN_IDS].shape[1] == 4 and inputs[BAG_IDS].shape == (2, config.bag_max_terms)
    probabilities = _probabilities(model, inputs).reshape(-1)
    logits = np.log(probabilities / (1 - probabilities))
    counts = keras.ops.convert_to_numpy(inputs[BAG_COUNTS])[1]
    norm = np.sqrt(np.sum(counts > 0))  # binary features
    # "dull" (once) is word 7, past the 4 tokens the encoder sees, so the network's logit is
    # the same for both texts and only the bag's differs (by -5 / norm); until stacking the
    # model answers the mean of the members' logits.
    np.testing.assert_allclose(logits[1] - logits[0], 0.5 * -5.0 / norm, rtol=1e-3)


def test_decode_thresholds_at_one_half_on_every_backend():
    decoded = decode_predictions(np.array([[0.2], [0.5], [0.93]], "float32"))
    assert keras.ops.convert_to_numpy(decoded["label"]).tolist() == [0, 1, 1]
    names = keras.ops.convert_to_numpy(decoded["sentiment"]).tolist()
    assert [name.decode() if isinstance(name, bytes) else name for name in names] == [
        "negative",
        "positive",
        "positive",
    ]


def test_the_vectorizers_kept_for_export_do_not_switch_xla_off(tmp_path):
    """The string vectorizers ride along but no step runs them: on JAX, where Keras' `auto`
    means XLA, the steps compile (eager JAX runs op by op, ~6x slower), also after a reload;
    elsewhere `auto` keeps Keras' answer, and `--jit-compile on|off` is obeyed."""
    config = tiny_config()
    model = build_model(
        config,
        _adapted_vectorizers(config),
        train_examples=12,
        bag_term_scale=np.ones(config.bag_vocabulary_size, "float32"),
    )
    on_jax = keras.backend.backend() == "jax"
    assert model.jit_compile is on_jax
    model.save(tmp_path / "model.keras")
    assert keras.saving.load_model(tmp_path / "model.keras").jit_compile is on_jax
    model.jit_compile = False
    assert model.jit_compile is False
    model.jit_compile = True  # before, Keras refused it because of the vectorizers
    assert model.jit_compile is True


def test_member_combination_is_fitted_on_held_out_data():
    config = tiny_config(dropout=0.0)
    model = build_model(
        config,
        _adapted_vectorizers(config),
        train_examples=12,
        bag_term_scale=np.ones(config.bag_vocabulary_size, "float32"),
    )
    texts = np.array(["a fine film", "a dull film", "not a fine plot", "fine acting"] * 8)
    labels = np.array([1, 0, 0, 1] * 8, "float32")[:, None]
    bag = model.classifier.get_layer(BAG_LAYER)
    vocabulary = model.bag_vectorizer.get_vocabulary()
    bag.set_term_weights(
        np.array(
            [{"fine": 2.0, "dull": -2.0, "not": -3.0}.get(word, 0.0) for word in vocabulary]
            + [0.0] * (config.bag_vocabulary_size - len(vocabulary))
        )
    )
    dataset = [(model.vectorize(texts), labels)]
    combination = fit_member_combination(model, dataset)
    assert combination["weights"][1] > abs(combination["weights"][0])  # the bag separates the classes
    combined = model.classifier.get_layer("probability")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(combined.member_weights), combination["weights"], rtol=1e-6)
    members = model.members.predict_on_batch(dataset[0][0])  # compiled once, by the fit above
    probabilities = keras.ops.convert_to_numpy(combined(members)).reshape(-1)
    assert ((probabilities >= 0.5) == labels.reshape(-1)).all()


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_training_call_returns_each_member_and_the_loss_scores_both(smoothing):
    config = tiny_config(dropout=0.0, label_smoothing=smoothing)
    model = build_model(
        config,
        _adapted_vectorizers(config),
        train_examples=12,
        bag_term_scale=np.ones(config.bag_vocabulary_size, "float32"),
    )
    inputs = model.vectorize(np.array(["a fine film", "a dull film"]))
    outputs = model(inputs, training=True)
    members = keras.ops.convert_to_numpy(outputs).astype("float64")
    assert members.shape == (2, 2)
    labels = np.array([[1.0], [0.0]], "float32")
    loss = float(keras.ops.convert_to_numpy(model.compute_loss(inputs, labels, outputs)))

    def cross_entropy(target, p):
        return -(target * np.log(p) + (1 - target) * np.log(1 - p))

    network_targets = labels[:, 0] * (1 - smoothing) + 0.5 * smoothing  # the bag learns from hard labels
    expected = np.mean(
        [cross_entropy(network_targets, members[:, 0]).mean(), cross_entropy(labels[:, 0], members[:, 1]).mean()]
    )
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_without_the_bag_label_smoothing_applies_to_the_single_output():
    config = tiny_config(dropout=0.0, label_smoothing=0.2, bag_vocabulary_size=0)
    model = build_model(config, _adapted_vectorizers(config), train_examples=12)
    inputs = model.vectorize(np.array(["a fine film", "a dull film"]))
    outputs = model(inputs, training=True)
    probabilities = keras.ops.convert_to_numpy(outputs).astype("float64").reshape(-1)
    labels = np.array([[1.0], [0.0]], "float32")
    loss = float(keras.ops.convert_to_numpy(model.compute_loss(inputs, labels, outputs)))
    targets = labels.reshape(-1) * 0.8 + 0.1
    expected = np.mean(-(targets * np.log(probabilities) + (1 - targets) * np.log(1 - probabilities)))
    np.testing.assert_allclose(loss, expected, rtol=1e-4)
