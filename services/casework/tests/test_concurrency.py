"""Two replicas, or two officials, at the same moment on one PostgreSQL: one
warning per step however many deadline watches run, and one decision per case
however many officials press the button."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError
from fastapi.testclient import TestClient

from casework.application import CaseworkApplication
from casework.domain import Case
from casework.main import DeadlineWatch
from casework.views import QueueView
from fangpin.auth import Principal, issue_token
from fangpin.contracts import Role
from fangpin.projection import LocalFollower, connect_pool
from fangpin.settings import Settings

from .conftest import DISTRICT, Service, open_case, report, to_decision

pytestmark = pytest.mark.integration

STEPS_LATE = 12
DECISIONS = ("TargetConfirmed", "CaseRejected")


class Rendezvous:
    """The first ``parties`` callers wait for one another; later callers pass."""

    def __init__(self, parties: int):
        self.barrier = threading.Barrier(parties, timeout=10)
        self.left = parties
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            if self.left == 0:
                return
            self.left -= 1
        self.barrier.wait()


class Replica:
    """One casework process's application. Its first case load waits until the
    other replica has loaded too (the same case: both go down the same list), so
    both decide on one version of it and one of them must lose."""

    def __init__(
        self,
        settings: Settings,
        both_loaded: Rendezvous,
        clock: Callable[[], datetime],
    ):
        self.app = CaseworkApplication(settings, clock=clock)
        self.lost_races = 0
        load = self.app.get_or_none
        save = self.app.save

        def get_or_none(aggregate_id: UUID, kind: Any) -> Any:
            found = load(aggregate_id, kind)
            if kind is Case:
                both_loaded()
            return found

        def save_or_lose(*aggregates: Any) -> Any:
            try:
                return save(*aggregates)
            except IntegrityError:
                self.lost_races += 1
                raise

        self.app.get_or_none = get_or_none  # type: ignore[method-assign]
        self.app.save = save_or_lose  # type: ignore[method-assign]


def stored(app: CaseworkApplication, case_id: UUID) -> Counter[str]:
    return Counter(type(event).__name__ for event in app.events.get(case_id))


def test_two_replicas_warn_and_escalate_each_late_step_once(settings):
    writer = CaseworkApplication(settings)
    households = [uuid.uuid4() for _ in range(STEPS_LATE)]
    writer.process([report(household, n) for n, household in enumerate(households)])
    case_ids = [open_case(writer, household).id for household in households]
    view = QueueView(connect_pool(settings.database_url, size=2), "casework_view")
    view.setup()
    view.prepare_deadlines(writer.deadline_rules())
    follower = LocalFollower(writer, view)
    follower.catch_up_once()
    started = min(
        writer.case(case_id, DISTRICT).step_started_at for case_id in case_ids
    )
    # Past every home visit's escalation (four working days) whatever the weekday.
    later = started + timedelta(days=10)
    candidates = view.deadline_candidates(later)
    assert {row["case_id"] for row in candidates} == set(case_ids)

    both_loaded = Rendezvous(2)
    replicas = [Replica(settings, both_loaded, lambda: later) for _ in range(2)]
    start = threading.Barrier(2, timeout=10)

    def watch(replica: Replica) -> tuple[int, int]:
        start.wait()
        return replica.app.watch_deadlines(candidates, later)

    with ThreadPoolExecutor(2) as threads:
        counts = list(threads.map(watch, replicas))

    assert sum(warned for warned, _ in counts) == STEPS_LATE
    assert sum(escalated for _, escalated in counts) == STEPS_LATE
    assert sum(replica.lost_races for replica in replicas) >= 1
    for case_id in case_ids:
        events = stored(writer, case_id)
        assert (events["CaseOverdue"], events["CaseEscalated"]) == (1, 1), case_id
    # The view catches up; no watch finds anything left to say.
    follower.catch_up_once()
    for replica in replicas:
        assert DeadlineWatch(replica.app, view, interval=60).check_once() == (0, 0)
    view.pool.close()
    for app in (writer, *(replica.app for replica in replicas)):
        app.close()


def decided_by_two_at_once(
    service: Service, case_id: UUID, forms: list[tuple[Principal, dict[str, Any]]]
) -> list[Any]:
    """Each official posts their decision from a thread of their own; both read
    the case before either writes."""
    both_loaded = Rendezvous(len(forms))
    load: Callable[[UUID, Principal], Case] = service.app.case

    def case(found_id: UUID, principal: Principal) -> Case:
        found = load(found_id, principal)
        both_loaded()
        return found

    service.app.case = case  # type: ignore[method-assign]

    def post(form: tuple[Principal, dict[str, Any]]) -> Any:
        who, body = form
        headers = {"Authorization": f"Bearer {issue_token(who)}"}
        client = TestClient(service.http)
        return client.post(f"/cases/{case_id}/decision", json=body, headers=headers)

    try:
        with ThreadPoolExecutor(len(forms)) as threads:
            return list(threads.map(post, forms))
    finally:
        del service.app.case


def test_two_officials_deciding_at_once_make_one_decision(service):
    household = uuid.uuid4()
    service.app.process([report(household, 1)])
    case_id = open_case(service.app, household).id
    to_decision(service.app, case_id)
    colleague = Principal(user_id="district02", role=Role.DISTRICT, area_code="510904")
    confirm = {"confirm": True, "target_type": "low_income", "reason": "income low"}
    reject = {"confirm": False, "reason": "income above the line"}

    answers = decided_by_two_at_once(
        service, case_id, [(DISTRICT, confirm), (colleague, reject)]
    )

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 409], [answer.text for answer in answers]
    won = next(answer for answer in answers if answer.status_code == 200)
    lost = next(answer for answer in answers if answer.status_code == 409)
    # The loser ran again on the fresh case and found the step taken.
    assert lost.json()["detail"] == (
        f"the case waits in step {won.json()['step']}, not decision"
    )
    history = service.call(DISTRICT, "GET", f"/cases/{case_id}/history").json()
    decisions = [entry for entry in history if entry["type"] in DECISIONS]
    assert len(decisions) == 1
    expected = "TargetConfirmed" if won.json()["step"] == "plan" else "CaseRejected"
    assert decisions[0]["type"] == expected
