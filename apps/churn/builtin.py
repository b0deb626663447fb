"""A generated churn table with the IBM Telco schema and a documented churn process.

The generating process (also in `apps/churn/README.md`):

1. Demographics: gender 50/50 (no effect on churn), SeniorCitizen 16%, Partner 48%,
   Dependents 30% with a partner, 10% without.
2. Contract: month-to-month 55%, one year 21%, two year 24%. Tenure (months, 0-72)
   follows the contract: exponential with mean 18 (month-to-month), 40 (one year)
   or 56 (two year), rounded up and clipped to 1-72; 0.2% are new customers (tenure 0).
3. Services: PhoneService 90% (MultipleLines 45% of those); InternetService fiber
   optic 44%, DSL 34%, none 22%; each of the six add-ons (OnlineSecurity,
   OnlineBackup, DeviceProtection, TechSupport, StreamingTV, StreamingMovies) with
   its own rate, "No internet service" without internet.
4. Billing: PaperlessBilling 59%; PaymentMethod electronic check 34%, mailed check
   23%, bank transfer 22%, credit card 21%. MonthlyCharges = 20 + 5·phone +
   5·multiple lines + 25 DSL / 50 fiber + 5 per protection add-on + 10 per streaming
   add-on + N(0, 2). TotalCharges = tenure · MonthlyCharges · U(0.9, 1.1), and blank
   (" ") when tenure is 0, like the 11 blank rows of the real file.
5. Churn ~ Bernoulli(sigmoid(z)) with
   z = b + 1.0·month-to-month − 1.1·two-year − 0.6·ln(1 + tenure) + 0.6·fiber
       + 0.5·fiber·month-to-month + 0.45·electronic check + 0.3·paperless
       + 0.3·senior − 0.45·online security − 0.4·tech support − 0.2·partner
       + 0.01·(MonthlyCharges − 65),
   where b = −0.5 puts the churn rate near the real 26.5%.
"""

import numpy as np
import pandas as pd

TELCO_COLUMNS = (
    "customerID",
    "gender",
    "SeniorCitizen",
    "Partner",
    "Dependents",
    "tenure",
    "PhoneService",
    "MultipleLines",
    "InternetService",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
    "MonthlyCharges",
    "TotalCharges",
    "Churn",
)
TELCO_NUMERIC_COLUMNS = ("SeniorCitizen", "tenure", "MonthlyCharges", "TotalCharges")
CONTRACTS = ("Month-to-month", "One year", "Two year")
CONTRACT_SHARES = (0.55, 0.21, 0.24)
TENURE_MEANS = (18.0, 40.0, 56.0)
INTERNET = ("Fiber optic", "DSL", "No")
INTERNET_SHARES = (0.44, 0.34, 0.22)
PAYMENTS = ("Electronic check", "Mailed check", "Bank transfer (automatic)", "Credit card (automatic)")
PAYMENT_SHARES = (0.34, 0.23, 0.22, 0.21)
ADD_ON_RATES = {
    "OnlineSecurity": 0.37,
    "OnlineBackup": 0.44,
    "DeviceProtection": 0.44,
    "TechSupport": 0.37,
    "StreamingTV": 0.49,
    "StreamingMovies": 0.50,
}
STREAMING = ("StreamingTV", "StreamingMovies")
CHURN_INTERCEPT = -0.5
NEW_CUSTOMER_SHARE = 0.002


def _yes_no(flags):
    return np.where(flags, "Yes", "No")


def _customer_ids(rng, rows):
    digits = rng.integers(0, 10_000, rows)
    letters = rng.integers(ord("A"), ord("Z") + 1, (rows, 5))
    return [f"{number:04d}-{''.join(map(chr, code))}" for number, code in zip(digits, letters)]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def churn_logit(table):
    """Step 5 of the documented process, from the generated columns."""
    month_to_month = table["Contract"] == "Month-to-month"
    fiber = table["InternetService"] == "Fiber optic"
    return (
        CHURN_INTERCEPT
        + 1.0 * month_to_month
        - 1.1 * (table["Contract"] == "Two year")
        - 0.6 * np.log1p(table["tenure"])
        + 0.6 * fiber
        + 0.5 * (fiber & month_to_month)
        + 0.45 * (table["PaymentMethod"] == "Electronic check")
        + 0.3 * (table["PaperlessBilling"] == "Yes")
        + 0.3 * table["SeniorCitizen"]
        - 0.45 * (table["OnlineSecurity"] == "Yes")
        - 0.4 * (table["TechSupport"] == "Yes")
        - 0.2 * (table["Partner"] == "Yes")
        + 0.01 * (table["MonthlyCharges"] - 65.0)
    )


def _services(rng, rows):
    phone = rng.random(rows) < 0.9
    multiple = phone & (rng.random(rows) < 0.45)
    internet = rng.choice(INTERNET, rows, p=INTERNET_SHARES)
    has_internet = internet != "No"
    columns = {
        "PhoneService": _yes_no(phone),
        "MultipleLines": np.where(phone, _yes_no(multiple), "No phone service"),
        "InternetService": internet,
    }
    monthly = (
        20.0
        + 5.0 * phone
        + 5.0 * multiple
        + np.select([internet == "DSL", internet == "Fiber optic"], [25.0, 50.0], 0.0)
    )
    for name, rate in ADD_ON_RATES.items():
        taken = has_internet & (rng.random(rows) < rate)
        columns[name] = np.where(has_internet, _yes_no(taken), "No internet service")
        monthly = monthly + (10.0 if name in STREAMING else 5.0) * taken
    monthly = np.maximum(18.25, monthly + rng.normal(0.0, 2.0, rows))
    return columns, np.round(monthly, 2)


def generate_telco_frame(rows, seed=0):
    """A typed frame with the Telco columns (TotalCharges NaN at tenure 0) and churn labels."""
    rng = np.random.default_rng(seed)
    partner = rng.random(rows) < 0.48
    contract_index = rng.choice(len(CONTRACTS), rows, p=CONTRACT_SHARES)
    tenure = np.clip(np.ceil(rng.exponential(np.take(TENURE_MEANS, contract_index))), 1, 72).astype(int)
    tenure = np.where(rng.random(rows) < NEW_CUSTOMER_SHARE, 0, tenure)
    services, monthly = _services(rng, rows)
    table = pd.DataFrame(
        {
            "customerID": _customer_ids(rng, rows),
            "gender": rng.choice(["Female", "Male"], rows),
            "SeniorCitizen": (rng.random(rows) < 0.16).astype(int),
            "Partner": _yes_no(partner),
            "Dependents": _yes_no(rng.random(rows) < np.where(partner, 0.3, 0.1)),
            "tenure": tenure,
            **services,
            "Contract": np.take(CONTRACTS, contract_index),
            "PaperlessBilling": _yes_no(rng.random(rows) < 0.59),
            "PaymentMethod": rng.choice(PAYMENTS, rows, p=PAYMENT_SHARES),
            "MonthlyCharges": monthly,
        }
    )
    total = np.round(tenure * monthly * rng.uniform(0.9, 1.1, rows), 2)
    table["TotalCharges"] = np.where(tenure == 0, np.nan, total)
    churned = rng.random(rows) < _sigmoid(churn_logit(table))
    table["Churn"] = _yes_no(churned)
    return table[list(TELCO_COLUMNS)]


def as_csv_text(frame):
    """The frame as the strings a CSV would hold (missing TotalCharges: a single space)."""
    text = frame.astype(object).where(frame.notna(), " ")
    return text.map(
        lambda value: value if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)
    )


def generate_telco_table(rows, seed=0):
    """The generated table as a frame of strings, exactly like a read Telco CSV."""
    return as_csv_text(generate_telco_frame(rows, seed))
