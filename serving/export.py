"""Export a trained app model as a SavedModel in TF Serving's versioned layout.

`<model_base_path>/<app>/<version>/` is written to a hidden temporary folder
beside it and renamed into place, so a server polling the folder never sees a
half-written version.
"""

import os
import shutil
import uuid
from pathlib import Path

VERSION_PREFIX_TMP = ".tmp-"


def existing_versions(model_dir):
    """Version numbers present under `model_dir`, ascending."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(model_dir):
    versions = existing_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def build_archive(app, model, config):
    """A `keras.export.ExportArchive` holding the app's serving signatures."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, function in app.serving_signatures(model, config).items():
        function.get_concrete_function()
        archive.add_endpoint(name, function)
    return archive


def export_model(app, model, config, model_base_path="models", version=None):
    """Writes the SavedModel of `model` and returns the final version folder."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "SavedModel export needs the TensorFlow backend; reload the .keras file there "
            "(`kapps <app> export` does this in a subprocess)."
        )
    model_dir = Path(model_base_path) / app.name
    model_dir.mkdir(parents=True, exist_ok=True)
    version = version or next_version(model_dir)
    final = model_dir / str(version)
    if final.exists():
        raise FileExistsError(f"{final} already exists; versions are never overwritten.")
    staging = model_dir / f"{VERSION_PREFIX_TMP}{version}-{uuid.uuid4().hex[:8]}"
    try:
        build_archive(app, model, config).write_out(str(staging), verbose=False)
        write_extra_assets(app, config, staging)
        os.rename(staging, final)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return final


def write_extra_assets(app, config, export_dir):
    """Writes `assets.extra/tf_serving_warmup_requests` from the app's sample requests.

    TF Serving replays these records when it loads the version, so the first
    real request does not pay for graph initialisation.
    """
    from serving.warmup import write_warmup_requests

    return write_warmup_requests(export_dir, app.name, app.sample_requests(config))
