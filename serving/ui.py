"""`kapps serve`'s pages: a page per served model, on the REST port (`--ui off` turns them off).

    GET /ui/                                    the index of the served models
    GET /ui/<model>                             the model's page
    GET /ui/static/<file>                       the pages' HTML, CSS and JavaScript (`serving/ui/`)
    GET /ui/api/models                          {"models": [names]}: TF Serving's REST API lists none
    GET /ui/api/models/<model>[/versions/<v>]   {"model", "version", "app", "model_card"}: a version's
                                                `assets.extra/kapps_app.json` and `model_card.md` (or null)

Everything else a page shows comes from TF Serving's own REST API (model status, metadata, predict),
so each page is also a worked example of that API. The static files are read once, when the server
starts, into a table keyed by file name: no part of a request path ever reaches the file system. Every
answer carries a strict Content-Security-Policy (same-origin scripts, styles and requests only; no
inline code), and the pages call nothing but this server.
"""

import json
import re
import urllib.parse
from pathlib import Path

from serving.errors import ServingError

STATIC_FOLDER = Path(__file__).with_name("ui")
CONTENT_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".svg": b"image/svg+xml",
}
JSON_TYPE = b"application/json"
# Images are data: URLs built from answers and blob: URLs of the user's own files.
CONTENT_SECURITY_POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    b"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    b"frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]
APP_DESCRIPTOR = "kapps_app.json"  # written at export by `apps.core.workflow.export`
MODEL_CARD = "model_card.md"
MAX_ASSET_BYTES = 1 << 20
MODEL_INFO_PATH = re.compile(r"/ui/api/models/([^/]+)(?:/versions/(\d{1,18}))?")
MODEL_PAGE_PATH = re.compile(r"/ui/([^/]+)")


def load_static_files(folder=STATIC_FOLDER):
    """`{file name: (bytes, content type)}` of the pages' files (only the known kinds)."""
    return {
        path.name: (path.read_bytes(), CONTENT_TYPES[path.suffix])
        for path in sorted(Path(folder).iterdir())
        if path.is_file() and path.suffix in CONTENT_TYPES
    }


def read_asset(version_path, name):
    """A version's `assets.extra/<name>` as text, or None where it is missing, too large or unreadable."""
    path = Path(version_path) / "assets.extra" / name
    try:
        if path.stat().st_size > MAX_ASSET_BYTES:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _descriptor(text):
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class UiPages:
    """Answers the `/ui` paths of the REST port (see the module doc)."""

    def __init__(self, manager, folder=STATIC_FOLDER):
        self.manager = manager
        self.files = load_static_files(folder)

    @staticmethod
    def handles(path):
        """Whether `path` (the raw request path) is one of the pages'."""
        return path == "/ui" or path.startswith("/ui/")

    def answer(self, method, path):
        """`(status, content type, body)` for a request to a `/ui` path."""
        if method != "GET":
            return self._error(405, f"Method not allowed: {method} {path[:200]}")
        path = path.split("?", 1)[0]
        if path in ("/ui", "/ui/"):
            return self._file("index.html")
        if path.startswith("/ui/static/"):
            return self._file(path[len("/ui/static/") :])
        if path == "/ui/api/models":
            return 200, JSON_TYPE, json.dumps({"models": self.manager.model_names()}).encode()
        match = MODEL_INFO_PATH.fullmatch(path)
        if match:
            return self._model_info(urllib.parse.unquote(match.group(1)), match.group(2))
        if MODEL_PAGE_PATH.fullmatch(path) and not path.startswith("/ui/api"):
            return self._file("model.html")
        return self._error(404, f"Not found: {method} {path[:200]}")

    def _file(self, name):
        found = self.files.get(name)
        if found is None:
            return self._error(404, f"Not found: /ui/static/{name[:200]}")
        body, content_type = found
        return 200, content_type, body

    def _model_info(self, name, version):
        try:
            with self.manager.acquire(name, int(version) if version else None) as entry:
                info = {
                    "model": name,
                    "version": entry.version,
                    "app": _descriptor(read_asset(entry.path, APP_DESCRIPTOR)),
                    "model_card": read_asset(entry.path, MODEL_CARD),
                }
        except ServingError as error:
            return self._error(error.http_status, error.message)
        return 200, JSON_TYPE, json.dumps(info).encode()

    @staticmethod
    def _error(status, message):
        return status, JSON_TYPE, json.dumps({"error": message}).encode()

    async def respond(self, method, path, send):
        """Sends the answer to a `/ui` request (ASGI), with the security headers."""
        status, content_type, body = self.answer(method, path)
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


__all__ = ["UiPages"]
