"""Sentiment evaluation: accuracy, precision, recall, F1, ROC-AUC, learning curves, the most
confident mistakes and an attention heat map of one review."""

import re

import keras
import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from apps.core.classification import binary_metrics
from apps.core.plots import plot_learning_curves
from apps.core.tensorboard import write_pr_curve
from apps.sentiment.data import id_pipeline
from apps.sentiment.decode import decode_predictions
from apps.sentiment.model import ENCODER_BLOCK_PREFIX
from apps.sentiment.text import TOKEN_IDS, vectorize_texts

MISTAKES_SHOWN = 8
EXCERPT_CHARS = 160
HEAT_MAP_WORDS = 160
# The heat map's colours run from 2^-N to 2^N times uniform attention (N up to this; beyond, the ends).
MAX_RELATIVE_OCTAVES = 6
MIN_HEAT_MAP_COLUMNS = 60


# ----- mistakes --------------------------------------------------------------------------
def excerpt(text, limit=EXCERPT_CHARS):
    text = re.sub(r"\s+", " ", re.sub(r"<br\s*/?>", " ", str(text))).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def most_confident_mistakes(texts, labels, probabilities, decisions, count=MISTAKES_SHOWN):
    """The wrong decisions made with the highest probability, most confident first."""
    labels, decisions = np.asarray(labels).astype(int), np.asarray(decisions).astype(int)
    probabilities = np.asarray(probabilities, dtype=float)
    wrong = np.flatnonzero(decisions != labels)
    confidence = np.where(decisions == 1, probabilities, 1.0 - probabilities)[wrong]
    chosen = wrong[np.argsort(-confidence, kind="stable")][:count]
    return [
        {"index": int(i), "label": int(labels[i]), "probability": float(probabilities[i]), "text": excerpt(texts[i])}
        for i in chosen
    ]


def mistakes_markdown(mistakes, class_names):
    lines = ["| # | true | P(positive) | review |", "| ---: | --- | ---: | --- |"]
    for rank, mistake in enumerate(mistakes, 1):
        text = mistake["text"].replace("|", "\\|")
        lines.append(f"| {rank} | {class_names[mistake['label']]} | {mistake['probability']:.3f} | {text} |")
    return "\n".join(lines) + "\n"


# ----- attention -------------------------------------------------------------------------
def _layer_named(model, prefix):
    return next((layer for layer in model.layers if layer.name.startswith(prefix)), None)


def _layer_inputs(classifier, layer, ids):
    """The tensors `layer` receives inside `classifier` for `ids`, as a list."""
    inputs = keras.Model(classifier.inputs, layer.input)(ids)
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


def _pooled_mask(classifier, token_ids):
    """The padding mask at the resolution the attention sees (after chunk pooling)."""
    limit = classifier.get_layer("limit_token_ids")
    mask = keras.ops.not_equal(limit(token_ids), 0)
    pooling = _layer_named(classifier, "chunk_pooling")
    return pooling.compute_mask(None, mask) if pooling is not None else mask


def attention_weights(model, text):
    """`(words, weight per word)`: how much attention each word of `text` receives.

    Transformer: the first encoder block's attention probabilities, averaged over
    heads and (valid) query positions. Recurrent: the additive attention pooling
    weights. With chunk pooling a weight covers `pool_size` neighbouring words.
    """
    classifier = model.classifier
    ids = vectorize_texts(model.vectorizers, [text], model.bag_max_terms)
    token_ids = keras.ops.convert_to_tensor(ids[TOKEN_IDS])
    mask = _pooled_mask(classifier, token_ids)
    block = _layer_named(classifier, ENCODER_BLOCK_PREFIX)
    if block is not None:
        features = _layer_inputs(classifier, block, ids)[0]
        _, scores = block(features, padding_mask=mask, return_attention_scores=True)
        scores = keras.ops.convert_to_numpy(scores)[0].mean(axis=0)  # (queries, keys)
        valid = keras.ops.convert_to_numpy(mask)[0]
        weights = scores[valid].mean(axis=0) if valid.any() else scores.mean(axis=0)
    else:
        attention = classifier.get_layer("attention_pooling")
        query, values = _layer_inputs(classifier, attention, ids)[:2]
        _, weights = attention([query, values], mask=[None, mask], return_attention_scores=True)
        weights = keras.ops.convert_to_numpy(weights)[0]
    vocabulary = model.token_vectorizer.get_vocabulary()
    limit = classifier.get_layer("limit_token_ids").sequence_length
    words = [vocabulary[index] for index in ids[TOKEN_IDS][0][:limit] if index != 0]
    pooling = _layer_named(classifier, "chunk_pooling")
    pool_size = pooling.pool_size if pooling is not None else 1
    per_word = np.array([weights[min(position // pool_size, len(weights) - 1)] for position in range(len(words))])
    return words, per_word


def plot_attention_heat_map(words, weights, path, title, width_chars=95):
    """The words laid out as text, each on a background coloured by its weight relative to
    uniform attention (weight × number of words: 1 = an even share, white; above, warmer; below,
    cooler), the canvas cropped to the text; the colour bar gives the weights' range."""
    import matplotlib.pyplot as plt
    from matplotlib import cm, colors

    words, weights = list(words)[:HEAT_MAP_WORDS], np.asarray(weights, float)[:HEAT_MAP_WORDS]
    lines, line, used = [], [], 0
    for word, weight in zip(words, weights):
        if used + len(word) + 1 > width_chars and line:
            lines.append(line)
            line, used = [], 0
        line.append((word, weight, used))
        used += len(word) + 1
    lines.append(line)
    relative = weights * len(weights) if len(weights) else weights
    spread = float(np.max(np.abs(np.log2(np.maximum(relative, 1e-12))))) if len(relative) else 1.0
    spread = int(np.clip(np.ceil(spread), 1, MAX_RELATIVE_OCTAVES))
    norm = colors.LogNorm(vmin=2.0**-spread, vmax=2.0**spread)
    colour_map = plt.colormaps["RdBu_r"]
    columns = max((column + len(word) for entries in lines for word, _, column in entries), default=1)
    columns = max(columns, MIN_HEAT_MAP_COLUMNS)  # room for the title; text starts at the left
    figure, axis = plt.subplots(figsize=(1.9 + 0.077 * columns, 1.3 + 0.28 * len(lines)))
    axis.set_xlim(0, columns)
    axis.set_ylim(len(lines) - 0.5, -0.5)
    axis.axis("off")
    for row, entries in enumerate(lines):
        for word, weight, column in entries:
            shade = float(norm(weight * len(weights)))
            axis.text(
                column,
                row,
                word,
                family="monospace",
                fontsize=9,
                va="center",
                color="white" if abs(shade - 0.5) > 0.3 else "black",
                bbox={"facecolor": colour_map(shade), "edgecolor": "none", "pad": 1.2},
            )
    low, high = (float(weights.min()), float(weights.max())) if len(weights) else (0.0, 0.0)
    bar = figure.colorbar(
        cm.ScalarMappable(norm=norm, cmap=colour_map),
        ax=axis,
        fraction=0.04,
        pad=0.01,
        label=f"× uniform (1/{len(weights)})",
    )
    ticks = 2.0 ** np.arange(-spread, spread + 1, max(1, spread // 3))
    bar.set_ticks(ticks, labels=[f"{tick:g}" if tick >= 1 else f"1/{1 / tick:g}" for tick in ticks])
    bar.minorticks_off()
    axis.set_title(
        f"{title}\nweights {low:.4g} to {high:.4g}; uniform would be {1 / max(1, len(weights)):.4g}", fontsize=9
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_roc(labels, probabilities, path, title):
    import matplotlib.pyplot as plt

    false_positive, true_positive, _ = roc_curve(labels, probabilities)
    figure, axis = plt.subplots(figsize=(4.2, 4))
    axis.plot(false_positive, true_positive, label=f"AUC {roc_auc_score(labels, probabilities):.3f}")
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axis.set_xlabel("false positive rate")
    axis.set_ylabel("true positive rate")
    axis.set_title(title)
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# ----- the app's evaluate ----------------------------------------------------------------
def vectorized_test_split(model, data, config):
    """The test split as `model` reads it. A model reloaded from its `.keras` file has its
    own vocabularies, not those `data` was just adapted with (`kapps sentiment evaluate
    --data ...` may even name other data): then the test texts are vectorized again."""
    if model.token_vectorizer is data.info.vectorizers[TOKEN_IDS]:
        return data.test
    ids = vectorize_texts(model.vectorizers, data.info.test_texts, model.bag_max_terms)
    return id_pipeline(ids, data.info.test_labels, config)


def _heat_map_review(texts, labels):
    """A short-ish review (≤ 150 words when there is one) to render."""
    lengths = np.array([len(str(text).split()) for text in texts])
    short = np.flatnonzero((lengths >= 5) & (lengths <= 150))
    return int(short[0]) if len(short) else 0


def evaluate_sentiment(model, data, config, run):
    """Metrics of the decoded answers on the test split, the plots and the confident mistakes."""
    probabilities = model.predict(vectorized_test_split(model, data, config), verbose=0).reshape(-1)
    decisions = keras.ops.convert_to_numpy(decode_predictions(probabilities)["label"])
    texts, labels = data.info.test_texts, np.asarray(data.info.test_labels).astype(int)
    metrics = {"split": "test", "examples": int(len(labels)), **binary_metrics(labels, probabilities, decisions)}
    plots = []
    history = run.load_history()
    if history:
        plots.append(plot_learning_curves(history, run.plot_path("learning_curves"), f"sentiment ({config.model})"))
    if len(np.unique(labels)) == 2:
        plots.append(plot_roc(labels, probabilities, run.plot_path("roc_curve"), "ROC (test)"))
    write_pr_curve(run, labels, probabilities)
    mistakes = most_confident_mistakes(texts, labels, probabilities, decisions)
    metrics["confident_mistakes"] = mistakes
    (run.path / "confident_mistakes.md").write_text(mistakes_markdown(mistakes, data.class_names))
    index = _heat_map_review(texts, labels)
    words, weights = attention_weights(model, str(texts[index]))
    title = (
        f"Attention over test review {index} (true {data.class_names[labels[index]]}, "
        f"P(positive) {probabilities[index]:.2f}, {config.model})"
    )
    plots.append(plot_attention_heat_map(words, weights, run.plot_path("attention"), title))
    metrics["plots"] = [str(path) for path in plots]
    return metrics
