import gzip

import numpy as np
import pytest

from apps.digits.idx import load_mnist_idx, read_idx


def idx_bytes(array, type_code=0x08):
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_mnist_folder(folder, train_count=5, test_count=3):
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, count in (("train", train_count), ("t10k", test_count)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, count, dtype=np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
        arrays[prefix] = (images, labels)
    return arrays


def test_reads_raw_and_gzipped_idx(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.idx").write_bytes(idx_bytes(array))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx.gz"), array)


def test_reads_big_endian_int32(tmp_path):
    array = np.array([1, -2, 70000], dtype=">i4")
    (tmp_path / "b.idx").write_bytes(idx_bytes(array, type_code=0x0C))
    np.testing.assert_array_equal(read_idx(tmp_path / "b.idx"), [1, -2, 70000])


def test_rejects_bad_magic_and_truncated_files(tmp_path):
    (tmp_path / "bad.idx").write_bytes(b"\x01\x02\x08\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad.idx")
    array = np.zeros((4, 2), dtype=np.uint8)
    (tmp_path / "short.idx").write_bytes(idx_bytes(array)[:-3])
    with pytest.raises(ValueError, match="header says shape"):
        read_idx(tmp_path / "short.idx")


def test_loads_an_mnist_folder(tmp_path):
    arrays = write_mnist_folder(tmp_path)
    (train_images, train_labels), (test_images, test_labels) = load_mnist_idx(tmp_path)
    np.testing.assert_array_equal(train_images, arrays["train"][0])
    np.testing.assert_array_equal(test_labels, arrays["t10k"][1])
    assert train_labels.dtype == np.int64 and test_images.shape == (3, 28, 28)


def test_missing_files_name_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist_idx(tmp_path)


@pytest.mark.slow
def test_reads_the_real_mnist(shared_dataset):
    (train_images, train_labels), (test_images, _) = load_mnist_idx(shared_dataset("mnist"))
    assert train_images.shape == (60000, 28, 28) and test_images.shape == (10000, 28, 28)
    assert np.bincount(train_labels)[0] == 5923
