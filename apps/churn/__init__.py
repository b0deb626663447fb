"""Customer churn: a residual MLP over a churn table (IBM Telco CSV or any churn CSV)."""
