"""What an uploader watching a job sees while it runs: the rows read, then the
rows done, growing batch by batch until they account for every row of the file.
Registry imports and department uploads share the job runner."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path

from intake.application import IntakeApplication
from intake.feeds import RecordFileUploads
from intake.imports import Importer, ImportJob, MemoryJobs
from intake.spreadsheet import Value, csv_bytes

from .conftest import DISTRICT, id_number, member_row
from .test_record_uploads import HEADERS, MEDICAL, SETTLEMENT, register


class RecordingJobs(MemoryJobs):
    """Keeps the job as every update left it, as someone polling would see it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[ImportJob] = []

    def update(self, job: ImportJob) -> None:
        super().update(job)
        self.seen.append(dataclasses.replace(job))

    def counts(self, state: str, counter: str) -> list[int]:
        return [getattr(job, counter) for job in self.seen if job.state == state]


def test_a_registry_import_shows_rows_read_then_done_growing_per_chunk(
    app: IntakeApplication, write_sheet
):
    # 2,501 households of four: the reader reports every 10,000 rows, and 500
    # households (2,000 rows) are saved per transaction.
    rows = [
        member_row(
            f"H{household}",
            serial,
            "户主" if serial % 4 == 0 else "子女",
            id_number=id_number(1, date(1950, 1, 1) + timedelta(days=serial)),
        )
        for household in range(2501)
        for serial in range(household * 4, household * 4 + 4)
    ]
    jobs = RecordingJobs()
    importer = Importer(app, jobs, chunk_size=500)
    path = write_sheet(rows, fmt="csv")

    job = importer.run(importer.prepare(path, path.name, DISTRICT), path, DISTRICT)

    assert jobs.counts("reading", "rows_read") == [0, 10_000, 10_004]
    assert {seen.rows_total for seen in jobs.seen if seen.state == "reading"} == {None}
    assert jobs.counts("importing", "rows_done") == [
        0,
        2_000,
        4_000,
        6_000,
        8_000,
        10_000,
        10_004,
    ]
    assert jobs.seen[-1] == job and job.state == "done"
    assert (job.rows_read, job.rows_total, job.rows_done) == (10_004,) * 3
    assert (job.accepted, job.rejected, job.registered) == (10_004, 0, 2_501)
    assert jobs.get(job.id) == job


def test_rows_refused_on_reading_count_as_done_before_the_first_chunk(
    app: IntakeApplication, write_sheet
):
    rows = [
        member_row("H1", 1),
        member_row("H2", 2),
        member_row("H2", 3, "配偶", id_number="51090419700101001"),
        member_row("H3", 4),
        member_row("H4", 5),
        member_row("H5", 6),
    ]
    jobs = RecordingJobs()
    importer = Importer(app, jobs, chunk_size=2)
    path = write_sheet(rows)

    job = importer.run(importer.prepare(path, path.name, DISTRICT), path, DISTRICT)

    # Both of H2's rows are refused on reading; four households are left.
    assert jobs.counts("importing", "rows_done") == [2, 4, 6]
    assert jobs.counts("importing", "accepted") == [0, 2, 4]
    assert (job.rows_total, job.rows_done, job.accepted, job.rejected) == (6, 6, 4, 2)


def test_a_department_upload_shows_rows_read_then_done_growing_per_batch(
    app: IntakeApplication, tmp_path: Path, monkeypatch
):
    monkeypatch.setattr("intake.feeds.READ_PROGRESS_ROWS", 2)
    known = register(app, 1)
    rows: list[list[Value]] = [
        [f"S-{number}", known, f"2026-11-{number:02d}", 900, 600, 300]
        for number in range(1, 8)
    ]
    # The fourth row has no date: refused on reading.
    rows.insert(3, ["S-X", known, "", 900, 600, 300])
    path = tmp_path / "settlements.csv"
    path.write_bytes(csv_bytes([*HEADERS, "out_of_pocket"], rows))
    jobs = RecordingJobs()
    uploads = RecordFileUploads(app, jobs, batch_size=2)

    job = uploads.run(
        uploads.prepare(path, path.name, SETTLEMENT, MEDICAL), path, MEDICAL
    )

    read = jobs.counts("reading", "rows_read")
    assert read[0] == 0 and read[-1] < 8
    assert len(read) >= 3 and read == sorted(set(read)), read
    # The refused row is done at once; then seven records, two per batch.
    assert jobs.counts("importing", "rows_done") == [1, 3, 5, 7, 8]
    assert jobs.counts("importing", "accepted") == [0, 2, 4, 6, 7]
    assert jobs.seen[-1] == job and job.state == "done"
    assert (job.rows_read, job.rows_total, job.rows_done) == (8, 8, 8)
    assert (job.accepted, job.duplicate, job.rejected) == (7, 0, 1)
