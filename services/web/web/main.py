"""Web process: the pages officials, grid monitors and departments use."""

from __future__ import annotations

import logging

import uvicorn

from web.app import create_app
from web.config import get_web_settings

PORT = 8100


def main() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    settings = get_web_settings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port or PORT,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
