"""Export bookkeeping: versions never go backwards; a killed export's folder is cleaned."""

import os
import subprocess
import sys
import time

import pytest

from serving.export import (
    STALE_STAGING_SECONDS,
    VERSIONS_FILE,
    check_version,
    clean_stale_staging,
    next_version,
    record_version,
    staging_name,
)


def issue(model_dir, version=None):
    """What `export_model` does around writing: pick the version, create it, record it."""
    version = check_version(model_dir, version)
    (model_dir / str(version)).mkdir(parents=True)
    record_version(model_dir, version)
    return version


def test_numbering_continues_in_an_emptied_or_deleted_folder(tmp_path):
    model_dir = tmp_path / "digits"
    assert [issue(model_dir) for _ in range(3)] == [1, 2, 3]
    for version in (1, 2, 3):
        os.rmdir(model_dir / str(version))
    assert next_version(model_dir) == 4  # emptied: a server may still hold version 3
    os.rmdir(model_dir)
    assert issue(model_dir) == 4  # deleted: the record sits in the base path
    assert issue(tmp_path / "churn") == 1  # numbered per model name
    assert sorted(p.name for p in tmp_path.iterdir()) == [VERSIONS_FILE, "churn", "digits"]


def test_versions_already_on_disk_count_too(tmp_path):
    model_dir = tmp_path / "digits"
    (model_dir / "7").mkdir(parents=True)  # copied in by hand, never recorded
    assert issue(model_dir) == 8


def test_explicit_versions_never_go_backwards(tmp_path):
    model_dir = tmp_path / "digits"
    assert issue(model_dir, 5) == 5
    with pytest.raises(FileExistsError):
        check_version(model_dir, 5)
    os.rmdir(model_dir / "5")
    with pytest.raises(FileExistsError, match="Version 3 of digits would go backwards: version 5"):
        check_version(model_dir, 3)
    assert issue(model_dir, 9) == 9 and issue(model_dir) == 10


def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_abandoned_staging_folders_are_removed(tmp_path, monkeypatch):
    model_dir = tmp_path / "digits"
    ours = model_dir / staging_name(1)  # this process: still writing
    killed = model_dir / staging_name(2).replace(f"-{os.getpid()}-", f"-{dead_pid()}-")
    old = model_dir / ".tmp-3-0123abcd"  # an older kapps, or another host
    recent = model_dir / ".tmp-4-4567abcd"
    for folder in (ours, killed, old, recent):
        (folder / "variables").mkdir(parents=True)
    stale = time.time() - STALE_STAGING_SECONDS - 60
    os.utime(old, (stale, stale))
    assert clean_stale_staging(model_dir) == sorted([killed.name, old.name])
    assert sorted(p.name for p in model_dir.iterdir()) == sorted([ours.name, recent.name])
