"""Engineered numeric features of the Telco billing columns, computed from the raw columns.

With `derived="auto"` and the Telco columns present, the preprocessing
(`apps.churn.preprocessing`) adds, from the raw inputs (so the serving signature
still takes the CSV columns):

* `log_total_charges`: log1p(TotalCharges), the heavy-tailed total on a log scale;
* `log_tenure`: log1p(tenure), churn falls fastest in the first months;
* `charges_drift`: TotalCharges − tenure × MonthlyCharges, how far the current bill
  is from the customer's history (a recent price rise or new services);
* `charges_per_service`: MonthlyCharges / (1 + number of subscribed services), the
  price paid per service.

They go through the same imputation, standardisation and quantile bins as the CSV's
numbers; blank TotalCharges stay missing. TensorFlow, like the rest of the
preprocessing: it runs in the tf.data pipelines and in the serving signature.
"""

from apps.churn.table import CATEGORICAL, NUMERIC

TENURE, MONTHLY, TOTAL = "tenure", "MonthlyCharges", "TotalCharges"
# Columns whose "Yes" means one more subscribed service.
SERVICE_COLUMNS = (
    "PhoneService",
    "MultipleLines",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
)
INTERNET = "InternetService"


def _input_names(columns, kind):
    return {column.name: column.input_name for column in columns if column.kind == kind}


def service_count(inputs, columns):
    """How many services the customer has: each "Yes" service column, plus internet (not "No")."""
    import tensorflow as tf

    categorical = _input_names(columns, CATEGORICAL)
    flags = [tf.equal(inputs[categorical[name]], "Yes") for name in SERVICE_COLUMNS if name in categorical]
    if INTERNET in categorical:
        flags.append(tf.not_equal(inputs[categorical[INTERNET]], "No"))
    return tf.add_n([tf.cast(flag, tf.float32) for flag in flags])


def telco_charge_features(inputs, columns):
    """The engineered billing features (a dict name → (batch,) float32 tensor) from raw
    (batch,) inputs; {} without the Telco tenure / MonthlyCharges / TotalCharges columns."""
    import tensorflow as tf

    numeric = _input_names(columns, NUMERIC)
    if not all(name in numeric for name in (TENURE, MONTHLY, TOTAL)):
        return {}
    tenure, monthly, total = (tf.cast(inputs[numeric[name]], tf.float32) for name in (TENURE, MONTHLY, TOTAL))
    features = {
        "log_total_charges": tf.math.log1p(total),
        "log_tenure": tf.math.log1p(tenure),
        "charges_drift": total - tenure * monthly,
    }
    if any(name in _input_names(columns, CATEGORICAL) for name in SERVICE_COLUMNS):
        features["charges_per_service"] = monthly / (1.0 + service_count(inputs, columns))
    return features


def derived_features(inputs, columns, derived):
    """The derived numeric features that `derived` (`auto` or `none`) asks for."""
    return telco_charge_features(inputs, columns) if derived == "auto" else {}
