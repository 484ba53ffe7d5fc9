"""Assistance service: the catalogue of measures, grants and budgets."""

from __future__ import annotations

from fastapi import FastAPI

from assistance.api import router
from assistance.application import AssistanceApplication
from assistance.views import AssistanceView
from fangpin.projection import LocalFollower, connect_pool
from fangpin.service import Runtime, create_http_app, serve
from fangpin.settings import Settings

PORT = 8104


def build(settings: Settings) -> FastAPI:
    app = AssistanceApplication(settings)
    runtime = Runtime("assistance", settings, app, handler=app)
    assert runtime.inbox is not None
    runtime.inbox.consume("CASEWORK", "casework.case.>")
    view = AssistanceView(connect_pool(settings.database_url), "assistance_view")
    view.setup()
    runtime.followers.append(LocalFollower(app, view))
    http = create_http_app(
        runtime,
        "Fangpin assistance",
        "Measures by target type, the plans' assignments, grants and budgets.",
        [router],
    )
    http.state.view = view
    return http


def main() -> None:
    serve(build, PORT)


if __name__ == "__main__":
    main()
