"""The browser client's files: `GET /` is the page, `GET /static/NAME` its scripts, styles and worklets."""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path

from websockets.http11 import Response

from server.http import text_response

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PREFIX = "/static/"
INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def is_static_path(path: str) -> bool:
    """Whether `path` is the page or one of its files."""
    return path == "/" or path.startswith(STATIC_PREFIX)


def static_response(path: str) -> Response:
    """The file for `path`, or 404 for anything that is not a known file directly in the static folder."""
    name = INDEX if path == "/" else path[len(STATIC_PREFIX):]
    content_type = CONTENT_TYPES.get(Path(name).suffix)
    file = STATIC_DIR / name
    if "/" in name or name.startswith(".") or content_type is None or not file.is_file():
        return text_response(HTTPStatus.NOT_FOUND, f"no file {path}\n")
    return text_response(HTTPStatus.OK, file.read_text(encoding="utf-8"), content_type)
