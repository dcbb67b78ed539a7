"""The web UI: static HTML, CSS and JavaScript served by `ragwright serve` at `/`.

The assets hold no data and need no key; every data call the page makes goes through the /v1
API with the key the user entered (`Authorization: Bearer`). Nothing is loaded from elsewhere:
the Content-Security-Policy below allows only this origin, so the UI works offline and text
from documents can never run as script."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).resolve().parent / "static"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidated by ETag: a new version of ragwright shows its new UI at once
}


class _Assets(StaticFiles):
    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(HEADERS)
        return response


def mount_ui(app: FastAPI) -> None:
    """Serve the UI: the page at `/`, its assets under `/ui/`. Both stay out of the OpenAPI schema."""

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)  # HEAD: uptime checkers use it
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=HEADERS)

    app.mount("/ui", _Assets(directory=STATIC), name="ui")
