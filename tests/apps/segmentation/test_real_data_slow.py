"""The real datasets in ../shared/datasets load as the benchmark reads them."""

import numpy as np
import pytest

from apps.segmentation.app import SegmentationApp
from apps.segmentation.config import SegmentationConfig

pytestmark = pytest.mark.slow


def test_oxford_pets_subset_trains_on_trainval_and_tests_on_test(shared_dataset):
    path = shared_dataset("oxford_pets_subset/oxford_pets_subset_seg_128.npz")
    data = SegmentationApp().load_data(SegmentationConfig(data=f"files:{path}"))
    assert data.class_names == ("pet", "background", "border")
    assert (data.train_examples + data.validation_examples, data.test_examples) == (300, 298)
    assert set(np.unique(data.info["test_masks"])) == {0, 1, 2}
    with np.load(path) as arrays:
        test_rows = np.flatnonzero(arrays["split"] == "test")
        np.testing.assert_array_equal(data.info["test_images"], arrays["images"][test_rows])


def test_penn_fudan_people_first_120_train_last_50_test(shared_dataset):
    path = shared_dataset("pennfudan/pennfudan_seg_128.npz")
    config = SegmentationConfig(data=f"files:{path}", test_size=50)  # `semantic`, not the instance `masks`
    data = SegmentationApp().load_data(config)
    assert data.class_names == ("background", "person")
    assert (data.train_examples + data.validation_examples, data.test_examples) == (120, 50)
    with np.load(path) as arrays:
        np.testing.assert_array_equal(data.info["test_masks"], arrays["semantic"][-50:])
