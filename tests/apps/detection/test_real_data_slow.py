"""Penn-Fudan in ../shared/datasets streams as the benchmark reads it (COCO JSON + a .tar of JPEGs)."""

import json

import numpy as np
import pytest

from apps.detection.app import DetectionApp
from apps.detection.config import DetectionConfig

pytestmark = pytest.mark.slow


def test_penn_fudan_first_120_train_last_50_test(shared_dataset):
    path = shared_dataset("pennfudan")
    config = DetectionConfig(data=f"files:{path}", test_split="last:50", validation_fraction=0.0, image_size=128)
    data = DetectionApp().load_data(config)
    assert data.class_names == ("person",)
    assert (data.train_examples, data.validation_examples, data.test_examples) == (120, 0, 50)
    with open(shared_dataset("pennfudan/instances_pennfudan.json")) as handle:
        document = json.load(handle)
    names = sorted(image["file_name"] for image in document["images"])
    described = list(data.info.test_described.as_numpy_iterator())
    assert [name.decode() for _, _, info in described for name in info["name"]] == names[-50:]
    sizes = {image["file_name"]: (image["height"], image["width"]) for image in document["images"]}
    np.testing.assert_array_equal(
        np.concatenate([info["size"] for _, _, info in described]), [sizes[name] for name in names[-50:]]
    )
    boxes = [rows[rows[:, 4] > 0, :4] for _, targets, _ in described for rows in targets]
    test_ids = {image["id"] for image in document["images"] if image["file_name"] in set(names[-50:])}
    expected = sum(1 for annotation in document["annotations"] if annotation["image_id"] in test_ids)
    assert sum(len(image_boxes) for image_boxes in boxes) == expected
    assert all(np.all(image_boxes >= 0) and np.all(image_boxes <= 128) for image_boxes in boxes)
