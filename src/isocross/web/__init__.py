"""The web trading screen, served by ``isocross serve`` at ``/``.

:func:`install` is what the service calls (``isocross.api.app._install_web``): it serves the
single page (``/`` the trade screen, ``/margin-modes`` the margin-mode management page), its
static assets under ``/static`` (plain ES modules, CSS and the vendored TradingView
lightweight-charts build: the page needs no network beyond the service itself) and one helper
route, ``POST /web/scenario``, that evaluates a built-in calculator example (the seeds' $1,000
account) for the what-if panel.

Everything the page shows about an account comes from the native API (``/api/v1``), signed in
the browser with the key the trader signs in with; this module adds no account access.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from isocross.web.scenario import ScenarioIn, evaluate_example

STATIC = Path(str(resources.files("isocross.web").joinpath("static")))
PAGES = ("/", "/margin-modes")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self' ws: wss:; font-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class _Static(StaticFiles):
    """Static files the browser revalidates on every load (a new release shows at once)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def page() -> str:
    """The page's HTML (the same document for every page: the script picks the view)."""
    return (STATIC / "index.html").read_text("utf-8")


def install(app: FastAPI) -> None:
    """Serve the trading screen at ``/`` (see the module docstring)."""
    app.mount("/static", _Static(directory=STATIC), name="static")

    async def index() -> HTMLResponse:
        return HTMLResponse(page(), headers=PAGE_HEADERS)

    for path in PAGES:
        app.add_api_route(path, index, methods=["GET"], include_in_schema=False)

    async def scenario(body: ScenarioIn) -> JSONResponse:
        return JSONResponse(evaluate_example(body))

    app.add_api_route(
        "/web/scenario",
        scenario,
        methods=["POST"],
        include_in_schema=False,
        response_class=JSONResponse,
    )


__all__ = ["PAGES", "STATIC", "install", "page"]
