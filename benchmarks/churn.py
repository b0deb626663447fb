"""Churn benchmark: the residual MLP against logistic regression on the same splits.

    python benchmarks/churn.py --data files:../shared/datasets/telco_churn/WA_Fn-UseC_-Telco-Customer-Churn.csv

For each seed, the table is split stratified 80/20 (the app's own split, seeded);
the model trains as `kapps churn train` does (by default a cross-fitted ensemble:
member i trains on four of five folds of the 80% and stops early on the fifth; a
single network, `--ensemble 1`, trains on the 80% minus its validation share),
logistic regression on the whole 80%; both are scored on the 20%.
The seeds are 0, 1, 2, ... (fixed in advance, not chosen by result). Any ChurnConfig
field can be overridden (`--depth 2 --width 64`).
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def parse_args(argv=None):
    """The benchmark's flags plus one `--field-name` flag per `ChurnConfig` field."""
    from apps.churn.config import ChurnConfig
    from apps.core.config import add_config_arguments

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser, ChurnConfig)
    parser.set_defaults(config__data="builtin")
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (splits)")
    parser.add_argument("--first-seed", type=int, default=0)
    return parser.parse_args(argv)


def logistic_regression_auc(train, test):
    """ROC-AUC of a standard logistic regression: median-imputed standardised numbers, one-hot categories."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from apps.churn.table import NUMERIC

    numeric = [column.input_name for column in train.columns if column.kind == NUMERIC]
    categorical = [column.input_name for column in train.columns if column.kind != NUMERIC]
    encode = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("categories", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=5000))
    model.fit(pd.DataFrame(train.features), train.labels)
    return roc_auc_score(test.labels, model.predict_proba(pd.DataFrame(test.features))[:, 1])


def mlp_auc(app, table, config):
    """Test ROC-AUC of the model trained as `kapps churn train` trains it (`App.train`)."""
    import keras
    from sklearn.metrics import roc_auc_score

    from apps.churn.data import make_splits
    from apps.churn.evaluation import decoded_predictions

    keras.utils.set_random_seed(config.seed)
    data = make_splits(table, config)
    model = app.build_model(config, data)
    app.train(model, data, config)
    test = data.info.test_table
    return roc_auc_score(test.labels, decoded_predictions(model, test, app.decode_predictions)["churn_probability"])


def split_for_baseline(table, config):
    from apps.churn.table import stratified_split_indices

    train, validation, test = stratified_split_indices(
        table.labels, config.test_fraction, config.validation_fraction, config.seed
    )
    return table.subset(np.sort(np.r_[train, validation])), table.subset(test)


def main(argv=None):
    args = parse_args(argv)
    import keras

    from apps.catalog import load_apps
    from apps.churn.data import load_table
    from apps.core.config import overrides_from_args

    keras.config.disable_interactive_logging()  # per-epoch lines go to absl logging, hidden
    app = load_apps().get("churn")
    base = app.default_config().replace(**overrides_from_args(args)).validate()
    table = load_table(base)
    print(f"{table.source}: {len(table)} rows, churn rate {table.labels.mean():.3f}")
    print(
        f"model: ensemble={base.ensemble} depth={base.depth} width={base.width} dropout={base.dropout} "
        f"wide={base.wide} numeric_bins={base.numeric_bins} ({base.numeric_encoding}) "
        f"class_weighting={base.class_weighting} lr={base.learning_rate} epochs<={base.epochs}"
    )
    results = {"mlp": [], "logreg": []}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        config = base.replace(seed=seed)
        started = time.time()
        train, test = split_for_baseline(table, config)
        results["logreg"].append(logistic_regression_auc(train, test))
        results["mlp"].append(mlp_auc(app, table, config))
        print(
            f"seed {seed}: residual MLP ROC-AUC {results['mlp'][-1]:.4f}   logistic regression "
            f"{results['logreg'][-1]:.4f}   ({time.time() - started:.0f}s)",
            flush=True,
        )
    for name, label in (("mlp", "residual MLP"), ("logreg", "logistic regression")):
        scores = np.array(results[name])
        print(f"{label:<20} ROC-AUC {scores.mean():.4f} ± {scores.std():.4f}  (n={len(scores)} splits)")
    return results


if __name__ == "__main__":
    main()
