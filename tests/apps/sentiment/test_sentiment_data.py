"""Sentiment sources: generated corpus, JSONL/CSV/aclImdb files, splits and vectorization."""

import json
import lzma

import numpy as np
import pytest
import tensorflow as tf

from apps.sentiment import corpus
from apps.sentiment import data as sentiment_data
from apps.sentiment.text import (
    BAG_COUNTS,
    BAG_IDS,
    BIGRAM_IDS,
    MAX_TEXT_CHARACTERS,
    NGRAM_BAG,
    TOKEN_IDS,
    bag_of_ngrams,
    inverse_document_frequency,
    naive_bayes_log_count_ratio,
    standardize_text,
)
from tests.apps.sentiment.conftest import tiny_config


def test_builtin_corpus_is_fixed_balanced_and_short():
    (train_texts, train_labels), (test_texts, test_labels) = corpus.builtin_corpus()
    again, _ = corpus.builtin_corpus()
    assert list(train_texts[:5]) == list(again[0][:5])
    assert len(train_texts) == corpus.TRAIN_SIZE and len(test_texts) == corpus.TEST_SIZE
    assert train_labels.mean() == pytest.approx(0.5) and test_labels.mean() == pytest.approx(0.5)
    assert max(len(text.split()) for text in train_texts) <= 32


def test_builtin_corpus_defeats_a_bag_of_words():
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    (train_texts, train_labels), (test_texts, test_labels) = corpus.builtin_corpus()
    bag = CountVectorizer(binary=True)
    classifier = LogisticRegression(max_iter=1000).fit(bag.fit_transform(train_texts), train_labels)
    assert classifier.score(bag.transform(test_texts), test_labels) < 0.6


def test_negation_and_order_decide_the_label():
    rng = __import__("random").Random(0)
    for _ in range(50):
        text = corpus._contrast_review(rng, 1)
        main, other = (text.split(" but ")[1], text.split(" but ")[0]) if " but " in text else text.split(" although ")
        assert " but " in text or " although " in text
        assert main and other


def test_standardize_keeps_ratings_and_exclamations():
    text = standardize_text(tf.constant(["Great film!! 7/10<br />and/or NOT bad."])).numpy()[0].decode()
    assert text.split() == ["great", "film", "!", "!", "7/10", "and", "or", "not", "bad"]


def test_standardize_reads_the_first_characters_only():
    text = "é" * (MAX_TEXT_CHARACTERS - 4) + " good ending"
    standardized = standardize_text(tf.constant([text])).numpy()[0].decode()  # whole characters kept
    assert standardized.split() == ["é" * (MAX_TEXT_CHARACTERS - 4), "goo"]


@pytest.mark.parametrize("value,expected", [(1, 1), (0, 0), ("pos", 1), ("negative", 0), ("TRUE", 1), (False, 0)])
def test_parse_label(value, expected):
    assert sentiment_data.parse_label(value) == expected


def test_parse_label_rejects_other_values():
    with pytest.raises(ValueError, match="sentiment label"):
        sentiment_data.parse_label("meh")


def _write_jsonl_xz(path, rows):
    with lzma.open(path, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


def test_reads_a_folder_of_train_and_test_jsonl(tmp_path):
    rows = [{"id": i, "text": f"review {i}", "label": i % 2} for i in range(6)]
    _write_jsonl_xz(tmp_path / "imdb_train.jsonl.xz", rows)
    _write_jsonl_xz(tmp_path / "imdb_test.jsonl.xz", rows[:4])
    (texts, labels), (test_texts, _) = sentiment_data.read_labelled_path(tmp_path)
    assert list(texts[:2]) == ["review 0", "review 1"] and list(labels[:2]) == [0, 1]
    assert len(test_texts) == 4


def test_reads_a_csv_file_with_other_column_names(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('review,sentiment\n"good, really",positive\nawful,negative\n')
    (texts, labels), test = sentiment_data.read_labelled_path(path)
    assert list(texts) == ["good, really", "awful"] and list(labels) == [1, 0] and test is None


def test_csv_without_a_label_column_is_refused(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,stars\nfine,5\n")
    with pytest.raises(ValueError, match="no label column"):
        sentiment_data.read_labelled_path(path)


def test_reads_an_aclimdb_tree(tmp_path):
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            folder = tmp_path / "aclImdb" / split / label
            folder.mkdir(parents=True)
            (folder / "0_9.txt").write_text(f"{label} review")
    (texts, labels), (test_texts, test_labels) = sentiment_data.read_labelled_path(tmp_path)
    assert dict(zip(texts, labels)) == {"neg review": 0, "pos review": 1}
    assert len(test_texts) == 2


def test_missing_path_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError):
        sentiment_data.read_labelled_path(tmp_path / "nothing")


def test_splits_adapt_on_training_texts_only():
    train = (np.array(["good film", "bad film", "good plot", "bad plot"] * 5, dtype=object), np.array([1, 0, 1, 0] * 5))
    test = (np.array(["unseenword film"], dtype=object), np.array([1]))
    config = tiny_config(validation_fraction=0.2, sequence_length=8)
    splits = sentiment_data.make_splits(train, test, config, "test")
    vocabulary = splits.info.vectorizers[TOKEN_IDS].get_vocabulary()
    assert "unseenword" not in vocabulary and "film" in vocabulary
    assert splits.train_examples == 16 and splits.validation_examples == 4
    assert splits.class_names == ("negative", "positive") and splits.source == "test"
    inputs, targets = next(iter(splits.test))
    assert inputs[TOKEN_IDS].shape == (1, 8) and inputs[BIGRAM_IDS].shape == (1, 8)
    assert inputs[BAG_IDS].shape == (1, config.bag_max_terms)
    assert splits.info.bag_term_scale.shape == (splits.info.vectorizers[NGRAM_BAG].vocabulary_size(),)
    assert inputs[TOKEN_IDS].numpy()[0, 0] == 1  # [UNK]
    assert targets.numpy().tolist() == [[1.0]]


def test_single_file_holds_out_a_test_split(app):
    config = tiny_config(max_examples=0)
    train, _ = sentiment_data.builtin_arrays()
    splits = sentiment_data.make_splits(train, None, config.replace(test_fraction=0.25), "one file")
    assert splits.test_examples == 1000 and splits.train_examples == 2250


def test_load_tfds_fails_fast_offline_or_loads(app, monkeypatch):
    from apps.core import data as core_data

    monkeypatch.setattr(core_data, "network_reachable", lambda *args, **kwargs: False)
    try:
        splits = app.load_data(tiny_config(data="tfds"))
    except core_data.DataSourceError as error:
        assert "files:PATH" in str(error)
    else:
        assert splits.source == "tfds:imdb_reviews"


@pytest.mark.slow
def test_reads_the_shared_imdb_files(app, shared_dataset):
    splits = app.load_data(tiny_config(data=f"files:{shared_dataset('imdb')}", max_examples=200))
    assert splits.test_examples == 25_000 and splits.train_examples == 150


def test_bag_of_ngrams_lists_distinct_ids_with_counts():
    ngram_ids = np.array([[5, 3, 5, 5, 9, 0, 0], [0, 0, 0, 0, 0, 0, 0], [2, 2, 4, 6, 8, 10, 12]])
    bag = bag_of_ngrams(ngram_ids, max_terms=4)
    assert bag[BAG_IDS].numpy().tolist() == [[3, 5, 9, 0], [0, 0, 0, 0], [2, 4, 6, 8]]
    assert bag[BAG_COUNTS].numpy().tolist() == [[1, 3, 1, 0], [0, 0, 0, 0], [2, 1, 1, 1]]


def test_inverse_document_frequency_counts_texts_not_occurrences():
    bag_ids = np.array([[1, 2, 0], [2, 3, 0], [2, 0, 0]])
    idf = inverse_document_frequency(bag_ids, vocabulary_size=5)
    texts = 3
    documents = np.array([0, 1, 3, 1, 0])
    np.testing.assert_allclose(idf, np.log((1 + texts) / (1 + documents)) + 1, rtol=1e-6)


def test_naive_bayes_log_count_ratio_counts_texts_per_class():
    bag_ids = np.array([[1, 2, 0], [2, 3, 0], [2, 4, 0]])
    ratio = naive_bayes_log_count_ratio(bag_ids, labels=[1, 1, 0], vocabulary_size=5)
    positive = np.array([0, 1, 2, 1, 0]) + 1.0
    negative = np.array([0, 0, 1, 0, 1]) + 1.0
    np.testing.assert_allclose(ratio, np.log(positive / positive.sum() / (negative / negative.sum())), rtol=1e-6)
    assert ratio[3] > 0 > ratio[4]
