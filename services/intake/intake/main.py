"""Intake service: the household registry, grid reports and department feeds."""

from __future__ import annotations

import json

from fastapi import FastAPI
from nats.aio.msg import Msg
from pydantic import ValidationError

from fangpin.contracts import ContractError, describe_validation_error
from fangpin.inbox import Incoming, tracking_key
from fangpin.projection import connect_pool
from fangpin.service import Runtime, create_http_app, serve
from fangpin.settings import Settings
from intake.api import router
from intake.application import (
    LONGEST_RECORD_ID,
    DepartmentRecordIn,
    IntakeApplication,
    UnreadableRecord,
    department_subject,
)
from intake.feeds import RecordFileUploads
from intake.imports import Importer, PostgresJobs
from intake.search import HouseholdFinder, PostgresSearchIndex, RegistryIndexer
from intake.views import IntakeFollower, IntakeView

PORT = 8101
VIEW_SCHEMA = "intake_view"


def parse_department_record(msg: Msg) -> Incoming:
    """Department feeds carry records, not envelopes; the subject names the kind."""
    department_subject(msg.subject)
    try:
        record = DepartmentRecordIn.model_validate_json(msg.data)
    except ValidationError as error:
        reason = describe_validation_error(error)
        unreadable = _unreadable(msg.data, reason)
        if unreadable is None:
            raise ContractError(reason) from None
        return Incoming(tracking_key(msg), msg.subject, None, unreadable)
    return Incoming(tracking_key(msg), msg.subject, None, record)


def _unreadable(raw: bytes, reason: str) -> UnreadableRecord | None:
    """A record that breaks the schema but names its record id, so the department
    can be told; anything less readable can only be parked."""
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    record_id = document.get("record_id")
    if not isinstance(record_id, str) or not record_id.strip():
        return None
    if len(record_id) > LONGEST_RECORD_ID:
        return None
    return UnreadableRecord(record_id=record_id, reason=reason, content=raw.decode())


def build(settings: Settings) -> FastAPI:
    app = IntakeApplication(settings, pseudonym_key=settings.pseudonym_key)
    runtime = Runtime("intake", settings, app, handler=app)
    assert runtime.inbox is not None
    runtime.inbox.parse = parse_department_record
    runtime.inbox.consume("DEPT", "dept.>", durable="intake-dept")

    pool = connect_pool(settings.database_url)
    view = IntakeView(pool, VIEW_SCHEMA)
    view.setup()
    runtime.followers.append(IntakeFollower(app, view))
    jobs = PostgresJobs(pool, VIEW_SCHEMA)
    jobs.setup()
    search_index = PostgresSearchIndex(pool, VIEW_SCHEMA)
    search_index.setup()
    runtime.followers.append(RegistryIndexer(app, search_index))

    http = create_http_app(
        runtime,
        "Fangpin intake",
        "Household registry, its imports and its search, grid monitors' reports, "
        "department records and their comparison status.",
        [router],
    )
    http.state.view = view
    http.state.importer = Importer(app, jobs, on_commit=runtime.committed)
    http.state.uploads = RecordFileUploads(app, jobs, on_commit=runtime.committed)
    http.state.finder = HouseholdFinder(app, search_index)
    return http


def main() -> None:
    serve(build, PORT)


if __name__ == "__main__":
    main()
