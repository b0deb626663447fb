"""Sentiment data: TFDS `imdb_reviews`, local JSONL/CSV files or aclImdb folders, or the
generated `builtin` corpus; vectorized once into integer-id pipelines."""

import csv
import dataclasses
import gzip
import json
import lzma
from pathlib import Path

import numpy as np
import tensorflow as tf

from apps.core.data import DataSplits, batched_pipeline, hold_out, load_tfds
from apps.sentiment import corpus
from apps.sentiment.text import (
    BAG_IDS,
    NGRAM_BAG,
    adapt_vectorizers,
    inverse_document_frequency,
    make_vectorizers,
    naive_bayes_log_count_ratio,
    vectorize_texts,
)

CLASS_NAMES = ["negative", "positive"]


@dataclasses.dataclass
class SentimentInfo:
    """What the model and the evaluation need beyond the pipelines (`DataSplits.info`).

    Attributes:
        vectorizers: `{ids name: TextVectorization}` adapted on the training texts.
        bag_term_scale: the weight of each of the bag's n-grams, fitted on the training texts
            (`config.bag_weighting`: NB log-count ratio or idf; None without a bag).
        test_texts, test_labels: the test split as texts and 0/1 labels.
    """

    vectorizers: dict
    bag_term_scale: "np.ndarray | None"
    test_texts: np.ndarray
    test_labels: np.ndarray


TEXT_COLUMNS = ("text", "review", "sentence", "content", "body")
LABEL_COLUMNS = ("label", "sentiment", "polarity", "target", "class")
LABEL_WORDS = {
    "0": 0,
    "1": 1,
    "neg": 0,
    "pos": 1,
    "negative": 0,
    "positive": 1,
    "false": 0,
    "true": 1,
    "bad": 0,
    "good": 1,
}
TABLE_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".tsv")


# ----- reading labelled text --------------------------------------------------------------
def _open_text(path):
    path = Path(path)
    if path.suffix == ".xz":
        return lzma.open(path, "rt", encoding="utf-8")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8", newline="")


def _table_suffix(path):
    """`.jsonl` for `x.jsonl.xz`, `.csv` for `x.csv`..."""
    suffixes = [s for s in Path(path).suffixes if s not in (".xz", ".gz")]
    return suffixes[-1].lower() if suffixes else ""


def parse_label(value):
    """0/1 from ints, bools, '0'/'1', 'neg'/'pos', 'negative'/'positive'..."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    word = str(value).strip().lower()
    if word in LABEL_WORDS:
        return LABEL_WORDS[word]
    raise ValueError(f"Cannot read {value!r} as a sentiment label (expected 0/1, neg/pos, negative/positive).")


def _pick_column(names, candidates, kind, path):
    lowered = {name.lower(): name for name in names}
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    raise ValueError(f"{path}: no {kind} column; expected one of {', '.join(candidates)}, found {sorted(names)}.")


def rows_to_arrays(rows, path):
    """`(texts, labels)` from dict rows, finding the text and label columns by name."""
    if not rows:
        raise ValueError(f"{path} holds no examples.")
    text_column = _pick_column(rows[0].keys(), TEXT_COLUMNS, "text", path)
    label_column = _pick_column(rows[0].keys(), LABEL_COLUMNS, "label", path)
    texts = np.asarray([str(row[text_column] or "") for row in rows], dtype=object)
    labels = np.asarray([parse_label(row[label_column]) for row in rows], dtype=np.int64)
    return texts, labels


def read_table(path):
    """`(texts, labels)` from a JSON-lines or CSV/TSV file (optionally .gz/.xz)."""
    suffix = _table_suffix(path)
    with _open_text(path) as handle:
        if suffix in (".csv", ".tsv"):
            rows = list(csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ","))
        else:
            rows = [json.loads(line) for line in handle if line.strip()]
    return rows_to_arrays(rows, path)


def read_acl_imdb_split(folder):
    """`(texts, labels)` from an aclImdb-style `<split>/{pos,neg}/*.txt` folder."""
    texts, labels = [], []
    for label, name in ((0, "neg"), (1, "pos")):
        for file in sorted((Path(folder) / name).glob("*.txt")):
            texts.append(file.read_text(encoding="utf-8", errors="replace"))
            labels.append(label)
    if not texts:
        raise ValueError(f"{folder} has no pos/*.txt or neg/*.txt files.")
    return np.asarray(texts, dtype=object), np.asarray(labels, dtype=np.int64)


def _is_table(path):
    return path.is_file() and _table_suffix(path) in TABLE_SUFFIXES


def _split_file(folder, split):
    """The table in `folder` whose name mentions `split` (`imdb_train.jsonl.xz`, `test.csv`)."""
    matches = sorted(p for p in folder.iterdir() if _is_table(p) and split in p.name.lower())
    return matches[0] if matches else None


def read_labelled_path(path):
    """`(train, test)` arrays from a file or folder; `test` is None for a single file.

    Accepts a JSONL/CSV file, a folder holding `*train*` and `*test*` tables, or an
    aclImdb-style tree (`train/{pos,neg}/*.txt`, `test/...`), at the top or in `aclImdb/`.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist.")
    if path.is_file():
        return read_table(path), None
    for root in (path, path / "aclImdb"):
        if (root / "train" / "pos").is_dir():
            test = read_acl_imdb_split(root / "test") if (root / "test" / "pos").is_dir() else None
            return read_acl_imdb_split(root / "train"), test
    train_file, test_file = _split_file(path, "train"), _split_file(path, "test")
    if train_file is None:
        raise FileNotFoundError(
            f"{path}: expected a *train*.jsonl/.csv file (and a *test* one) or an aclImdb "
            "folder tree (train/pos/*.txt...)."
        )
    return read_table(train_file), (read_table(test_file) if test_file else None)


def tfds_arrays(name, split):
    texts, labels = [], []
    for text, label in load_tfds(name, split).as_numpy_iterator():
        texts.append(text.decode("utf-8", errors="replace"))
        labels.append(int(label))
    return np.asarray(texts, dtype=object), np.asarray(labels, dtype=np.int64)


# ----- splits ---------------------------------------------------------------------------
def _capped(arrays, max_examples, seed):
    """A random sample of `max_examples` (all when 0); sources may be sorted by label."""
    texts, labels = arrays
    if not max_examples or max_examples >= len(texts):
        return texts, labels
    chosen = np.random.default_rng(seed).permutation(len(texts))[:max_examples]
    return texts[chosen], labels[chosen]


def id_pipeline(ids, labels, config, training=False):
    """The batched `({input_name: ids}, label)` pipeline of vectorized texts."""
    targets = np.asarray(labels, dtype=np.float32)[:, None]
    return batched_pipeline(
        tf.data.Dataset.from_tensor_slices((ids, targets)), config.batch_size, training=training, seed=config.seed
    )


def bag_term_scale_for(config, bag_ids, labels, vocabulary_size):
    """The bag's per-n-gram weighting (`config.bag_weighting`) fitted on the training texts."""
    if config.bag_weighting == "nb":
        return naive_bayes_log_count_ratio(bag_ids, labels, vocabulary_size)
    return inverse_document_frequency(bag_ids, vocabulary_size)


def make_splits(train, test, config, source, vectorizers=None):
    """Vectorized pipelines for the splits; the vectorizers are adapted on `train` only.

    `test` None holds out `config.test_fraction` of `train` as the test split.
    Pass already adapted `vectorizers` to reuse them (the benchmark does).
    """
    if test is None:
        train, test = hold_out(*train, config.test_fraction, config.seed + 1)
    train = _capped(train, config.max_examples, config.seed)
    (texts, labels), (val_texts, val_labels) = hold_out(*train, config.validation_fraction, config.seed)
    if vectorizers is None:
        vectorizers = adapt_vectorizers(make_vectorizers(config), texts)

    def vectorized(split_texts):
        return vectorize_texts(vectorizers, split_texts, config.bag_max_terms)

    train_ids = vectorized(texts)
    bag_term_scale = None
    if NGRAM_BAG in vectorizers:
        bag_term_scale = bag_term_scale_for(
            config, train_ids[BAG_IDS], labels, vectorizers[NGRAM_BAG].vocabulary_size()
        )
    test_texts, test_labels = test
    splits = {"train": (texts, labels), "validation": (val_texts, val_labels), "test": test}

    def pipeline(split, training):
        split_texts, split_labels = splits[split]
        return id_pipeline(train_ids if split == "train" else vectorized(split_texts), split_labels, config, training)

    return DataSplits.assemble(
        pipeline,
        {split: len(split_texts) for split, (split_texts, _) in splits.items()},
        CLASS_NAMES,
        source,
        info=SentimentInfo(vectorizers, bag_term_scale, test_texts, test_labels),
    )


def builtin_arrays():
    return corpus.builtin_corpus()
