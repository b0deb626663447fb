"""Customer churn: a residual MLP over a churn table (IBM Telco CSV or any churn CSV)."""

from apps.churn.app import ChurnApp

__all__ = ["ChurnApp"]
