"""The FID instrument: trained apart from the GAN, keyed by the dataset's contents, cached, warned about when weak."""

import pytest

from apps.core.data import DataSource
from apps.dcgan import instrument
from tests.apps.dcgan.conftest import tiny_config


def test_the_identity_of_a_folder_follows_its_contents(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"one")
    source = DataSource("files", str(tmp_path))
    first = instrument.dataset_identity(source)
    assert instrument.dataset_identity(source) == first
    (tmp_path / "a" / "x.png").write_bytes(b"two")
    assert instrument.dataset_identity(source) != first


def test_the_key_ignores_the_runs_settings_and_follows_the_classifiers():
    source, config = DataSource("builtin"), tiny_config()
    key = instrument.instrument_key(source, config)
    run_changes = {"max_examples": 100, "validation_fraction": 0.3, "seed": 3, "epochs": 5, "generator_width": 4}
    assert instrument.instrument_key(source, config.replace(**run_changes)) == key
    assert instrument.instrument_key(source, config.replace(fid_classifier_width=4)) != key
    assert instrument.instrument_key(source, config.replace(fid_classifier_epochs=2)) != key


def test_the_instrument_is_trained_once_then_read_from_the_cache(app, monkeypatch):
    config = tiny_config()
    trained = instrument.instrument_for(app, config, log=lambda line: None)
    assert 0 <= trained.accuracy <= 1 and trained.real_floor >= 0 and trained.floor_examples == 1000
    monkeypatch.setattr(instrument, "_LOADED", {})
    monkeypatch.setattr(instrument, "_build", lambda *args: pytest.fail("trained again instead of read"))
    lines = []
    cached = instrument.instrument_for(app, config.replace(max_examples=64, seed=5), log=lines.append)
    assert cached.path == trained.path and cached.accuracy == trained.accuracy
    assert any("test accuracy" in line and "real-vs-real floor" in line for line in lines)


def test_a_weak_instrument_is_warned_about(tmp_path):
    weak = instrument.Instrument(None, 0.44, 0.9, 1000, tmp_path)
    assert "44.0%, under 95%" in weak.warning()
    assert not instrument.Instrument(None, 0.991, 0.9, 1000, tmp_path).warning()


@pytest.mark.slow  # trains the default instrument on all of MNIST: minutes on 2 cores
def test_the_default_instrument_scores_99_percent_on_mnist_test_digits(app, shared_dataset, monkeypatch):
    monkeypatch.setattr(instrument, "_LOADED", {})
    config = app.default_config().replace(data=f"files:{shared_dataset('mnist')}")
    assert instrument.instrument_for(app, config).accuracy >= 0.99
