"""`workflow.predict`: text answers printed, binary answers (`*_bytes`) written to files."""

import numpy as np

from apps.core import workflow
from apps.core.app import SampleRequest
from apps.core.cli_inputs import output_stem

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 8


class MaskApp:
    name = "masks"

    def request_from_cli(self, items):
        return SampleRequest("serving_default", {"image_bytes": np.array([b"x"] * len(items), dtype=object)})

    def format_response(self, outputs, items):
        return "\n".join(f"{item}: {int(count)} classes" for item, count in zip(items, outputs["classes"]))

    def answer_files(self, outputs, items):
        """A client-side drawing per answer that holds a mask."""
        return {f"{output_stem(item, index)}.drawn.txt": b"drawn"
                for index, item in enumerate(items) if "mask_png_bytes" in outputs}


def test_binary_outputs_are_written_and_named(tmp_path, monkeypatch):
    photo = tmp_path / "street photo.jpg"
    photo.write_bytes(b"jpeg")
    outputs = {"classes": np.array([2, 3]), "mask_png_bytes": np.array([PNG, b"GIF89a..."], dtype=object)}
    monkeypatch.setattr(workflow, "local_outputs", lambda app, request, base: outputs)
    text = workflow.predict(MaskApp(), [str(photo), "not-a-file"], output_dir=tmp_path / "out")
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert written == ["input1.drawn.txt", "input1.mask.gif", "street_photo.drawn.txt", "street_photo.mask.png"]
    assert (tmp_path / "out" / "street_photo.mask.png").read_bytes() == PNG
    assert text.splitlines()[:2] == [f"{photo}: 2 classes", "not-a-file: 3 classes"]
    assert f"Wrote {tmp_path / 'out' / 'street_photo.mask.png'}" in text


def test_text_only_answers_write_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(workflow, "local_outputs", lambda app, request, base: {"classes": np.array([1])})
    assert workflow.predict(MaskApp(), ["a"], output_dir=tmp_path / "out") == "a: 1 classes"
    assert not (tmp_path / "out").exists()
