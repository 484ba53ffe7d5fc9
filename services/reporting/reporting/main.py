"""Reporting service: read models of every stream, for overviews, ledgers,
assessment and the history behind every figure.

    fangpin-reporting                  serve the API
    fangpin-reporting rebuild [--check]  rebuild the tables from the streams
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from fastapi import FastAPI

from fangpin.inbox import parse_event
from fangpin.projection import connect_pool
from fangpin.service import Runtime, create_http_app, serve
from fangpin.settings import Settings
from reporting import rebuild
from reporting.api import router
from reporting.views import ReportingView

PORT = 8105
SCHEMA = "reporting"
logger = logging.getLogger(__name__)


def build(settings: Settings) -> FastAPI:
    pool = connect_pool(settings.database_url, size=max(settings.pool_size, 5))
    view = ReportingView(pool, SCHEMA)
    if not view.layout_is_current():
        # Tables of an older layout cannot be brought forward row by row; the
        # streams hold everything, so they are built again from there.
        logger.warning("reporting tables are of an older layout; rebuilding them")
        asyncio.run(rebuild.rebuild(settings, SCHEMA, pool=pool, only_if_outdated=True))
    view.setup()
    runtime = Runtime("reporting", settings, handler=view)
    assert runtime.inbox is not None and runtime.inbox.parse is parse_event
    for stream, subject in rebuild.UPSTREAM.items():
        runtime.inbox.consume(stream, subject)
    http = create_http_app(
        runtime,
        "Fangpin reporting",
        "Overviews by area, the monthly work ledger, assessment of towns and "
        "departments, department feed status and spreadsheet exports, from every "
        "service's events; every figure lists the households and cases behind it, "
        "live or as of a past date.",
        [router],
    )
    http.state.view = view
    return http


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fangpin-reporting")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the API (the default)")
    rebuild.add_arguments(
        commands.add_parser("rebuild", help="rebuild the tables from the streams")
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "rebuild":
        return rebuild.run(args)
    serve(build, PORT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
