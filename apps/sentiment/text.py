"""Text preprocessing: the standardisation and the adapted `TextVectorization` layers.

Two vectorizers turn raw strings into aligned id sequences of the same length:
`token_ids` (words) and, optionally, `bigram_ids` (the word pair starting at each
position). A third, optional one reads the whole text as a bag of words and word
pairs (and triples): `bag_ids` (the distinct n-grams of a text) with `bag_counts` (how
often each occurs), which the model weights (Naive-Bayes log-count ratio or idf). All
are adapted on the training split only and travel inside the saved model (`SentimentClassifier`), so the export needs
nothing else. Every one of them reads a text's first `MAX_TEXT_CHARACTERS` only.
"""

import keras
import numpy as np
import tensorflow as tf

TOKEN_IDS = "token_ids"
BIGRAM_IDS = "bigram_ids"
BAG_IDS = "bag_ids"
BAG_COUNTS = "bag_counts"
NGRAM_BAG = "ngram_bag"
ADAPT_BATCH = 1024
VECTORIZE_BATCH = 2048
# Characters of a text that are read; the rest is ignored. The longest IMDB review has
# 13,704. The cap bounds what one request costs: fifty 1 MB reviews would otherwise be
# split into millions of words and word pairs (gigabytes) by the three vectorizers.
MAX_TEXT_CHARACTERS = 20_000


@keras.saving.register_keras_serializable(package="kapps_sentiment")
def standardize_text(texts):
    """Keeps the first `MAX_TEXT_CHARACTERS` characters, lower-cases, drops HTML line
    breaks and punctuation; keeps `!`/`?` as words and ratings such as `7/10` as one word."""
    texts = tf.strings.substr(texts, 0, MAX_TEXT_CHARACTERS, unit="UTF8_CHAR")
    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, r"<br\s*/?>", " ")
    texts = tf.strings.regex_replace(texts, r"(\pN)\s*/\s*(\pN)", r"\1/\2")
    texts = tf.strings.regex_replace(texts, r"([!?])", r" \1 ")
    texts = tf.strings.regex_replace(texts, r"/(\PN)|(\PN)/", r"\2 \1")
    return tf.strings.regex_replace(texts, r"[^\pL\pN'!?/]+", " ")


def make_vectorizers(config):
    """Un-adapted vectorizers for `config`: words, plus word pairs when enabled."""
    vectorizers = {
        TOKEN_IDS: keras.layers.TextVectorization(
            max_tokens=config.vocabulary_size,
            standardize=standardize_text,
            output_sequence_length=config.sequence_length,
            name="token_vectorizer",
        )
    }
    if config.uses_bigrams:
        vectorizers[BIGRAM_IDS] = keras.layers.TextVectorization(
            max_tokens=config.bigram_vocabulary_size,
            standardize=standardize_text,
            ngrams=(2,),
            output_sequence_length=config.sequence_length,
            name="bigram_vectorizer",
        )
    if config.uses_bag:
        vectorizers[NGRAM_BAG] = keras.layers.TextVectorization(
            max_tokens=config.bag_vocabulary_size,
            standardize=standardize_text,
            ngrams=config.bag_ngrams,
            name="ngram_bag_vectorizer",
        )
    return vectorizers


def bag_of_ngrams(ngram_ids, max_terms):
    """N-gram ids `(batch, length)` (0 = padding) → `{BAG_IDS, BAG_COUNTS}` of shape
    `(batch, max_terms)`: each text's distinct n-gram ids (ascending, so the most
    frequent n-grams of the vocabulary first) and their counts, zero-padded.

    A text with more than `max_terms` distinct n-grams keeps the `max_terms` most
    frequent in the training vocabulary.
    """
    if not tf.is_tensor(ngram_ids):
        ngram_ids = np.asarray(keras.ops.convert_to_numpy(ngram_ids))
    ngram_ids = tf.cast(tf.convert_to_tensor(ngram_ids), tf.int64)
    counts = tf.sparse.reorder(tf.sparse.bincount(ngram_ids, axis=-1))
    present = tf.sparse.retain(counts, counts.indices[:, 1] > 0)
    rows = tf.shape(ngram_ids, out_type=tf.int64)[0]

    def per_text(values):
        return tf.RaggedTensor.from_value_rowids(values, present.indices[:, 0], nrows=rows)

    ids, frequencies = per_text(present.indices[:, 1]), per_text(present.values)
    shape = tf.stack([rows, tf.constant(max_terms, tf.int64)])
    return {
        BAG_IDS: tf.cast(ids.to_tensor(shape=shape), tf.int32),
        BAG_COUNTS: tf.cast(frequencies.to_tensor(shape=shape), tf.float32),
    }


def bag_of_ngrams_for_backend(ngram_ids, max_terms):
    """`bag_of_ngrams` as tensors of the Keras backend (TensorFlow tensors stay as they are)."""
    bag = bag_of_ngrams(ngram_ids, max_terms)
    if keras.backend.backend() == "tensorflow":
        return bag
    return {name: keras.ops.convert_to_tensor(tensor.numpy()) for name, tensor in bag.items()}


def inverse_document_frequency(bag_ids, vocabulary_size):
    """Smoothed idf of every n-gram id over the training texts' `bag_ids`:
    `log((1 + texts) / (1 + texts containing it)) + 1` (scikit-learn's definition)."""
    bag_ids = np.asarray(bag_ids)
    documents = np.bincount(bag_ids[bag_ids > 0], minlength=vocabulary_size)[:vocabulary_size]
    return (np.log((1.0 + len(bag_ids)) / (1.0 + documents)) + 1.0).astype(np.float32)


def naive_bayes_log_count_ratio(bag_ids, labels, vocabulary_size, smoothing=1.0):
    """The NBSVM weighting (Wang & Manning 2012) of every n-gram id over the training texts'
    `bag_ids` and 0/1 `labels`: `log((p / |p|_1) / (q / |q|_1))`, where `p` (`q`) counts the
    positive (negative) texts containing the n-gram, plus `smoothing`."""
    bag_ids, labels = np.asarray(bag_ids), np.asarray(labels).reshape(-1)

    def texts_containing(rows):
        ids = bag_ids[rows]
        return np.bincount(ids[ids > 0], minlength=vocabulary_size)[:vocabulary_size] + smoothing

    positive, negative = texts_containing(labels == 1), texts_containing(labels == 0)
    return np.log((positive / positive.sum()) / (negative / negative.sum())).astype(np.float32)


def _as_string_array(texts):
    return np.asarray([str(text) for text in texts], dtype=object)


def adapt_vectorizers(vectorizers, texts):
    """Learns the vocabularies from `texts` (the training split only)."""
    dataset = tf.data.Dataset.from_tensor_slices(_as_string_array(texts).astype(str)).batch(ADAPT_BATCH)
    for vectorizer in vectorizers.values():
        vectorizer.adapt(dataset)
    return vectorizers


def vectorize_texts(vectorizers, texts, bag_max_terms=None):
    """`{input_name: array (texts, length)}` for a list of strings (`bag_max_terms`:
    the bag's length, needed when `vectorizers` has a bag)."""
    texts = _as_string_array(texts).astype(str)
    ids = {}
    for name, vectorizer in vectorizers.items():
        if name == NGRAM_BAG:
            ids.update(_bag_arrays(vectorizer, texts, bag_max_terms))
            continue
        chunks = [
            np.asarray(keras.ops.convert_to_numpy(vectorizer(texts[start : start + VECTORIZE_BATCH])))
            for start in range(0, len(texts), VECTORIZE_BATCH)
        ]
        length = vectorizer.get_config()["output_sequence_length"]
        ids[name] = (np.concatenate(chunks) if chunks else np.zeros((0, length))).astype(np.int32)
    return ids


def _bag_arrays(vectorizer, texts, max_terms):
    chunks = [
        bag_of_ngrams(vectorizer(texts[start : start + VECTORIZE_BATCH]), max_terms)
        for start in range(0, len(texts), VECTORIZE_BATCH)
    ] or [bag_of_ngrams(tf.zeros((0, 1)), max_terms)]
    return {name: np.concatenate([chunk[name].numpy() for chunk in chunks]) for name in (BAG_IDS, BAG_COUNTS)}
