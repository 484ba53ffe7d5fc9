"""Screening service: risk profiles and the indicator catalogue."""

from __future__ import annotations

import os

from fastapi import FastAPI

from fangpin.service import Runtime, create_http_app, serve
from fangpin.settings import Settings
from screening.api import JobResumer, router
from screening.application import ScreeningApplication

PORT = 8102


def build(settings: Settings) -> FastAPI:
    # Re-screening a county is CPU-bound: one worker process per core.
    app = ScreeningApplication(settings, job_workers=os.cpu_count() or 1)
    runtime = Runtime("screening", settings, app, handler=app)
    # Jobs commit pages from their own thread; the relay should not wait to poll.
    app.committed = runtime.committed
    runtime.followers.append(JobResumer(app))
    assert runtime.inbox is not None
    runtime.inbox.consume("INTAKE", "intake.>")
    return create_http_app(
        runtime,
        "Fangpin screening",
        "Each household's risk profile, screened against the indicator catalogue; "
        "the catalogue, its drafts, re-screening and back-testing.",
        [router],
    )


def main() -> None:
    serve(build, PORT)


if __name__ == "__main__":
    main()
