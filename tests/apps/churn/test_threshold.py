"""The decision threshold is chosen on validation data by a metric."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from apps.churn.threshold import choose_threshold


def test_f1_threshold_on_a_small_example():
    labels = np.array([0, 0, 1, 0, 1, 1])
    probabilities = np.array([0.1, 0.2, 0.3, 0.4, 0.8, 0.9])
    # p >= 0.3 predicts four churners, three right: F1 = 6/7, the best here.
    assert choose_threshold(labels, probabilities, "f1") == pytest.approx(0.3)
    assert choose_threshold(labels, probabilities, "fixed") == 0.5


def test_youden_threshold_maximises_tpr_minus_fpr():
    labels = np.array([0, 0, 1, 1, 0, 1])
    probabilities = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.9])
    # p >= 0.3: TPR 1, FPR 1/3; every other cut is worse.
    assert choose_threshold(labels, probabilities, "youden") == pytest.approx(0.3)


def test_f2_prefers_recall():
    labels = np.array([1, 0, 0, 1, 0, 1, 1])
    probabilities = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.8, 0.9])
    assert choose_threshold(labels, probabilities, "f2") <= choose_threshold(labels, probabilities, "f1")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=2, max_size=40))
def test_f1_threshold_is_the_best_candidate(rows):
    labels = np.array([label for label, _ in rows], dtype=int)
    probabilities = np.array([probability for _, probability in rows])
    if labels.min() == labels.max():
        assert choose_threshold(labels, probabilities, "f1") == 0.5
        return
    chosen = choose_threshold(labels, probabilities, "f1")
    assert chosen in probabilities
    best = f1_score(labels, probabilities >= chosen)
    assert all(best >= f1_score(labels, probabilities >= t) - 1e-12 for t in probabilities)
