"""Assistance service: the catalogue of measures, grants and budgets."""

from __future__ import annotations

from fastapi import FastAPI

from assistance.api import router
from assistance.application import AssistanceApplication
from fangpin.service import Runtime, create_http_app, serve
from fangpin.settings import Settings

PORT = 8104


def build(settings: Settings) -> FastAPI:
    app = AssistanceApplication(settings)
    runtime = Runtime("assistance", settings, app, handler=app)
    assert runtime.inbox is not None
    runtime.inbox.consume("CASEWORK", "casework.case.>")
    return create_http_app(
        runtime,
        "Fangpin assistance",
        "Measures by target type, grants against cases, budgets.",
        [router],
    )


def main() -> None:
    serve(build, PORT)


if __name__ == "__main__":
    main()
