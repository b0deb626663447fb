"""Engineered numeric features of the Telco billing columns, computed inside the model.

With `derived="auto"` and the Telco columns present, the model adds, from the raw
inputs (so the serving signature still takes the CSV columns):

* `log_total_charges`: log1p(TotalCharges), the heavy-tailed total on a log scale;
* `log_tenure`: log1p(tenure), churn falls fastest in the first months;
* `charges_drift`: TotalCharges − tenure × MonthlyCharges, how far the current bill
  is from the customer's history (a recent price rise or new services);
* `charges_per_service`: MonthlyCharges / (1 + number of subscribed services), the
  price paid per service.

They go through the same imputation, `Normalization` and quantile bins as the CSV's
numbers (`apps.churn.preprocessing.encode_numeric`); blank TotalCharges stay missing.
"""

import keras
import numpy as np
import tensorflow as tf

from apps.churn.table import CATEGORICAL, NUMERIC

TENURE, MONTHLY, TOTAL = "tenure", "MonthlyCharges", "TotalCharges"
# Columns whose "Yes" means one more subscribed service.
SERVICE_COLUMNS = ("PhoneService", "MultipleLines", "OnlineSecurity", "OnlineBackup",
                   "DeviceProtection", "TechSupport", "StreamingTV", "StreamingMovies")
INTERNET = "InternetService"


def _numeric(columns):
    return {column.name: column.input_name for column in columns if column.kind == NUMERIC}


def _categorical(columns):
    return {column.name: column.input_name for column in columns if column.kind == CATEGORICAL}


def service_count(inputs, columns):
    """How many services the customer has: each "Yes" service column, plus internet (not "No")."""
    categorical = _categorical(columns)
    flags = []
    for name in SERVICE_COLUMNS:
        if name in categorical:
            # Index 1 for "Yes", 0 (the OOV bucket) for anything else.
            yes = keras.layers.StringLookup(vocabulary=["Yes"], num_oov_indices=1, output_mode="int",
                                            name=f"derived_{name}_yes")
            flags.append(yes(inputs[categorical[name]]))
    if INTERNET in categorical:
        no_internet = keras.layers.StringLookup(vocabulary=["No"], num_oov_indices=1, output_mode="int",
                                                name="derived_internet_no")
        flags.append(1 - no_internet(inputs[categorical[INTERNET]]))
    return sum(keras.ops.cast(flag, "float32") for flag in flags)


def telco_charge_features(inputs, columns):
    """The engineered billing features (a dict name → (batch, 1) float tensor); {} without
    the Telco tenure / MonthlyCharges / TotalCharges columns."""
    numeric = _numeric(columns)
    if not all(name in numeric for name in (TENURE, MONTHLY, TOTAL)):
        return {}
    tenure, monthly, total = (keras.ops.cast(inputs[numeric[name]], "float32") for name in (TENURE, MONTHLY, TOTAL))
    features = {
        "log_total_charges": keras.ops.log1p(total),
        "log_tenure": keras.ops.log1p(tenure),
        "charges_drift": total - tenure * monthly,
    }
    if any(name in _categorical(columns) for name in SERVICE_COLUMNS):
        features["charges_per_service"] = monthly / (1.0 + service_count(inputs, columns))
    return features


def derived_features(inputs, columns, derived):
    """The derived numeric features that `derived` (`auto` or `none`) asks for, from model
    inputs (symbolic) or from arrays (n, 1) of a split (eager, to adapt their encoders)."""
    return telco_charge_features(inputs, columns) if derived == "auto" else {}


def derived_training_values(columns, train_features, derived):
    """The derived features of the training split, as numpy arrays (n,), NaN where missing."""
    arrays = {name: np.asarray(values).reshape(-1, 1) for name, values in train_features.items()}
    tensors = {name: tf.constant(values.astype(str) if values.dtype == object else values)
               for name, values in arrays.items()}
    return {name: keras.ops.convert_to_numpy(value).reshape(-1)
            for name, value in derived_features(tensors, columns, derived).items()}
