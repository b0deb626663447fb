"""The real datasets in ../shared/datasets load as the benchmark reads them."""

import numpy as np
import pytest

from apps.segmentation.app import SegmentationApp
from apps.segmentation.config import SegmentationConfig

pytestmark = pytest.mark.slow


def _test_arrays(data):
    images, masks = zip(*data.test.as_numpy_iterator())
    return np.concatenate(images).astype(np.uint8), np.concatenate(masks)[..., 0]


def test_oxford_pets_subset_trains_on_trainval_and_tests_on_test(shared_dataset):
    path = shared_dataset("oxford_pets_subset/oxford_pets_subset_seg_128.npz")
    data = SegmentationApp().load_data(SegmentationConfig(data=f"files:{path}"))
    assert data.class_names == ("pet", "background", "border")
    assert (data.train_examples + data.validation_examples, data.test_examples) == (300, 298)
    images, masks = _test_arrays(data)
    assert set(np.unique(masks)) == {0, 1, 2}
    with np.load(path) as arrays:
        test_rows = np.flatnonzero(arrays["split"] == "test")
        np.testing.assert_array_equal(images, arrays["images"][test_rows])


def test_penn_fudan_people_first_120_train_last_50_test(shared_dataset):
    path = shared_dataset("pennfudan/pennfudan_seg_128.npz")
    config = SegmentationConfig(data=f"files:{path}", test_size=50)  # `semantic`, not the instance `masks`
    data = SegmentationApp().load_data(config)
    assert data.class_names == ("background", "person")
    assert (data.train_examples + data.validation_examples, data.test_examples) == (120, 50)
    with np.load(path) as arrays:
        np.testing.assert_array_equal(_test_arrays(data)[1], arrays["semantic"][-50:])
