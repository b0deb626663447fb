"""Which hyperparameters move the objective most, from the completed trials.

A rough, model-free score in [0, 1] per hyperparameter:

* categorical values (strings, booleans, few distinct numbers): the share of the
  objective's variance explained by the groups (correlation ratio, eta squared);
* numbers: the squared Spearman rank correlation with the objective (monotone
  effects, any scale: log-sampled learning rates need no transform).

With a handful of trials these are hints, not measurements.
"""

import numpy as np

from tuner.report import completed, hyperparameter_names

MIN_TRIALS = 5
MAX_CATEGORIES_FOR_NUMBERS = 3


def is_numeric(values):
    return all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values)


def correlation_ratio(categories, objective):
    objective = np.asarray(objective, dtype=float)
    total = np.sum((objective - objective.mean()) ** 2)
    if total == 0:
        return 0.0
    between = 0.0
    for category in set(categories):
        members = objective[[value == category for value in categories]]
        between += len(members) * (members.mean() - objective.mean()) ** 2
    return float(between / total)


def _ranks(values):
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    values = np.asarray(values)
    for value in np.unique(values):  # ties share their mean rank
        ranks[values == value] = ranks[values == value].mean()
    return ranks


def squared_rank_correlation(numbers, objective):
    x, y = _ranks(np.asarray(numbers, float)), _ranks(np.asarray(objective, float))
    if x.std() == 0 or y.std() == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1] ** 2)


def importance_of(values, objective):
    if len(set(values)) < 2:
        return 0.0
    if is_numeric(values) and len(set(values)) > MAX_CATEGORIES_FOR_NUMBERS:
        return squared_rank_correlation(values, objective)
    return correlation_ratio([str(value) for value in values], objective)


def hyperparameter_importance(records):
    """`{name: score}`, most important first; {} with fewer than MIN_TRIALS completed trials."""
    scored = completed(records)
    if len(scored) < MIN_TRIALS:
        return {}
    objective = [record["objective"] for record in scored]
    scores = {}
    for name in hyperparameter_names(scored):
        present = [
            (record["hyperparameters"][name], value)
            for record, value in zip(scored, objective)
            if name in record["hyperparameters"]
        ]
        if len(present) >= MIN_TRIALS:
            values, targets = zip(*present)
            scores[name] = round(importance_of(list(values), list(targets)), 4)
    return dict(sorted(scores.items(), key=lambda item: -item[1]))


def most_important(records, count=3):
    """The `count` most important hyperparameter names that vary across completed
    trials (in declaration order when there are too few trials to score them)."""
    scores = hyperparameter_importance(records)
    if scores:
        return [name for name, score in scores.items() if score > 0][:count] or list(scores)[:count]
    scored = completed(records)
    varying = [
        name
        for name in hyperparameter_names(scored)
        if len({str(record["hyperparameters"].get(name)) for record in scored}) > 1
    ]
    return varying[:count]
