"""benchmarks/input_pipeline.py: its synthetic COCO folders are valid COCO, and it measures the
memory of a whole process tree."""

import importlib.util
import sys
from pathlib import Path

from PIL import Image
from pycocotools.coco import COCO

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "input_pipeline.py"


def _benchmark():
    spec = importlib.util.spec_from_file_location("input_pipeline", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_synthetic_folder_is_coco_with_boxes_inside_480x360_jpegs(tmp_path):
    benchmark = _benchmark()
    document = benchmark.write_coco_folder(tmp_path / "coco", 6)
    coco = COCO(str(document))
    assert len(coco.getImgIds()) == 6 and [category["name"] for category in coco.loadCats(coco.getCatIds())] == [
        "disc",
        "square",
        "bar",
    ]
    for image in coco.loadImgs(coco.getImgIds()):
        with Image.open(document.parent / "images" / image["file_name"]) as picture:
            assert picture.format == "JPEG" and picture.size == (480, 360) == (image["width"], image["height"])
        boxes = [annotation["bbox"] for annotation in coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))]
        assert 1 <= len(boxes) <= 4
        assert all(0 <= x and 0 <= y and 0 < w and 0 < h and x + w <= 480 and y + h <= 360 for x, y, w, h in boxes)


def test_peak_memory_counts_the_children_of_the_command(tmp_path):
    benchmark = _benchmark()
    grow_in_child = (
        "import subprocess, sys; subprocess.run([sys.executable, '-c', "
        "'import time; block = bytes(range(256)) * (300 * 2**12); time.sleep(1.5)'])"
    )
    status, peak_mb, _ = benchmark.run_measured([sys.executable, "-c", grow_in_child], None, tmp_path / "log")
    assert status == 0 and peak_mb > 300
