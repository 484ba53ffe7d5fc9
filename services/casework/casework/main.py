"""Casework service: cases, their steps, deadlines and the officials' queues."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from casework.api import router
from casework.application import CaseworkApplication, utc_now
from casework.views import QueueView
from fangpin.projection import LocalFollower, connect_pool
from fangpin.service import Runtime, create_http_app, serve
from fangpin.settings import Settings

PORT = 8103
logger = logging.getLogger(__name__)


class DeadlineWatch:
    """Looks for steps past their limits and warns or escalates them. Every
    replica may run one: the case aggregate keeps it to one warning per step."""

    def __init__(self, app: CaseworkApplication, view: QueueView, interval: float):
        self.app = app
        self.view = view
        self.interval = interval

    def check_once(self) -> tuple[int, int]:
        now = self.app.clock()
        candidates = self.view.deadline_candidates(now)
        return self.app.watch_deadlines(candidates, now)

    def wake(self) -> None:
        """Deadlines do not move when commands commit."""

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                warned, escalated = await asyncio.to_thread(self.check_once)
                if warned or escalated:
                    logger.info("deadlines: %d warned, %d escalated", warned, escalated)
            except Exception:
                logger.exception("deadline check failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.interval)


def build(settings: Settings) -> FastAPI:
    app = CaseworkApplication(settings, clock=utc_now)
    runtime = Runtime("casework", settings, app, handler=app)
    assert runtime.inbox is not None
    runtime.inbox.consume("INTAKE", "intake.>")
    runtime.inbox.consume("SCREENING", "screening.risk.>")
    # A consumer of its own: the risk consumer's filter stays as deployed.
    runtime.inbox.consume(
        "SCREENING",
        "screening.catalogue.published",
        durable="casework-screening-catalogue",
    )
    runtime.inbox.consume("ASSISTANCE", "assistance.aid.granted")
    view = QueueView(connect_pool(settings.database_url), "casework_view")
    view.setup()
    dated = view.prepare_deadlines(app.deadline_rules())
    if dated:
        logger.info("queue view: dated %d open steps", dated)
    runtime.followers.append(LocalFollower(app, view))
    runtime.followers.append(DeadlineWatch(app, view, settings.deadline_interval))
    http = create_http_app(
        runtime,
        "Fangpin casework",
        "Cases from the first signal to verified closure: the identification "
        "steps, one household one plan, deadlines, warnings and escalation.",
        [router],
    )
    http.state.queue_view = view
    return http


def main() -> None:
    serve(build, PORT)


if __name__ == "__main__":
    main()
