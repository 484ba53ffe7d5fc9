"""Registry imports as jobs: a county's file of a million rows is read, checked
and saved in batches while the uploader watches the progress.

A job's record (progress, counts and the rejected rows' problems) holds no
personal data, so it is kept in plain tables beside intake's read model; the
households themselves go into the encrypted event store, a batch of households
per transaction. A department's file of records runs as the same kind of job
(:mod:`intake.feeds`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from psycopg import sql

from fangpin.auth import Principal
from fangpin.contracts import Role
from fangpin.projection import Pool
from intake.application import REGISTRARS, IntakeApplication, Saved
from intake.errors import BadFile, ImportNotFound, NotAllowed
from intake.registry import HouseholdData
from intake.registryfile import (
    BY_KEY,
    NOT_IMPORTED,
    SHEET,
    Draft,
    Problem,
    RegistrySheet,
)
from intake.spreadsheet import Value, open_table

logger = logging.getLogger(__name__)

State = Literal["queued", "reading", "importing", "done", "failed", "interrupted"]
# A running job records progress at least every few seconds; one silent this
# long died with the process that ran it.
SILENCE_MEANS_INTERRUPTED = timedelta(minutes=10)
CHUNK_HOUSEHOLDS = 500
SAVE_ATTEMPTS = 3
IN_ANOTHER_HOUSEHOLD = "this person already belongs to another registered household"
ELSEWHERE = "the household is registered in a village outside your area"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ImportJob:
    id: UUID
    file_name: str
    format: str
    created_by: str
    area_code: str
    state: State = "queued"
    rows_read: int = 0
    rows_total: int | None = None
    rows_done: int = 0
    accepted: int = 0
    rejected: int = 0
    households: int = 0
    registered: int = 0
    updated: int = 0
    unchanged: int = 0
    # A department's file of records, not a registry file: whose, of what kind,
    # and how many of its records had been taken before.
    department: str | None = None
    record_kind: str | None = None
    duplicate: int = 0
    error: str | None = None
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    finished_at: datetime | None = None

    def shown_state(self, now: datetime) -> State:
        # A queued job waits, silent, for the one before it to finish.
        working = self.state in ("reading", "importing")
        if working and now - self.updated_at > SILENCE_MEANS_INTERRUPTED:
            return "interrupted"
        return self.state

    def visible_to(self, principal: Principal) -> bool:
        if principal.user_id == self.created_by:
            return True
        if self.department is not None and principal.role is Role.DEPARTMENT:
            return principal.department == self.department
        return principal.role is Role.DISTRICT and principal.covers(self.area_code)


class JobStore(Protocol):
    def create(self, job: ImportJob) -> None: ...

    def update(self, job: ImportJob) -> None: ...

    def add_problems(self, job_id: UUID, problems: Sequence[Problem]) -> None: ...

    def get(self, job_id: UUID) -> ImportJob | None: ...

    def problems(self, job_id: UUID, limit: int | None = None) -> list[Problem]: ...


class MemoryJobs:
    """For unit tests and the benchmark: jobs live as long as the process."""

    def __init__(self) -> None:
        self._jobs: dict[UUID, ImportJob] = {}
        self._problems: dict[UUID, list[Problem]] = {}
        self._lock = threading.Lock()

    def create(self, job: ImportJob) -> None:
        with self._lock:
            self._jobs[job.id] = dataclasses.replace(job)
            self._problems[job.id] = []

    def update(self, job: ImportJob) -> None:
        with self._lock:
            self._jobs[job.id] = dataclasses.replace(job)

    def add_problems(self, job_id: UUID, problems: Sequence[Problem]) -> None:
        with self._lock:
            self._problems[job_id].extend(problems)

    def get(self, job_id: UUID) -> ImportJob | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return dataclasses.replace(job) if job else None

    def problems(self, job_id: UUID, limit: int | None = None) -> list[Problem]:
        with self._lock:
            found = sorted(self._problems.get(job_id, []), key=lambda p: p.row)
        return found[:limit] if limit is not None else found


_COUNTERS = (
    "rows_read",
    "rows_total",
    "rows_done",
    "accepted",
    "rejected",
    "households",
    "registered",
    "updated",
    "unchanged",
)
# Added after the first release: tables made before them gain them on setup.
_LATER_COLUMNS = (
    ("department", "text"),
    ("record_kind", "text"),
    ("duplicate", "bigint NOT NULL DEFAULT 0"),
)


class PostgresJobs:
    """Jobs in the read model's schema: every replica answers for every job."""

    def __init__(self, pool: Pool, schema: str):
        self.pool = pool
        self.jobs = sql.SQL("{0}.import_jobs").format(sql.Identifier(schema))
        self.found = sql.SQL("{0}.import_problems").format(sql.Identifier(schema))
        self.schema = schema

    def setup(self) -> None:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as curs:
            curs.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                (f"fangpin-setup-{self.schema}",),
            )
            curs.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(
                    sql.Identifier(self.schema)
                )
            )
            counters = sql.SQL(", ").join(
                sql.SQL("{0} bigint").format(sql.Identifier(name)) for name in _COUNTERS
            )
            curs.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {0} (id uuid PRIMARY KEY, "
                    "file_name text NOT NULL, format text NOT NULL, "
                    "created_by text NOT NULL, area_code text NOT NULL, "
                    "state text NOT NULL, error text, {1}, "
                    "created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, "
                    "finished_at timestamptz)"
                ).format(self.jobs, counters)
            )
            curs.execute(
                sql.SQL("ALTER TABLE {0} {1}").format(
                    self.jobs,
                    sql.SQL(", ").join(
                        sql.SQL("ADD COLUMN IF NOT EXISTS {0} {1}").format(
                            sql.Identifier(name), sql.SQL(definition)
                        )
                        for name, definition in _LATER_COLUMNS
                    ),
                )
            )
            curs.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {0} (job_id uuid NOT NULL, "
                    "row_number integer NOT NULL, column_header text NOT NULL, "
                    "reason text NOT NULL, household_number text)"
                ).format(self.found)
            )
            curs.execute(
                sql.SQL(
                    "CREATE INDEX IF NOT EXISTS import_problems_by_job "
                    "ON {0} (job_id, row_number)"
                ).format(self.found)
            )

    def _columns(self, job: ImportJob) -> dict[str, object]:
        return {
            name: getattr(job, name)
            for name in (
                "id",
                "file_name",
                "format",
                "created_by",
                "area_code",
                "state",
                "error",
                *_COUNTERS,
                *(name for name, _ in _LATER_COLUMNS),
                "created_at",
                "updated_at",
                "finished_at",
            )
        }

    def create(self, job: ImportJob) -> None:
        columns = self._columns(job)
        statement = sql.SQL("INSERT INTO {0} ({1}) VALUES ({2})").format(
            self.jobs,
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder(name) for name in columns),
        )
        with self.pool.connection() as conn:
            conn.execute(statement, columns)

    def update(self, job: ImportJob) -> None:
        columns = self._columns(job)
        statement = sql.SQL("UPDATE {0} SET {1} WHERE id = %(id)s").format(
            self.jobs,
            sql.SQL(", ").join(
                sql.SQL("{0} = {1}").format(sql.Identifier(name), sql.Placeholder(name))
                for name in columns
                if name != "id"
            ),
        )
        with self.pool.connection() as conn:
            conn.execute(statement, columns)

    def add_problems(self, job_id: UUID, problems: Sequence[Problem]) -> None:
        if not problems:
            return
        statement = sql.SQL(
            "COPY {0} (job_id, row_number, column_header, reason, household_number) "
            "FROM STDIN"
        ).format(self.found)
        with (
            self.pool.connection() as conn,
            conn.cursor() as curs,
            curs.copy(statement) as copy,
        ):
            for problem in problems:
                copy.write_row(
                    (
                        job_id,
                        problem.row,
                        problem.column,
                        problem.reason,
                        problem.household_number,
                    )
                )

    def get(self, job_id: UUID) -> ImportJob | None:
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(
                sql.SQL("SELECT * FROM {0} WHERE id = %s").format(self.jobs), (job_id,)
            )
            row = curs.fetchone()
        if row is None:
            return None
        return ImportJob(**row)

    def problems(self, job_id: UUID, limit: int | None = None) -> list[Problem]:
        with self.pool.connection() as conn, conn.cursor() as curs:
            curs.execute(
                sql.SQL(
                    "SELECT row_number, column_header, reason, household_number "
                    "FROM {0} WHERE job_id = %s ORDER BY row_number LIMIT %s"
                ).format(self.found),
                (job_id, limit),
            )
            return [
                Problem(
                    row["row_number"],
                    row["column_header"],
                    row["reason"],
                    row["household_number"],
                )
                for row in curs.fetchall()
            ]


class JobRunner:
    """Runs its jobs one at a time, each in a thread of its own, and records
    how each one ended; ``on_commit`` wakes the relay after every saved batch."""

    # What a failed job's error says about the work saved before it stopped.
    after_failure = "what was saved so far stays"

    def __init__(
        self, jobs: JobStore, on_commit: Callable[[], None] = lambda: None
    ) -> None:
        self.jobs = jobs
        self.on_commit = on_commit
        self._one_at_a_time = threading.Lock()

    def start(self, job: ImportJob, path: Path, principal: Principal) -> None:
        """Run the job in the background; it deletes the file when done."""
        worker = threading.Thread(
            target=self.run,
            args=(job, path, principal),
            kwargs={"delete_file": True},
            name=f"import-{job.id}",
            daemon=True,
        )
        worker.start()

    def run(
        self,
        job: ImportJob,
        path: Path,
        principal: Principal,
        delete_file: bool = False,
    ) -> ImportJob:
        with self._one_at_a_time:
            try:
                self._run(job, path, principal)
            except Exception as error:
                # Only the type: the text could quote a cell of the file. A
                # BadFile's reason names rows and columns only, and says what
                # to change.
                logger.error("import %s failed (%s)", job.id, type(error).__name__)
                job.state = "failed"
                job.error = (
                    f"{error.reason}; {self.after_failure}"
                    if isinstance(error, BadFile)
                    else f"the import stopped ({type(error).__name__}); "
                    f"{self.after_failure}"
                )
                # With the database away this fails too; the job then shows as
                # interrupted once it has been silent long enough.
                with contextlib.suppress(Exception):
                    self._record(job, finished=True)
            finally:
                if delete_file:
                    path.unlink(missing_ok=True)
        return job

    def _run(self, job: ImportJob, path: Path, principal: Principal) -> None:
        raise NotImplementedError

    def _record(self, job: ImportJob, finished: bool = False) -> None:
        job.updated_at = _now()
        if finished:
            job.finished_at = job.updated_at
        self.jobs.update(job)


class Importer(JobRunner):
    """Registry imports, run one at a time."""

    after_failure = (
        "the households saved so far stay, and importing the file again completes it"
    )

    def __init__(
        self,
        app: IntakeApplication,
        jobs: JobStore,
        on_commit: Callable[[], None] = lambda: None,
        chunk_size: int = CHUNK_HOUSEHOLDS,
    ):
        super().__init__(jobs, on_commit)
        self.app = app
        self.chunk_size = chunk_size

    def submit(self, path: Path, file_name: str, principal: Principal) -> ImportJob:
        """Check the file's type and headers now, import it in the background.

        The job owns the file from here on and deletes it when done.
        """
        job = self.prepare(path, file_name, principal)
        self.start(job, path, principal)
        return job

    def prepare(self, path: Path, file_name: str, principal: Principal) -> ImportJob:
        if principal.role not in REGISTRARS:
            raise NotAllowed("only village, town and district officials import")
        with open_table(path, SHEET) as table:
            RegistrySheet(table.headers)
            file_format = table.format
            if next(table.rows, None) is None:
                raise BadFile("the file has a header row but no data rows")
        job = ImportJob(
            id=uuid.uuid4(),
            file_name=file_name[:200],
            format=file_format,
            created_by=principal.user_id,
            area_code=principal.area_code,
        )
        self.jobs.create(job)
        return job

    def job(self, job_id: UUID, principal: Principal) -> ImportJob:
        job = self.jobs.get(job_id)
        # A department's upload is followed at its own address.
        if job is None or job.department is not None or not job.visible_to(principal):
            raise ImportNotFound("no such import of yours")
        return job

    def _run(self, job: ImportJob, path: Path, principal: Principal) -> None:
        job.state = "reading"
        self._record(job)

        def read_so_far(count: int) -> None:
            job.rows_read = count
            self._record(job)

        with open_table(path, SHEET) as table:
            parsed = RegistrySheet(table.headers).read(
                table.rows, principal, read_so_far
            )
        job.rows_total = parsed.rows
        job.households = len(parsed.drafts)
        job.state = "importing"
        self.jobs.add_problems(job.id, parsed.problems)
        job.rejected = job.rows_done = len(parsed.problems)
        self._record(job)
        logger.info(
            "import %s: %d rows, %d households, %d rows rejected on reading",
            job.id,
            parsed.rows,
            len(parsed.drafts),
            len(parsed.problems),
        )

        ready = [draft for draft in parsed.drafts if not draft.problems]
        # A person may move from a household later in the file to one earlier in
        # it: households refused only for that are tried again at the end.
        retry: list[Draft] = []
        for chunk, results in self._save_all(ready, job, principal):
            for draft, saved in zip(chunk, results, strict=True):
                if saved.conflicts and not saved.reason:
                    retry.append(draft)
                else:
                    self._count(job, draft, saved)
            self._record(job)
        for chunk, results in self._save_all(retry, job, principal):
            for draft, saved in zip(chunk, results, strict=True):
                self._count(job, draft, saved)
            self._record(job)

        job.state = "done"
        self._record(job, finished=True)
        logger.info(
            "import %s done: %d rows accepted, %d rejected",
            job.id,
            job.accepted,
            job.rejected,
        )

    def _save_all(
        self, drafts: list[Draft], job: ImportJob, principal: Principal
    ) -> Iterator[tuple[list[Draft], list[Saved]]]:
        for chunk in _chunks(drafts, self.chunk_size):
            batch = [draft.data() for draft in chunk]
            results = save_batch(self.app, batch, principal, job.id)
            self.on_commit()
            yield chunk, results

    def _count(self, job: ImportJob, draft: Draft, saved: Saved) -> None:
        job.rows_done += len(draft.rows)
        if saved.outcome != "rejected":
            job.accepted += len(draft.rows)
            setattr(job, saved.outcome, getattr(job, saved.outcome) + 1)
            return
        job.rejected += len(draft.rows)
        if saved.reason is not None:
            head = draft.head_row or draft.rows[0]
            draft.fail(head, BY_KEY["area_code"].header, ELSEWHERE)
        for position in saved.conflicts:
            row = draft.members[position][0]
            draft.fail(row, BY_KEY["id_number"].header, IN_ANOTHER_HOUSEHOLD)
        self.jobs.add_problems(job.id, draft.cascade(NOT_IMPORTED))


def save_batch(
    app: IntakeApplication,
    batch: list[HouseholdData],
    principal: Principal,
    job_id: UUID,
) -> list[Saved]:
    for attempt in range(1, SAVE_ATTEMPTS + 1):
        try:
            return app.save_households(batch, principal, correlation_id=job_id)
        except IntegrityError:
            # Someone changed one of these households or people meanwhile:
            # load them again and redo the batch.
            if attempt == SAVE_ATTEMPTS:
                raise
            logger.warning("import %s: batch lost a race; retrying", job_id)
    raise AssertionError("unreachable")


def _chunks(drafts: list[Draft], size: int) -> Iterator[list[Draft]]:
    for start in range(0, len(drafts), size):
        yield drafts[start : start + size]


def problem_rows(problems: Iterable[Problem]) -> Iterator[list[Value]]:
    for problem in problems:
        yield [problem.row, problem.household_number, problem.column, problem.reason]


PROBLEM_HEADERS = ["行号 (row)", "户编号", "列 (column)", "原因 (reason)"]
