"""`kapps serve`'s pages in a real browser (Playwright driving Chromium), one server for the six apps' tiny
exports and a two-version model: each page's interaction, what it shows against the REST answer to the
very body it sent, the server's message for a bad input, and a console without errors.

`KAPPS_UI_SCREENSHOTS=docs/images` also writes a screenshot of each page there.
"""

import base64
import io
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.apps import tiny_runs
from tests.serving.serving_helpers import HALF_PLUS_THREE, HALF_PLUS_TWO, Http, copy_model, start_server

APPS = ("digits", "churn", "sentiment", "segmentation", "dcgan", "detection")
CHROMIUM_NAMES = ("chromium", "chromium-browser")
TIMEOUT_MS = 60_000
SCREENSHOT_HEIGHT = 1400
REFUSED = "Failed to load resource: the server responded with a status of 400"


def chromium():
    """The system's Chromium (Playwright's own browser download needs the network)."""
    return os.environ.get("KAPPS_CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])")
    path = chromium()
    if path is None:
        pytest.skip("no Chromium to drive: apt-get install chromium (.ci/run does) to run the browser tests")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def pages_server(tmp_path_factory):
    """A server with the six tiny exports and `halves` (half_plus_two as version 1, half_plus_three as 2)."""
    from apps.catalog import load_apps
    from serving.model_config import ModelEntry

    registry = load_apps()
    models = [
        ModelEntry(name, str(tiny_runs.exported(registry.get(name), tmp_path_factory)[0] / name)) for name in APPS
    ]
    if not HALF_PLUS_TWO.exists():
        pytest.skip(f"{HALF_PLUS_TWO} is missing")
    halves = tmp_path_factory.mktemp("ui-models") / "halves"
    copy_model(HALF_PLUS_TWO, halves, version=1)
    copy_model(HALF_PLUS_THREE, halves, version=2)
    server = start_server([*models, ModelEntry("halves", str(halves), "all")])
    assert server.manager.wait_until_available("halves", 2)
    yield server
    server.stop()


@pytest.fixture
def rest(pages_server):
    client = Http(pages_server.rest_api_port)
    yield client
    client.close()


class Console:
    """The page's console errors and uncaught exceptions."""

    def __init__(self, page):
        self.messages = []
        page.on("console", lambda message: message.type == "error" and self.messages.append(message.text))
        page.on("pageerror", lambda error: self.messages.append(f"uncaught: {error}"))

    def check(self, refused=0):
        """No errors but the `refused` 400 answers the test caused."""
        assert sum(message.startswith(REFUSED) for message in self.messages) == refused, self.messages
        assert [message for message in self.messages if not message.startswith(REFUSED)] == []


@pytest.fixture
def page(browser, pages_server):
    context = browser.new_context(viewport={"width": 1000, "height": 860})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    opened.base = f"http://127.0.0.1:{pages_server.rest_api_port}"
    opened.console = Console(opened)
    yield opened
    context.close()


def open_model(page, name):
    page.goto(f"{page.base}/ui/{name}")
    page.wait_for_selector("body[data-ready=true]")
    return page


def answered(page, count=1):
    """Waits for the page's `count`-th answer; returns the JSON body it sent."""
    page.wait_for_selector(f"body[data-answered='{count}']")
    return page.input_value("#request-body")


def screenshot(page, name):
    folder = os.environ.get("KAPPS_UI_SCREENSHOTS")
    if folder:
        picture = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
        picture = picture.crop((0, 0, picture.width, min(picture.height, SCREENSHOT_HEIGHT)))
        small = picture.quantize(colors=128, method=Image.Quantize.FASTOCTREE)  # keeps the legend's colours
        small.save(os.path.join(folder, f"ui-{name}.png"), optimize=True)


def predict(rest, name, body, version=1):
    return rest(
        "POST",
        f"/v1/models/{name}/versions/{version}:predict",
        raw=body.encode(),
        headers={"Content-Type": "application/json"},
    )


def png_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def handwritten_one():
    """A photo-like "1": dark ink on uneven light paper, 120 × 90."""
    from PIL import ImageDraw

    paper = Image.fromarray((200 + 40 * np.random.default_rng(1).random((120, 90))).astype(np.uint8))
    ImageDraw.Draw(paper).line([(50, 15), (42, 105)], fill=30, width=9)
    return np.asarray(paper)


def scene(tmp_path, app_module, width, height):
    """A builtin scene of the app (a real PNG file) at `width` × `height`."""
    images = app_module.builtin_split("test", 64)[0]
    path = tmp_path / f"scene-{width}x{height}.png"
    path.write_bytes(png_bytes(np.asarray(Image.fromarray(images[1]).resize((width, height)))))
    return path


def slide(slider, value):
    """Moves a range input to `value` as a user would (an `input` event)."""
    slider.evaluate("(s, v) => { s.value = v; s.dispatchEvent(new Event('input')); }", str(value))


def shown_error(page, version=1):
    return page.inner_text(f".answer[data-version='{version}'] .error")


def check_refusal(page, rest, name, act, refused=1):
    """`act()` sends a bad input: the page shows the server's own message for that body."""
    act()
    body = answered(page, 2)
    status, expected = predict(rest, name, body)
    assert status == 400 and expected["error"]
    assert shown_error(page) == expected["error"]
    page.console.check(refused=refused)


def test_index_lists_every_model_with_versions_signatures_and_card(page, rest):
    page.goto(f"{page.base}/ui/")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("article[data-model]").evaluate_all("cards => cards.map(c => c.dataset.model)") == sorted(
        [*APPS, "halves"]
    )
    halves = page.locator("article[data-model=halves]")
    assert halves.locator(".versions span").evaluate_all("s => s.map(v => v.dataset.version + v.dataset.state)") == [
        "2AVAILABLE",
        "1AVAILABLE",
    ]
    _, metadata = rest("GET", "/v1/models/detection/metadata")
    signatures = set(metadata["metadata"]["signature_def"]["signature_def"]) - {"__saved_model_init_op"}
    shown = page.locator("article[data-model=detection] table.signatures tr td:first-child").all_inner_texts()
    assert sorted(shown) == sorted(signatures)
    card = page.locator("article[data-model=digits] .model-card")
    assert "digits" in card.text_content() and page.locator("article[data-model=halves] .model-card").count() == 0
    screenshot(page, "index")
    page.console.check()


def test_digits_drawn_with_the_mouse_and_a_file(page, rest, tmp_path):
    open_model(page, "digits")
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + 150, box["y"] + 40)
    page.mouse.down()
    for step in range(24):  # a "7": across, then down and left
        x, y = (150 + 4 * step, 40) if step < 12 else (194 - 5 * (step - 12), 40 + 18 * (step - 12))
        page.mouse.move(box["x"] + x, box["y"] + y)
    page.mouse.up()
    body = answered(page)
    assert json.loads(body)["signature_name"] == "serve_image_bytes"
    status, expected = predict(rest, "digits", body)
    row = expected["predictions"][0]
    assert status == 200 and page.get_attribute(".big", "data-predicted") == str(row["classes"])
    bars = page.locator(".bars .num").evaluate_all("cells => cells.map(c => c.textContent)")
    assert bars == [f"{p:.4f}" for p in row["probabilities"]]
    assert "curl -X POST" in page.inner_text("#curl") and "serve_image_bytes" in page.inner_text("#grpc")
    screenshot(page, "digits")
    page.console.check()
    digit = tmp_path / "digit.png"
    digit.write_bytes(png_bytes(handwritten_one()))
    page.set_input_files("#file", str(digit))
    assert (
        json.loads(answered(page, 2))["instances"][0]["image_bytes"]["b64"]
        == base64.b64encode(digit.read_bytes()).decode()
    )
    not_image = tmp_path / "notes.txt"
    not_image.write_text("not a picture")
    page.set_input_files("#file", str(not_image))
    body = answered(page, 3)
    status, refused = predict(rest, "digits", body)
    assert status == 400 and shown_error(page) == refused["error"]
    page.console.check(refused=1)


def test_digits_drawn_with_a_finger(browser, pages_server, rest):
    context = browser.new_context(viewport={"width": 800, "height": 800}, has_touch=True)
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        console = Console(page)
        page.goto(f"http://127.0.0.1:{pages_server.rest_api_port}/ui/digits")
        page.wait_for_selector("body[data-ready=true]")
        box = page.locator("#canvas").bounding_box()
        touches = page.context.new_cdp_session(page)
        moves = [("touchMove", 40 + 12 * step) for step in range(1, 18)]
        for kind, y in [("touchStart", 40), *moves, ("touchEnd", 0)]:
            points = [] if kind == "touchEnd" else [{"x": box["x"] + 140, "y": box["y"] + y}]
            touches.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})
        body = answered(page)
        sent = base64.b64decode(json.loads(body)["instances"][0]["image_bytes"]["b64"])
        strokes = np.asarray(Image.open(io.BytesIO(sent)).convert("L"))
        assert strokes[40:240, 140].min() == 255 and strokes[:, :100].max() == 0  # a vertical line, nothing else
        row = predict(rest, "digits", body)[1]["predictions"][0]
        assert page.get_attribute(".big", "data-predicted") == str(row["classes"])
        console.check()
    finally:
        context.close()


def test_detection_boxes_match_the_answer_and_the_slider_filters(page, rest, tmp_path):
    from apps.detection import builtin

    photo = scene(tmp_path, builtin, 96, 72)
    open_model(page, "detection")
    page.set_input_files("#file", str(photo))
    status, expected = predict(rest, "detection", answered(page))
    row = expected["predictions"][0]
    count = int(row["num_detections"])
    boxes = page.locator(".answer .box")
    assert status == 200 and boxes.count() == count > 0
    assert boxes.evaluate_all("bs => bs.map(b => b.dataset.box)") == [
        ",".join(f"{v:.4f}" for v in box) for box in row["detection_boxes"][:count]
    ]
    assert boxes.evaluate_all("bs => bs.map(b => b.dataset.name)") == row["detection_class_names"][:count]
    image = page.locator(".answer img.photo").bounding_box()
    first = boxes.first.bounding_box()
    ymin, xmin = row["detection_boxes"][0][:2]
    assert abs(first["x"] - (image["x"] + xmin * image["width"])) < 2
    assert abs(first["y"] - (image["y"] + ymin * image["height"])) < 2
    assert page.inner_text(".answer .image-size") == "96 × 72 px"
    threshold = round(float(np.median(row["detection_scores"][:count])), 2)
    slide(page.locator(".threshold"), threshold)
    visible = sum(score >= threshold for score in row["detection_scores"][:count])
    assert page.get_attribute(".shown", "data-visible") == str(visible)
    assert page.locator(".answer .box:not(.hidden)").count() == visible
    screenshot(page, "detection")
    page.console.check()
    not_image = tmp_path / "notes.txt"
    not_image.write_text("not a photo")
    check_refusal(page, rest, "detection", lambda: page.set_input_files("#file", str(not_image)))


def test_segmentation_mask_sizes_and_class_shares_match_the_answer(page, rest, tmp_path):
    from apps.segmentation import builtin

    open_model(page, "segmentation")
    page.set_input_files("#file", str(scene(tmp_path, builtin, 96, 72)))
    status, expected = predict(rest, "segmentation", answered(page))
    page.wait_for_selector(".rendered[data-painted=true]")
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(expected["predictions"][0]["mask_png_bytes"]["b64"]))))
    assert status == 200 and mask.shape == (72, 96)
    size = page.locator(".mask-size")
    assert (size.get_attribute("data-width"), size.get_attribute("data-height")) == ("96", "72")
    legend = page.locator(".legend li")
    shown = dict(legend.evaluate_all("items => items.map(i => [i.dataset.classId, i.dataset.pixels])"))
    counts = np.bincount(mask.ravel(), minlength=4)
    assert shown == {str(index): str(count) for index, count in enumerate(counts)}
    slide(page.locator(".opacity"), 0.25)
    assert page.locator("canvas.mask").evaluate("c => c.style.opacity") == "0.25"
    screenshot(page, "segmentation")
    page.console.check()
    # The tiny export's limit is 10,000 pixels per image.
    too_large = scene(tmp_path, builtin, 128, 100)
    check_refusal(page, rest, "segmentation", lambda: page.set_input_files("#file", str(too_large)))


def test_sentiment_probability_and_label(page, rest):
    open_model(page, "sentiment")
    page.fill("#text", "The plot was dull and the acting was worse.")
    page.click("#analyse")
    body = answered(page)
    assert json.loads(body)["instances"] == [{"text": "The plot was dull and the acting was worse."}]
    status, expected = predict(rest, "sentiment", body)
    row = expected["predictions"][0]
    assert status == 200 and page.inner_text(".probability") == f"{row['probability']:.4f}"
    assert page.inner_text(".big") == row["sentiment"]
    screenshot(page, "sentiment")

    def send_edited_body():
        page.fill("#request-body", '{"signature_name": "serving_default", "instances": [{"review": "no such input"}]}')
        page.click("#resend")

    check_refusal(page, rest, "sentiment", send_edited_body)


def test_churn_form_from_the_columns(page, rest):
    open_model(page, "churn")
    _, info = rest("GET", "/ui/api/models/churn")
    columns = info["app"]["columns"]
    assert page.locator("#churn-form label").count() == len(columns)
    contract = next(column for column in columns if column["name"] == "Contract")
    page.select_option("select[name=Contract]", contract["choices"][-1])
    page.fill("input[name=tenure]", "7")
    page.click("#predict")
    body = answered(page)
    sent = json.loads(body)["instances"][0]
    assert sent["tenure"] == 7 and sent["Contract"] == contract["choices"][-1]
    assert set(sent) == {column["name"] for column in columns}
    status, expected = predict(rest, "churn", body)
    row = expected["predictions"][0]
    assert status == 200 and page.inner_text(".probability") == f"{row['churn_probability']:.4f}"
    assert page.get_attribute(".decision", "data-churn") == str(row["churn"]).lower()
    assert row["churn"] == (row["churn_probability"] >= info["app"]["threshold"])
    screenshot(page, "churn")
    page.console.check()

    def infinite_tenure():
        page.fill("input[name=tenure]", "1e400")
        page.click("#predict")

    check_refusal(page, rest, "churn", infinite_tenure)
    assert "not a finite number" in shown_error(page)


def test_dcgan_grid_and_new_seed(page, rest):
    open_model(page, "dcgan")
    page.fill("#seed", "7")
    page.fill("#count", "4")
    page.click("#generate")
    body = answered(page)
    assert json.loads(body)["instances"] == [{"seed": 7, "count": 4, "label": -1}]
    status, expected = predict(rest, "dcgan", body)
    grid = Image.open(io.BytesIO(base64.b64decode(expected["predictions"][0]["images_png_bytes"]["b64"])))
    page.wait_for_selector(".grid-size[data-width]")
    assert status == 200 and (
        page.get_attribute(".grid-size", "data-width"),
        page.get_attribute(".grid-size", "data-height"),
    ) == tuple(map(str, grid.size))
    screenshot(page, "dcgan")
    page.click("#new-seed")
    assert json.loads(answered(page, 2))["instances"][0]["seed"] == int(page.input_value("#seed"))
    page.console.check()
    page.fill("#count", "0")
    page.click("#generate")
    body = answered(page, 3)
    assert shown_error(page) == predict(rest, "dcgan", body)[1]["error"]
    page.console.check(refused=1)


def test_generic_page_compares_two_versions_side_by_side(page, rest):
    open_model(page, "halves")
    assert page.get_attribute("body", "data-page") == "generic"
    page.select_option("#version-a", "2")
    page.select_option("#version-b", "1")
    page.fill("#generic-body", '{"instances": [1.0, 2.0]}')
    page.click("#predict")
    body = answered(page)
    for version in (2, 1):
        shown = json.loads(page.inner_text(f".answer[data-version='{version}'] .generic-answer"))
        assert shown == predict(rest, "halves", body, version)[1]
    assert shown == {"predictions": [2.5, 3.0]}
    assert page.text_content("#request-line") == (
        "POST /v1/models/halves/versions/2:predict  and  POST /v1/models/halves/versions/1:predict"
    )
    screenshot(page, "compare")
    page.console.check()
