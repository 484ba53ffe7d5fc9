"""Re-screening on several processes, for a county at a time.

Reading a profile means decrypting and decoding each of its events, which is
CPU-bound Python; one process keeps one core busy. Here the job's thread hands
pages of profile ids, in order, to worker processes; each worker reads its page
with one query, screens it and saves what changed, and the job records progress
as pages complete, in order. A page done twice (after a crash between a worker's
save and the job's progress) changes nothing the second time: re-screening an
unchanged profile raises no flag.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import date
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from fangpin.settings import Settings
from screening.application import PAGE_SIZE, SAVE_ATTEMPTS, ScreeningApplication
from screening.domain import ScreeningJob

logger = logging.getLogger(__name__)

PARALLEL_FROM = 20_000

_app: ScreeningApplication | None = None


def _start(settings: Settings) -> None:
    global _app
    _app = ScreeningApplication(settings)


def _screen(ids: list[UUID], today: date) -> tuple[int, int]:
    """Screen one page of profiles; returns how many were read and changed."""
    app = _app
    assert app is not None, "worker not started"
    for attempt in range(SAVE_ATTEMPTS):
        profiles = list(app.store.load(ids).values())
        catalogue = app.current_catalogue()
        changed = [
            profile
            for profile in profiles
            if profile.screen(
                catalogue,
                today,
                app.system_meta(profile.area_code, household_id=profile.id),
            )
        ]
        try:
            app.save(*changed)
        except IntegrityError:
            # A message changed a profile meanwhile; read the page again.
            logger.info("worker page raced with the inbox (%d)", attempt)
            continue
        return len(profiles), len(changed)
    raise IntegrityError("the page kept racing with incoming messages")


def run_rescreen(
    app: ScreeningApplication,
    settings: Settings,
    job_id: UUID,
    workers: int,
    page_size: int = PAGE_SIZE,
) -> ScreeningJob:
    """Run a re-screening job on ``workers`` processes."""
    job = app.job(job_id)
    today = app.today()
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start, initargs=(settings,)
        ) as pool:
            pending: deque[tuple[UUID, Future[tuple[int, int]]]] = deque()
            position = job.position
            exhausted = False
            while job.status == "running":
                # Keep every worker busy with a page in hand and one queued.
                while not exhausted and len(pending) < workers * 2:
                    ids = app.store.page_ids(position, page_size)
                    if not ids:
                        exhausted = True
                        break
                    pending.append((ids[-1], pool.submit(_screen, ids, today)))
                    position = ids[-1]
                if not pending:
                    job.finish(meta=app.system_meta())
                    app.save(job)
                    break
                last, future = pending.popleft()
                done, changed = future.result()
                job.progress(
                    done=done,
                    changed=changed,
                    position=last,
                    findings=[],
                    meta=app.system_meta(),
                )
                app.save(job)
                app.committed()
    except Exception as error:
        logger.exception("job %s failed", job_id)
        job = app.job(job_id)
        job.fail(reason=type(error).__name__, meta=app.system_meta())
        app.save(job)
        raise
    return job
