"""Churn data: the default `--data` when the Telco CSV is not beside the repository."""

import pytest

from apps.churn.config import TELCO_CSV_URL, ChurnConfig
from apps.churn.data import load_table


def test_the_default_csv_missing_says_where_to_download_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a fresh clone: no ../shared/datasets
    with pytest.raises(FileNotFoundError) as error:
        load_table(ChurnConfig())
    assert TELCO_CSV_URL in str(error.value) and "--data builtin" in str(error.value)
