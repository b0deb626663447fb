"""Sentiment benchmark: the default transformer on IMDB, optionally against the keras-io one.

    python benchmarks/sentiment.py --data files:../shared/datasets/imdb [--reference]

Trains the app's default transformer through `App.train` (any config field can be
overridden: `--epochs 3 --sequence-length 512`) on the official training split
(validation held out, never the test split), and reports its test accuracy, the training time it took
to reach 87.45% test accuracy (the keras-io transformer's published 2-epoch result)
and the total wall time. `--reference` also trains the keras-io "Text classification
with Transformer" architecture (vocabulary 20,000, length 200, embedding 32, one
block with 2 heads and feed-forward 32, global average pooling, dropout 0.1, dense
20 relu, dropout 0.1, softmax; Adam, batch 32, 2 epochs) on the same split and
machine, so the comparison is a ratio.

Timing: test accuracy is checked at a few points of training with `predict`
(measurement only: nothing is fitted, selected or stopped on it); the timer is
paused during checks and validation passes, so "training time" excludes them, and
both models are timed the same way. Our answers are the app's decoded labels
(`decode_predictions`). Text vectorization (adapting the vocabularies and turning
texts into ids) is timed separately.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

TARGET_ACCURACY = 0.8745
OUR_CHECKS = (0.625, 0.75, 0.875, 1.0, 2.0, 3.0, 4.0)
REFERENCE = dict(
    vocabulary_size=20_000,
    sequence_length=200,
    embedding_dim=32,
    num_heads=2,
    feed_forward_dim=32,
    dropout=0.1,
    dense_units=20,
    batch_size=32,
    epochs=2,
)


def parse_args(argv=None):
    """The benchmark's flags plus one `--field-name` flag per `SentimentConfig` field."""
    from apps.core.config import add_config_arguments
    from apps.sentiment.config import SentimentConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_config_arguments(parser, SentimentConfig)
    parser.set_defaults(config__data="files:../shared/datasets/imdb")
    parser.add_argument("--reference", action="store_true", help="also train the keras-io transformer")
    parser.add_argument("--target", type=float, default=TARGET_ACCURACY)
    parser.add_argument("--json", help="also write the results to this JSON file")
    return parser.parse_args(argv)


# ----- measuring ------------------------------------------------------------------------
def app_labels(app, model):
    """Our answers: the app's decoded 0/1 labels of the model's probabilities."""
    import keras

    return lambda probabilities: keras.ops.convert_to_numpy(app.decode_predictions(probabilities, model)["label"])


def softmax_labels(probabilities):
    import numpy as np

    return np.argmax(probabilities, axis=-1)


def test_accuracy(model, data, labels_of):
    """Test accuracy of `labels_of(model's test predictions)`."""
    import numpy as np

    predicted = np.asarray(labels_of(model.predict(data.test, verbose=0))).reshape(-1)
    return float(np.mean(predicted == data.info.test_labels))


def member_accuracies(app, model, data):
    """Test accuracy of each ensemble member alone (the network, the tf-idf bag), if any."""
    import numpy as np

    if getattr(model, "members", None) is None:
        return {}
    outputs = model.members.predict(data.test.map(lambda inputs, labels: inputs), verbose=0)
    labels_of = app_labels(app, model)
    return {
        name: float(np.mean(labels_of(prediction) == data.info.test_labels))
        for name, prediction in zip(model.members.output_names, outputs)
    }


def member_combination(model):
    """The stacking weights `App.train` fitted on validation, or None without members."""
    import keras

    if getattr(model, "members", None) is None:
        return None
    layer = model.classifier.get_layer("probability")
    return {
        "weights": keras.ops.convert_to_numpy(layer.member_weights).tolist(),
        "bias": float(keras.ops.convert_to_numpy(layer.bias)),
    }


def make_checker(data, check_epochs, steps_per_epoch, labels_of):
    """A callback that records (epoch, training seconds, test accuracy) at `check_epochs`;
    its clock stops during those checks and during validation passes."""
    import keras

    check_steps = {max(1, round(epochs * steps_per_epoch)): epochs for epochs in check_epochs}

    class TestAccuracyCheckpoints(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.step, self.paused, self.records = 0, 0.0, []
            self.started = time.perf_counter()

        def training_seconds(self):
            return time.perf_counter() - self.started - self.paused

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            if self.step in check_steps:
                seconds, pause_start = self.training_seconds(), time.perf_counter()
                accuracy = test_accuracy(self.model, data, labels_of)
                self.records.append(
                    {
                        "epoch": check_steps[self.step],
                        "training_seconds": round(seconds, 1),
                        "test_accuracy": round(accuracy, 4),
                    }
                )
                print(
                    f"  epoch {check_steps[self.step]:>4}: test accuracy {accuracy:.4f} "
                    f"after {seconds:.1f} s of training",
                    flush=True,
                )
                self.paused += time.perf_counter() - pause_start

        def on_test_begin(self, logs=None):
            self.validation_started = time.perf_counter()

        def on_test_end(self, logs=None):
            self.paused += time.perf_counter() - self.validation_started

        def on_train_end(self, logs=None):
            self.total_training_seconds = self.training_seconds()

    return TestAccuracyCheckpoints()


def time_to_target(records, target):
    reached = [record for record in records if record["test_accuracy"] >= target]
    return reached[0]["training_seconds"] if reached else None


def checker_for(data, epochs, check_epochs, batch_size, labels_of):
    import math

    steps = math.ceil(data.train_examples / batch_size)
    return make_checker(data, [e for e in check_epochs if e <= epochs], steps, labels_of)


# ----- the models -----------------------------------------------------------------------
def build_reference_model(settings):
    """The keras-io "Text classification with Transformer" model, layer for layer."""
    import keras
    from keras import layers, ops

    class PositionalTokenEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super().__init__()
            self.token_emb = layers.Embedding(vocab_size, embed_dim)
            self.pos_emb = layers.Embedding(maxlen, embed_dim)

        def call(self, x):
            positions = self.pos_emb(ops.arange(0, ops.shape(x)[-1], 1))
            return self.token_emb(x) + positions

    embed_dim, rate = settings["embedding_dim"], settings["dropout"]
    inputs = keras.Input((settings["sequence_length"],), dtype="int32", name="token_ids")
    x = PositionalTokenEmbedding(settings["sequence_length"], settings["vocabulary_size"], embed_dim)(inputs)
    attention = layers.MultiHeadAttention(num_heads=settings["num_heads"], key_dim=embed_dim)(x, x)
    x = layers.LayerNormalization(epsilon=1e-6)(x + layers.Dropout(rate)(attention))
    ffn = layers.Dense(settings["feed_forward_dim"], activation="relu")(x)
    ffn = layers.Dense(embed_dim)(ffn)
    x = layers.LayerNormalization(epsilon=1e-6)(x + layers.Dropout(rate)(ffn))
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(rate)(x)
    x = layers.Dense(settings["dense_units"], activation="relu")(x)
    x = layers.Dropout(rate)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    model = keras.Model({"token_ids": inputs}, outputs, name="keras_io_transformer")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def run_ours(app, config, train, test, args):
    from apps.sentiment.data import make_splits

    started = time.perf_counter()
    data = make_splits(train, test, config, config.data)
    vectorizing = time.perf_counter() - started
    print(
        f"Our transformer: vectorized in {vectorizing:.1f} s; training {data.train_examples} "
        f"reviews for {config.epochs} epochs",
        flush=True,
    )
    model = app.build_model(config, data)
    labels_of = app_labels(app, model)
    checker = checker_for(data, config.epochs, OUR_CHECKS, config.batch_size, labels_of)
    app.train(model, data, config, callbacks=[checker])  # fits, then stacks the members on validation
    combination = member_combination(model)
    if combination is not None:
        accuracy = test_accuracy(model, data, labels_of)
        checker.records.append(
            {
                "epoch": config.epochs,
                "training_seconds": round(checker.total_training_seconds, 1),
                "test_accuracy": round(accuracy, 4),
                "after": "member weights fitted on validation",
            }
        )
        print(f"  member logit weights fitted on validation {combination}: test accuracy {accuracy:.4f}", flush=True)
    members = member_accuracies(app, model, data)
    for name, accuracy in members.items():
        print(f"  member {name} alone: test accuracy {accuracy:.4f}", flush=True)
    return {
        "member_test_accuracy": members,
        "member_combination": combination,
        "model": f"sentiment transformer ({model.classifier.count_params():,} parameters)",
        "vectorizing_seconds": round(vectorizing, 1),
        "training_seconds": round(checker.total_training_seconds, 1),
        "test_accuracy": checker.records[-1]["test_accuracy"],
        "seconds_to_target": time_to_target(checker.records, args.target),
        "checks": checker.records,
    }


def run_reference(config, train, test, args):
    from apps.sentiment.data import make_splits

    settings = REFERENCE
    reference_config = config.replace(
        vocabulary_size=settings["vocabulary_size"],
        bigram_vocabulary_size=0,
        bag_vocabulary_size=0,
        sequence_length=settings["sequence_length"],
        batch_size=settings["batch_size"],
        epochs=settings["epochs"],
    )
    started = time.perf_counter()
    data = make_splits(train, test, reference_config, config.data)
    vectorizing = time.perf_counter() - started
    print(
        f"keras-io reference: vectorized in {vectorizing:.1f} s; training for {settings['epochs']} epochs", flush=True
    )
    model = build_reference_model(settings)
    checker = checker_for(data, settings["epochs"], (1.0, 2.0), settings["batch_size"], softmax_labels)
    model.fit(data.train, epochs=settings["epochs"], callbacks=[checker], verbose=0)
    return {
        "model": f"keras-io transformer ({model.count_params():,} parameters)",
        "vectorizing_seconds": round(vectorizing, 1),
        "training_seconds": round(checker.total_training_seconds, 1),
        "test_accuracy": checker.records[-1]["test_accuracy"],
        "seconds_to_target": time_to_target(checker.records, args.target),
        "checks": checker.records,
    }


def load_arrays(app, config):
    from apps.core.data import DataSource
    from apps.sentiment import data as sentiment_data

    source = DataSource.parse(config.data)
    if source.kind == "files":
        return sentiment_data.read_labelled_path(source.argument)
    if source.kind == "tfds":
        name = source.argument or app.default_tfds_name
        return sentiment_data.tfds_arrays(name, "train"), sentiment_data.tfds_arrays(name, "test")
    return sentiment_data.builtin_arrays()


def summary_lines(results, target):
    lines = []
    for key in ("ours", "reference"):
        if key not in results:
            continue
        result = results[key]
        reached = result["seconds_to_target"]
        reached_text = f"{reached:.1f} s" if reached is not None else "not reached"
        lines.append(
            f"{result['model']}: test accuracy {result['test_accuracy']:.4f}; "
            f"training {result['training_seconds']:.1f} s; {target:.2%} reached after "
            f"{reached_text}; vectorizing {result['vectorizing_seconds']:.1f} s"
        )
    if "reference" in results and results["ours"]["seconds_to_target"] is not None:
        ratio = results["ours"]["seconds_to_target"] / results["reference"]["training_seconds"]
        results["time_to_target_ratio"] = round(ratio, 3)
        lines.append(f"time to {target:.2%} (ours) / keras-io 2-epoch training time: {ratio:.2f}")
    lines.append(f"total wall time: {results['total_wall_seconds']:.1f} s")
    return lines


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    import keras

    from apps.core.config import overrides_from_args
    from apps.sentiment.app import SentimentApp

    app = SentimentApp()
    config = app.default_config().replace(**overrides_from_args(args)).validate()
    keras.utils.set_random_seed(config.seed)
    train, test = load_arrays(app, config)
    if test is None:
        raise SystemExit(f"{config.data} has no test split; the benchmark needs the official one.")
    print(f"Data {config.data}: {len(train[0])} training, {len(test[0])} test reviews", flush=True)
    results = {
        "data": config.data,
        "config": config.to_dict(),
        "target": args.target,
        "ours": run_ours(app, config, train, test, args),
    }
    if args.reference:
        keras.utils.set_random_seed(config.seed)
        results["reference"] = run_reference(config, train, test, args)
    results["total_wall_seconds"] = round(time.perf_counter() - started, 1)
    print("\n".join(summary_lines(results, args.target)))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
