"""`kapps serve`'s pages without a browser: routes, static files, path traversal, CSP, `--ui off`."""

import re

import pytest

from serving import ui
from serving.server import build_parser
from tests.serving.serving_helpers import HALF_PLUS_TWO, Http, copy_model, start_server

STATIC_FILES = sorted(path.name for path in ui.STATIC_FOLDER.iterdir())
TRAVERSALS = [
    "/ui/static/../rest.py",
    "/ui/static/..%2frest.py",
    "/ui/static/%2e%2e/rest.py",
    "/ui/static/%2e%2e%2fui.py",
    "/ui/static//etc/passwd",
    "/ui/static/..\\ui.py",
    "/ui/static/../../setup.cfg",
    "/ui/static/ui.py",
    "/ui/static/",
    "/ui/static/index.html/",
    "/ui/static/index.html%00.js",
    "/ui/static/INDEX.HTML",
    "/ui/../serving/rest.py",
    "/ui/api/../static/../rest.py",
]


def raw_get(server, path, method="GET"):
    """(status, headers, body bytes) of a request sent with its path exactly as written."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.rest_api_port, timeout=10)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {key.lower(): value for key, value in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_every_static_file_is_served_with_its_type_and_a_strict_csp(server):
    assert {"index.html", "model.html", "common.js", "model.js", "kapps.css", "page-generic.js"} <= set(STATIC_FILES)
    for name in STATIC_FILES:
        status, headers, body = raw_get(server, f"/ui/static/{name}")
        assert status == 200, name
        assert body == (ui.STATIC_FOLDER / name).read_bytes()
        assert headers["content-type"] == ui.CONTENT_TYPES[(ui.STATIC_FOLDER / name).suffix].decode()
        assert headers["content-security-policy"].startswith("default-src 'self'; script-src 'self'; style-src 'self'")
        assert "unsafe" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/ui", "/ui/", "/ui/half_plus_two", "/ui/any%20name", "/ui/?x=1"])
def test_pages_are_the_static_shells(server, path):
    status, headers, body = raw_get(server, path)
    shell = "index.html" if path.split("?")[0] in ("/ui", "/ui/") else "model.html"
    assert (status, body) == (200, (ui.STATIC_FOLDER / shell).read_bytes())
    assert "content-security-policy" in headers


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_path_reaches_a_file_outside_the_static_table(server, path):
    status, _, body = raw_get(server, path)
    for source in ("serving/rest.py", "serving/ui.py", "setup.cfg"):
        text = (ui.STATIC_FOLDER.parents[1] / source).read_bytes()
        assert text[:200] not in body
    assert b"root:" not in body
    # A path with "/" in its rest is refused; a single segment is a model's page, whatever the name.
    assert status == 404 or body == (ui.STATIC_FOLDER / "model.html").read_bytes(), (path, status, body[:200])


def test_only_known_kinds_of_files_are_loaded(tmp_path):
    for name in ("page.js", "notes.txt", "secret.py", ".env"):
        (tmp_path / name).write_text(name)
    (tmp_path / "folder.js").mkdir()
    assert set(ui.load_static_files(tmp_path)) == {"page.js"}


def test_static_pages_hold_no_inline_code_and_call_no_other_origin():
    for name in STATIC_FILES:
        text = (ui.STATIC_FOLDER / name).read_text()
        assert not re.search(r"https?://", text), f"{name} names another origin"
        if name.endswith(".html"):
            assert not re.search(r"<script(?![^>]*\bsrc=)", text), f"{name} has an inline script"
            inline = re.search(r"<style|\sstyle=|\son[a-z]+=", text, re.IGNORECASE)
            assert not inline, f"{name} has an inline style or handler"
        if name.endswith(".js"):
            assert not re.search(r"\beval\(|new Function\(|innerHTML|setAttribute\(\"style", text), name


def test_model_list_and_info(server, rest):
    assert rest("GET", "/ui/api/models") == (200, {"models": ["half_plus_three", "half_plus_two"]})
    status, info = rest("GET", "/ui/api/models/half_plus_two")
    assert (status, info) == (200, {"model": "half_plus_two", "version": 123, "app": None, "model_card": None})
    assert rest("GET", "/ui/api/models/half_plus_two/versions/123")[1]["version"] == 123
    assert rest("GET", "/ui/api/models/nope") == (404, {"error": "Servable not found for request: Latest(nope)"})
    assert rest("GET", "/ui/api/models/half_plus_two/versions/7") == (
        404,
        {"error": "Servable not found for request: Specific(half_plus_two, 7)"},
    )
    assert rest("GET", "/ui/api/models/half_plus_two/metadata")[0] == 404


def test_a_version_s_descriptor_and_model_card_are_read_and_bounded(tmp_path):
    from serving.model_config import ModelEntry

    base = copy_model(HALF_PLUS_TWO, tmp_path / "halves", version=1)
    extra = base / "1" / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / ui.APP_DESCRIPTOR).write_text('{"app": "digits", "page": "digits"}')
    (extra / ui.MODEL_CARD).write_text("# A card\n")
    copy_model(HALF_PLUS_TWO, tmp_path / "halves", version=2)
    (base / "2" / "assets.extra").mkdir(exist_ok=True)
    (base / "2" / "assets.extra" / ui.APP_DESCRIPTOR).write_text("[not json")
    (base / "2" / "assets.extra" / ui.MODEL_CARD).write_text("x" * (ui.MAX_ASSET_BYTES + 1))
    server = start_server([ModelEntry("halves", str(base), "all")])
    client = Http(server.rest_api_port)
    try:
        assert server.manager.wait_until_available("halves", 2)
        assert client("GET", "/ui/api/models/halves/versions/1")[1] == {
            "model": "halves",
            "version": 1,
            "app": {"app": "digits", "page": "digits"},
            "model_card": "# A card\n",
        }
        assert client("GET", "/ui/api/models/halves/versions/2")[1] == {
            "model": "halves",
            "version": 2,
            "app": None,
            "model_card": None,
        }
    finally:
        client.close()
        server.stop()


def test_only_get_is_answered(server):
    status, headers, body = raw_get(server, "/ui/", method="POST")
    assert status == 405 and b"Method not allowed" in body and "content-security-policy" in headers


def test_ui_off_leaves_the_rest_api_as_it_was(model_base):
    from serving.model_config import ModelEntry

    assert build_parser().parse_args(["--ui", "off"]).ui is False
    assert build_parser().parse_args([]).ui is True
    server = start_server([ModelEntry("half_plus_two", str(model_base / "half_plus_two"))], ui=False)
    client = Http(server.rest_api_port)
    try:
        for path in ("/ui/", "/ui/static/index.html", "/ui/api/models"):
            assert client("GET", path) == (404, {"error": f"Not found: GET {path}"})
    finally:
        client.close()
        server.stop()
