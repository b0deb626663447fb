"""`workflow.predict`: text answers printed, binary answers (`*_bytes`) written to files;
`workflow.train`: no run folder before the data loaded."""

import numpy as np
import pytest

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
        return {
            f"{output_stem(item, index)}.drawn.txt": b"drawn"
            for index, item in enumerate(items)
            if "mask_png_bytes" in outputs
        }


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


@pytest.fixture
def offline_tfds(monkeypatch):
    """TFDS with no dataset downloaded and no network."""
    import tensorflow_datasets as tfds

    from apps.core import data

    monkeypatch.setattr(data, "network_reachable", lambda: False)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda builder: False)


@pytest.mark.parametrize("source", ["files:missing-folder", "tfds:mnist"])
def test_a_failed_data_load_is_one_line_and_leaves_no_run_folder(source, offline_tfds, tmp_path, monkeypatch):
    from apps import cli

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        cli.main(["digits", "train", "--data", source])
    message = str(exit.value.code)  # a message as the exit code: status 1
    assert message.startswith("kapps digits train: ") and "\n" not in message
    assert ("no network" in message) if source.startswith("tfds") else ("missing-folder" in message)
    assert not (tmp_path / "runs").exists()


class NamedMaskApp(MaskApp):
    """Names the classes it was given, and draws its own `mask.png` in place of the served one."""

    def format_response(self, outputs, items):
        return "names: " + ", ".join(outputs["class_names"])

    def answer_files(self, outputs, items):
        return {f"{workflow.output_stem(item, index)}.mask.png": b"palette" for index, item in enumerate(items)}


def test_answers_carry_the_exports_class_names_and_app_files_replace_served_ones(tmp_path, monkeypatch):
    outputs = {"classes": np.array([2]), "mask_png_bytes": np.array([PNG], dtype=object)}
    monkeypatch.setattr(workflow, "local_outputs", lambda app, request, base: outputs)
    assets = tmp_path / "models" / "masks" / "3" / "assets.extra"
    assets.mkdir(parents=True)
    (assets / workflow.APP_DESCRIPTOR_ASSET).write_text('{"class_names": ["sky", "road"]}')
    text = workflow.predict(NamedMaskApp(), ["a"], tmp_path / "models", output_dir=tmp_path / "out")
    written = tmp_path / "out" / "input0.mask.png"
    assert text == f"names: sky, road\nWrote {written}" and written.read_bytes() == b"palette"
    without_export = workflow.predict(NamedMaskApp(), ["a"], tmp_path / "elsewhere", output_dir=tmp_path / "out")
    assert without_export.splitlines()[0] == "names: "
