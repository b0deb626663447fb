"""The `builtin` source: a small generated review corpus (not real reviews).

Every sentence is generated from templates. Labels depend on negation and word
order, so a bag of words cannot solve it:

- "the acting was not good" is negative, "the acting was not bad" positive
  (an XOR of adjective and negation, which no linear unigram model separates);
- "the plot was great but the ending was awful" is negative while "the ending
  was awful but the plot was great" is positive: the same words, and the label
  follows the clause after "but" (or before "although").
"""

import random

import numpy as np

ASPECTS = (
    "plot",
    "acting",
    "story",
    "soundtrack",
    "cast",
    "script",
    "ending",
    "direction",
    "dialogue",
    "photography",
    "pacing",
    "humour",
)
POSITIVE_WORDS = ("great", "good", "wonderful", "brilliant", "superb", "moving", "clever", "gripping")
NEGATIVE_WORDS = ("bad", "awful", "terrible", "boring", "dull", "weak", "clumsy", "tedious")
NEGATIONS = ("not", "never")
OPENERS = ("", "", "honestly", "i think", "in my opinion", "to be fair", "frankly")
FILLERS = ("", "", "at times", "overall", "for the most part", "in places")
TRAIN_SIZE = 4000
TEST_SIZE = 1000
TRAIN_SEED, TEST_SEED = 11, 12


def _words(*parts):
    return " ".join(part for part in parts if part)


def _clause(rng, polarity):
    """'the <aspect> was [not] <adjective> [filler]' whose meaning has `polarity` (1/0)."""
    negated = rng.random() < 0.5
    adjective_polarity = polarity ^ int(negated)
    adjective = rng.choice(POSITIVE_WORDS if adjective_polarity else NEGATIVE_WORDS)
    negation = rng.choice(NEGATIONS) if negated else ""
    return _words("the", rng.choice(ASPECTS), "was", negation, adjective, rng.choice(FILLERS))


def _single_clause_review(rng, label):
    return _words(rng.choice(OPENERS), _clause(rng, label))


def _contrast_review(rng, label):
    """Two clauses of opposite polarity; the label is the main clause's."""
    main, other = _clause(rng, label), _clause(rng, 1 - label)
    if rng.random() < 0.5:
        return _words(rng.choice(OPENERS), other, "but", main)
    return _words(rng.choice(OPENERS), main, "although", other)


def generate_reviews(count, seed):
    """`(texts, labels)`: `count` generated reviews, half positive, in random order."""
    rng = random.Random(seed)
    texts, labels = [], []
    for index in range(count):
        label = index % 2
        make = _single_clause_review if rng.random() < 0.4 else _contrast_review
        texts.append(make(rng, label))
        labels.append(label)
    order = np.random.default_rng(seed).permutation(count)
    return np.asarray(texts, dtype=object)[order], np.asarray(labels, dtype=np.int64)[order]


def builtin_corpus():
    """The fixed generated train (4,000) and test (1,000) reviews."""
    return generate_reviews(TRAIN_SIZE, TRAIN_SEED), generate_reviews(TEST_SIZE, TEST_SEED)
