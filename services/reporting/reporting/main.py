"""Reporting service: read models of every stream, for dashboards and history."""

from __future__ import annotations

from fastapi import FastAPI

from fangpin.inbox import parse_event
from fangpin.projection import connect_pool
from fangpin.service import Runtime, create_http_app, serve
from fangpin.settings import Settings
from reporting.api import router
from reporting.views import ReportingView

PORT = 8105
UPSTREAM = {
    "INTAKE": "intake.>",
    "SCREENING": "screening.>",
    "CASEWORK": "casework.>",
    "ASSISTANCE": "assistance.>",
}


def build(settings: Settings) -> FastAPI:
    view = ReportingView(connect_pool(settings.database_url), "reporting")
    view.setup()
    runtime = Runtime("reporting", settings, handler=view)
    assert runtime.inbox is not None and runtime.inbox.parse is parse_event
    for stream, subject in UPSTREAM.items():
        runtime.inbox.consume(stream, subject)
    http = create_http_app(
        runtime,
        "Fangpin reporting",
        "Overviews, case timelines and exports, from every service's events.",
        [router],
    )
    http.state.view = view
    return http


def main() -> None:
    serve(build, PORT)


if __name__ == "__main__":
    main()
