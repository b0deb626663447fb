"""The sentiment app: positive/negative classification of movie reviews (or any labelled text)."""

import codecs
from pathlib import Path

import numpy as np

from apps.core.app import App, SampleRequest
from apps.core.cli_inputs import is_file, shown, utf8_text
from apps.core.errors import InputError
from apps.sentiment import data as sentiment_data
from apps.sentiment.config import SentimentConfig
from apps.sentiment.decode import decode_predictions
from apps.sentiment.evaluation import evaluate_sentiment
from apps.sentiment.model import build_model, fit_member_combination
from apps.sentiment.signatures import TEXT_INPUT, make_signatures
from apps.sentiment.text import MAX_TEXT_CHARACTERS

SAMPLE_TEXTS = (
    "What a film! The cast is superb and the story moved me to tears.",
    "Not good at all: a dull plot, wooden acting and a waste of two hours.",
    "",
)


def search_space(hp, config):
    """Depth, heads, width, sequence length, vocabulary size, dropout and learning rate.

    Sequence length and vocabulary are capped by the base config's, whose adapted
    vectorizers every trial shares (shorter or smaller is cut inside the model).
    """
    lengths = sorted({min(length, config.sequence_length) for length in (128, 256, 400)})
    vocabularies = sorted({min(size, config.vocabulary_size) for size in (10_000, 20_000, 30_000)})
    return config.replace(
        num_blocks=hp.Int("num_blocks", 1, 3),
        num_heads=hp.Choice("num_heads", [2, 4]),
        embedding_dim=hp.Choice("embedding_dim", [32, 64, 128]),
        sequence_length=hp.Choice("sequence_length", lengths),
        vocabulary_size=hp.Choice("vocabulary_size", vocabularies),
        dropout=hp.Float("dropout", 0.0, 0.4, step=0.1),
        learning_rate=hp.Float("learning_rate", 3e-4, 5e-3, sampling="log"),
    )


def read_cli_text(item):
    """The review a CLI input stands for (`SentimentConfig.PREDICT_INPUTS`): the text of the
    file it names, or the input itself; `InputError` for a file name that names no file, or a
    file that is not UTF-8 text."""
    if is_file(item):
        return _read_review_file(Path(item))
    if not any(character.isspace() for character in item) and item.lower().endswith(
        SentimentConfig.REVIEW_FILE_SUFFIXES
    ):
        raise InputError(
            f"No such review file: {shown(item)} (a single word ending in {Path(item).suffix} is read as a file name)."
        )
    return item


def _read_review_file(path):
    """The file's text, as far as the model reads it (`MAX_TEXT_CHARACTERS`, at most 4 UTF-8
    bytes each): a huge file costs no more memory than a long review."""
    limit = 4 * MAX_TEXT_CHARACTERS
    with path.open("rb") as file:
        head = file.read(limit)
    try:
        # A character cut at the end of a full `head` lies past what the model reads.
        return codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < limit)
    except UnicodeDecodeError as error:
        raise InputError(
            f"{path}: not UTF-8 text ({error.reason}, byte 0x{head[error.start]:02x} at offset {error.start})."
        ) from None


class SentimentApp(App):
    name = "sentiment"
    title = "Review sentiment (transformer / BiRNN on IMDB)"
    config_class = SentimentConfig
    default_tfds_name = "imdb_reviews"
    objective = "val_accuracy"
    known_limits = (
        "Trained on English movie reviews (IMDB by default): positive or negative only, no neutral class; "
        "other domains and languages are read less well.",
        "A review is read up to its first 20,000 characters.",
    )
    objective_direction = "max"

    def load_tfds(self, name, config):
        train = sentiment_data.tfds_arrays(name, "train")
        test = sentiment_data.tfds_arrays(name, "test")
        return sentiment_data.make_splits(train, test, config, f"tfds:{name}")

    def load_files(self, path, config):
        train, test = sentiment_data.read_labelled_path(path)
        return sentiment_data.make_splits(train, test, config, f"files:{path}")

    def load_builtin(self, config):
        train, test = sentiment_data.builtin_arrays()
        return sentiment_data.make_splits(train, test, config, "builtin (generated reviews)")

    def tiny_config(self):
        """160 generated reviews, 24 tokens, width 16, one epoch: a few seconds. Batches of
        40 divide every split (120/40/1000), so JAX compiles one step shape per split."""
        return SentimentConfig(
            data="builtin",
            epochs=1,
            batch_size=40,
            max_examples=160,
            vocabulary_size=120,
            bigram_vocabulary_size=300,
            bag_vocabulary_size=400,
            sequence_length=24,
            embedding_dim=16,
            num_heads=2,
            intermediate_dim=16,
            pool_size=2,
            rnn_units=8,
            validation_fraction=0.25,
            seed=5,
        )

    def build_model(self, config, data):
        return build_model(config, data.info.vectorizers, data.train_examples, bag_term_scale=data.info.bag_term_scale)

    search_space = staticmethod(search_space)

    def train(self, model, data, config, run=None, callbacks=(), initial_epoch=0):
        """Fits (the base class's `fit` with `training_callbacks`), then weights the ensemble
        members (network, n-gram bag) on the validation split: stacking is part of training,
        so `kapps sentiment train`, tuner trials and `--retrain-best` all ship the stacked model."""
        history = super().train(model, data, config, run, callbacks, initial_epoch)
        if data.validation is not None:
            combination = fit_member_combination(model, data.validation)
            if combination is not None:
                print(
                    f"Member logit weights fitted on validation: network {combination['weights'][0]:.3f}, "
                    f"bag {combination['weights'][1]:.3f}, bias {combination['bias']:.3f}"
                )
        return history

    def decode_predictions(self, predictions, model):
        return decode_predictions(predictions)

    def evaluate(self, model, data, config, run):
        return evaluate_sentiment(model, data, config, run)

    def serving_signatures(self, model, config):
        return make_signatures(self, model)

    def app_descriptor(self, model, config, training):
        """The page sends one text to `serving_default` (the export answers no per-word weights)."""
        return {**super().app_descriptor(model, config, training), "text_input": TEXT_INPUT}

    def sample_requests(self, config):
        texts = np.array([text.encode("utf-8") for text in SAMPLE_TEXTS], dtype=object)
        return [SampleRequest("serving_default", {TEXT_INPUT: texts})]

    def request_from_cli(self, items):
        texts = np.array(
            [utf8_text(read_cli_text(item), number).encode("utf-8") for number, item in enumerate(items, start=1)],
            dtype=object,
        )
        return SampleRequest("serving_default", {TEXT_INPUT: texts})

    def format_response(self, outputs, items):
        probabilities = np.asarray(outputs["probability"]).reshape(-1)
        labels = np.asarray(outputs["label"]).reshape(-1)
        lines = []
        for item, probability, label in zip(items, probabilities, labels):
            sentiment = sentiment_data.CLASS_NAMES[int(label)]
            text = read_cli_text(item).replace("\n", " ")
            shown = text if len(text) <= 70 else text[:69] + "…"
            lines.append(f"{sentiment} (P(positive) {float(probability):.3f}): {shown!r}")
        return "\n".join(lines)
