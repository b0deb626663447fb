"""Export a trained app model as a SavedModel in TF Serving's versioned layout.

`<model_base_path>/<app>/<version>/` is written to a hidden temporary folder
beside it and renamed into place, so a server polling the folder never sees a
half-written version.

Versions never go backwards for a model name: the highest version issued is kept in
`<model_base_path>/.kapps-versions.json` (outside the model's folder, which TF Serving
scans for numeric names only), so exporting into an emptied or deleted model folder
continues the numbering a running server knows, and an explicit `version` at or below
the highest issued is refused. A killed export leaves its temporary folder
(`.tmp-<version>-<pid>-<host>-<random>`) behind; the next export of the model removes
it once it is abandoned: its process is gone (same host), or, for one written on
another host or by an older kapps, it was last modified over `STALE_STAGING_SECONDS` ago.
"""

import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path

VERSION_PREFIX_TMP = ".tmp-"
VERSIONS_FILE = ".kapps-versions.json"
STALE_STAGING_SECONDS = 3600


def existing_versions(model_dir):
    """Version numbers present under `model_dir`, ascending."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def _versions_file(model_dir):
    return Path(model_dir).parent / VERSIONS_FILE


def _issued(model_dir):
    """`{model name: highest version issued}` recorded beside `model_dir`."""
    try:
        recorded = json.loads(_versions_file(model_dir).read_text())
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def highest_version(model_dir):
    """The highest version issued for the model in `model_dir` (0 if none)."""
    recorded = _issued(model_dir).get(Path(model_dir).name, 0)
    return max([recorded if isinstance(recorded, int) else 0, *existing_versions(model_dir)])


def next_version(model_dir):
    return highest_version(model_dir) + 1


def check_version(model_dir, version=None):
    """`version`, or the next one (no version given); refuses a version that exists or
    goes backwards."""
    if not version:
        return next_version(model_dir)
    final = Path(model_dir) / str(version)
    if final.exists():
        raise FileExistsError(f"{final} already exists; versions are never overwritten.")
    highest = highest_version(model_dir)
    if version <= highest:  # taken, as far as a server may know: the CLI's one-line error
        raise FileExistsError(
            f"Version {version} of {Path(model_dir).name} would go backwards: version "
            f"{highest} was already issued (a server may still hold it). Leave the version "
            f"out to export {highest + 1}, or give a higher one."
        )
    return version


def record_version(model_dir, version):
    """Remembers `version` as issued (written atomically; entries only grow)."""
    path = _versions_file(model_dir)
    issued = _issued(model_dir)
    name = Path(model_dir).name
    issued[name] = max(version, highest_version(model_dir))
    temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}")
    temporary.write_text(json.dumps(issued, indent=1, sort_keys=True) + "\n")
    os.replace(temporary, path)


def _host_id():
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def staging_name(version):
    return f"{VERSION_PREFIX_TMP}{version}-{os.getpid()}-{_host_id()}-{uuid.uuid4().hex[:8]}"


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but is not ours
        return True
    return True


def _abandoned(staging, now):
    parts = staging.name[len(VERSION_PREFIX_TMP) :].split("-")
    if os.name == "posix" and len(parts) == 4 and parts[1].isdigit() and parts[2] == _host_id():
        return not _process_alive(int(parts[1]))
    return now - staging.stat().st_mtime > STALE_STAGING_SECONDS


def clean_stale_staging(model_dir, now=None):
    """Removes the temporary folders of exports that were killed; returns their names."""
    now = time.time() if now is None else now
    removed = []
    for child in sorted(Path(model_dir).glob(f"{VERSION_PREFIX_TMP}*")):
        try:
            if child.is_dir() and _abandoned(child, now):
                shutil.rmtree(child)
                removed.append(child.name)
        except FileNotFoundError:  # another export finished or cleaned it meanwhile
            continue
    return removed


def build_archive(model, signatures):
    """A `keras.export.ExportArchive` tracking `model` with `signatures` (`{name: tf.function}`)
    as its endpoints, each traced here."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, function in signatures.items():
        function.get_concrete_function()
        archive.add_endpoint(name, function)
    return archive


def export_model(model, signatures, model_dir, version=None, warmup_requests=(), request_rules=None, extra_assets=None):
    """Writes the SavedModel of `model` as a new version of `model_dir` (whose name is the model's) and
    returns the final version folder. The exporter is given every part; it knows no app.

    Args:
        model: the Keras model the signatures call (tracked, so its variables are saved).
        signatures: `{signature name: tf.function}`, each with an `input_signature`.
        model_dir: `<model_base_path>/<model name>`.
        version: the version number; None for the next one (`check_version`).
        warmup_requests: requests (`signature_name` and `inputs`: `{input: array}`) written to
            `assets.extra/tf_serving_warmup_requests` (`serving.warmup`), replayed when a server loads
            the version, so that the first real request does not pay for graph initialisation.
        request_rules: `{signature name: rules}` the server checks on the whole request
            (`serving.request_rules`: `assets.extra/kapps_serving.json`).
        extra_assets: `{file name: text}` written into `assets.extra/` (metrics, model card...).
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "SavedModel export needs the TensorFlow backend; reload the .keras file there "
            "(`kapps <app> export` does this in a subprocess)."
        )
    from serving.request_rules import write_rules
    from serving.warmup import write_warmup_requests

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(model_dir)
    version = check_version(model_dir, version)
    final = model_dir / str(version)
    staging = model_dir / staging_name(version)
    try:
        build_archive(model, signatures).write_out(str(staging), verbose=False)
        write_rules(staging, request_rules)
        write_warmup_requests(staging, model_dir.name, warmup_requests)
        for name, text in (extra_assets or {}).items():
            path = staging / "assets.extra" / name
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
        os.rename(staging, final)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    record_version(model_dir, version)
    return final
