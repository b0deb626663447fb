"""The churn app's typed config."""

import dataclasses
from typing import ClassVar, Literal

from apps.core.config import OPTIMIZER_CHOICES, AppConfig, PredictInputs

# The default --data: the IBM Telco Customer Churn CSV in the shared datasets folder beside the
# repository; a fresh clone downloads it from TELCO_CSV_URL (or trains on --data builtin).
TELCO_CSV = "../shared/datasets/telco_churn/WA_Fn-UseC_-Telco-Customer-Churn.csv"
TELCO_CSV_URL = (
    "https://raw.githubusercontent.com/IBM/telco-customer-churn-on-icp4d/master/data/Telco-Customer-Churn.csv"
)
CLASS_WEIGHTINGS = ("none", "balanced", "sqrt")
THRESHOLD_METRICS = ("f1", "f2", "youden", "fixed")
BAD_NUMBER_POLICIES = ("error", "impute")
DERIVED_CHOICES = ("auto", "none")
NUMERIC_ENCODINGS = ("piecewise_linear", "one_hot")
MODELS = ("resmlp",)
# Held-out ROC-AUC: what early stopping watches and the app's objective.
OBJECTIVE = "val_auc"
CONSTANT_RATE = "churn's learning rate is constant (early stopping decides when to stop); remove it."


@dataclasses.dataclass
class ChurnConfig(AppConfig):
    """Churn settings; shared fields are documented on `AppConfig`.

    The learning rate is constant (early stopping decides when to stop), so the schedule
    fields `warmup_epochs` and `first_cycle_epochs` are not used; churn has no whole-split
    field metrics and reads no tf.data service either. `validation_fraction` only applies to
    a single network (`ensemble` 1): setting any of these otherwise is an error
    (`unsupported_fields`).

    Attributes:
        data: `files:PATH` (any churn CSV, the default is the IBM Telco file) or
            `builtin` (a generated table with the Telco schema, see README).
        label_column: the column that says whether the customer left.
        positive_label: the label value that means "churned" (every other value: stayed).
        id_column: a column to drop (customer ids carry no signal); "" for none.
        column_types: overrides of the inferred types, e.g.
            `"SeniorCitizen=categorical,tenure=numeric,Notes=ignore"`.
        bad_numbers: what to do with a non-blank value that does not parse in a
            numeric column: `error` (names the row and column) or `impute` (treated
            as missing). Blank values are always imputed.
        crosses: feature crosses of categorical columns, `A*B` pairs separated by
            commas; `auto` uses the Telco crosses when those columns exist; `none`.
        derived: engineered numbers computed from the raw columns (`apps.churn.derived`):
            `auto` adds the Telco billing features when those columns exist; `none`.
        numeric_bins: quantile bins added beside each normalised number; 0: none.
        numeric_encoding: how a number's bins are encoded: `piecewise_linear` (how far the
            value has gone through each bin, `layers.PiecewiseLinearEncoding`: a linear
            model of it is a linear spline) or `one_hot` (which bin it falls in).
        test_fraction: stratified share of the rows held out for the final test.
        validation_fraction: for a single network (`ensemble` 1), the stratified share
            of the remaining rows used to stop training early and to choose the decision
            threshold (an ensemble validates on its folds instead).
        depth: residual dense blocks (`layers.DenseResidualBlock`).
        width: units of each block.
        dropout: dropout inside the blocks and before the head.
        wide: adds a linear (wide) path from the encoded features to the logit.
        ensemble: residual MLPs whose probabilities are averaged inside the model,
            cross-fitted: the non-test rows are cut into `ensemble` stratified folds,
            member i trains on all folds but i and stops early on fold i, and the decision
            threshold is chosen on these out-of-fold predictions (each row predicted by the
            member that never trained on it). 1: a single network.
        class_weighting: `none`, `balanced` (inverse class frequency) or `sqrt`
            (its square root), applied through the loss.
        focal_gamma: focusing parameter of the focal loss; 0 is plain cross-entropy.
        weight_decay: decoupled weight decay (AdamW).
        patience: epochs without a better validation ROC-AUC before stopping.
        threshold_metric: how the decision threshold is chosen on validation data:
            `f1`, `f2` (recall-weighted), `youden` (TPR - FPR) or `fixed` (0.5).
        builtin_rows: rows of the generated table (`--data builtin`).
    """

    data: str = f"files:{TELCO_CSV}"
    model: Literal[MODELS] = "resmlp"
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 1e-3
    optimizer: Literal[OPTIMIZER_CHOICES] = "adamw"
    validation_fraction: float = 0.2
    label_column: str = "Churn"
    positive_label: str = "Yes"
    id_column: str = "customerID"
    column_types: str = ""
    bad_numbers: Literal[BAD_NUMBER_POLICIES] = "error"
    crosses: str = "auto"
    derived: Literal[DERIVED_CHOICES] = "none"
    numeric_bins: int = 16
    numeric_encoding: Literal[NUMERIC_ENCODINGS] = "piecewise_linear"
    test_fraction: float = 0.2
    depth: int = 1
    width: int = 32
    dropout: float = 0.5
    wide: bool = True
    ensemble: int = 5
    class_weighting: Literal[CLASS_WEIGHTINGS] = "none"
    focal_gamma: float = 0.0
    weight_decay: float = 1e-2
    patience: int = 8
    threshold_metric: Literal[THRESHOLD_METRICS] = "f1"
    builtin_rows: int = 7043

    UNSUPPORTED_FIELDS: ClassVar[dict] = {
        "warmup_epochs": CONSTANT_RATE,
        "first_cycle_epochs": CONSTANT_RATE,
        "field_metrics_every": "the churn app computes no whole-split metrics; remove it.",
        "field_metrics_examples": "the churn app computes no whole-split metrics; remove it.",
        "data_service": "the churn app trains from its in-memory table (cross-fitted folds), not from a tf.data "
        "pipeline; a churn table needs no input service.",
    }
    # `kapps churn predict` (apps.cli): what an INPUT is; `ChurnApp.request_from_cli` follows it.
    PREDICT_INPUTS: ClassVar[PredictInputs] = PredictInputs(
        "customers: a UTF-8 CSV file (a header row with the training table's columns, then one row per "
        "customer) or one customer as a JSON object '{\"column\": value, ...}'"
    )

    def __post_init__(self):
        _check_choice("class_weighting", self.class_weighting, CLASS_WEIGHTINGS)
        _check_choice("threshold_metric", self.threshold_metric, THRESHOLD_METRICS)
        _check_choice("bad_numbers", self.bad_numbers, BAD_NUMBER_POLICIES)
        _check_choice("derived", self.derived, DERIVED_CHOICES)
        _check_choice("numeric_encoding", self.numeric_encoding, NUMERIC_ENCODINGS)
        _check_choice("model", self.model, MODELS)
        if not self.label_column:
            raise ValueError("label_column must name the label column of the table.")
        if self.depth < 0 or self.width < 1 or self.ensemble < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError(
                f"depth must be >= 0 and width, ensemble, epochs, batch_size positive, got "
                f"{self.depth}, {self.width}, {self.ensemble}, {self.epochs}, {self.batch_size}."
            )
        if not 0 < self.test_fraction < 1 or not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"test_fraction and validation_fraction must be in (0, 1), got "
                f"{self.test_fraction} and {self.validation_fraction}."
            )

    def unsupported_fields(self):
        unsupported = super().unsupported_fields()
        if self.ensemble > 1:
            unsupported["validation_fraction"] = (
                "a cross-fitted ensemble validates each member on its own fold; use it with --ensemble 1, or remove it."
            )
        return unsupported


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")
