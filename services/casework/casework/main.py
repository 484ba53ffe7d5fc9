"""Casework service: cases, their steps and the officials' queues."""

from __future__ import annotations

from fastapi import FastAPI

from casework.api import router
from casework.application import CaseworkApplication
from casework.views import QueueView
from fangpin.projection import LocalFollower, connect_pool
from fangpin.service import Runtime, create_http_app, serve
from fangpin.settings import Settings

PORT = 8103


def build(settings: Settings) -> FastAPI:
    app = CaseworkApplication(settings)
    runtime = Runtime("casework", settings, app, handler=app)
    assert runtime.inbox is not None
    runtime.inbox.consume("INTAKE", "intake.report.>")
    runtime.inbox.consume("SCREENING", "screening.risk.>")
    view = QueueView(connect_pool(settings.database_url), "casework_view")
    view.setup()
    runtime.followers.append(LocalFollower(app, view))
    http = create_http_app(
        runtime,
        "Fangpin casework",
        "Cases from the first signal to verified closure, and officials' queues.",
        [router],
    )
    http.state.queue_view = view
    return http


def main() -> None:
    serve(build, PORT)


if __name__ == "__main__":
    main()
