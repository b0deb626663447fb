"""Text preprocessing: the standardisation and the adapted `TextVectorization` layers.

Two vectorizers turn raw strings into aligned id sequences of the same length:
`token_ids` (words) and, optionally, `bigram_ids` (the word pair starting at each
position). Both are adapted on the training split only and travel inside the
saved model (`SentimentClassifier`), so the export needs nothing else.
"""

import numpy as np
import tensorflow as tf

import keras

TOKEN_IDS = "token_ids"
BIGRAM_IDS = "bigram_ids"
ADAPT_BATCH = 1024
VECTORIZE_BATCH = 2048


@keras.saving.register_keras_serializable(package="kapps_sentiment")
def standardize_text(texts):
    """Lower-cases, drops HTML line breaks and punctuation; keeps `!`/`?` as words and
    ratings such as `7/10` as one word."""
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
    return vectorizers


def _as_string_array(texts):
    return np.asarray([str(text) for text in texts], dtype=object)


def adapt_vectorizers(vectorizers, texts):
    """Learns the vocabularies from `texts` (the training split only)."""
    dataset = tf.data.Dataset.from_tensor_slices(_as_string_array(texts).astype(str)).batch(ADAPT_BATCH)
    for vectorizer in vectorizers.values():
        vectorizer.adapt(dataset)
    return vectorizers


def vectorize_texts(vectorizers, texts):
    """`{input_name: int32 array (texts, sequence_length)}` for a list of strings."""
    texts = _as_string_array(texts).astype(str)
    ids = {}
    for name, vectorizer in vectorizers.items():
        chunks = [
            np.asarray(keras.ops.convert_to_numpy(vectorizer(texts[start:start + VECTORIZE_BATCH])))
            for start in range(0, len(texts), VECTORIZE_BATCH)
        ]
        length = vectorizer.get_config()["output_sequence_length"]
        ids[name] = (np.concatenate(chunks) if chunks else np.zeros((0, length))).astype(np.int32)
    return ids


def words_of(vectorizers, ids):
    """The words behind one row of token ids (padding dropped)."""
    vocabulary = vectorizers[TOKEN_IDS].get_vocabulary()
    return [vocabulary[index] for index in ids if index != 0]
