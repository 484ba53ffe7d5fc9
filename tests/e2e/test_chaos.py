"""Kill -9 of the consuming services, at random moments, under a stream of grid
reports: nothing accepted is lost, nothing takes effect twice, and the read models
agree with the event stores once everything has caught up."""

from __future__ import annotations

import random
import signal
import threading
import time
from datetime import date

import httpx
import psycopg
import pytest

from tests.support import household_form, running_platform

pytestmark = pytest.mark.e2e
HOUSEHOLDS = 60


@pytest.fixture(scope="module")
def platform(postgres_url, tmp_path_factory):
    data = tmp_path_factory.mktemp("chaos")
    with running_platform(postgres_url, data, FANGPIN_BATCH_SIZE="20") as running:
        yield running


def sign_in(http: httpx.Client, url: str, user: str) -> dict[str, str]:
    response = http.post(
        f"{url}/auth/token", data={"username": user, "password": "demo"}
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_killed_consumers_lose_nothing_and_repeat_nothing(platform):
    http = httpx.Client(timeout=30)
    intake = platform.urls["intake"]
    district = sign_in(http, intake, "district01")
    town = sign_in(http, intake, "town01")
    households = []
    for index in range(HOUSEHOLDS):
        form = household_form(500 + index, village="510904101202")
        response = http.post(f"{intake}/households", json=form, headers=district)
        assert response.status_code == 201, response.text
        households.append(response.json()["id"])

    accepted: list[str] = []

    def report_all() -> None:
        for household in households:
            report = {
                "household_id": household,
                "category": "income_drop",
                "description": "务工中断",
                "observed_on": date.today().isoformat(),
            }
            response = http.post(f"{intake}/reports", json=report, headers=town)
            assert response.status_code == 201
            accepted.append(household)
            time.sleep(0.02)

    reporter = threading.Thread(target=report_all)
    reporter.start()
    chance = random.Random(20261203)
    kills = 0
    while reporter.is_alive():
        time.sleep(chance.uniform(0.1, 0.6))
        victim = chance.choice(["casework", "reporting", "screening", "assistance"])
        platform.processes[victim].send_signal(signal.SIGKILL)
        platform.processes[victim].wait()
        platform.start_service(victim)
        kills += 1
    reporter.join()
    platform.wait_until_healthy()
    assert kills >= 3 and len(accepted) == HOUSEHOLDS

    database = platform.env["DATABASE_URL"]
    deadline = time.monotonic() + 90
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = read_counts(database)
        if all(count >= HOUSEHOLDS for count in counts.values()):
            break
        time.sleep(0.5)

    # One case per household: none lost, none opened twice, every read model equal.
    assert counts == {
        "stored_cases": HOUSEHOLDS,
        "households_with_a_case": HOUSEHOLDS,
        "queue": HOUSEHOLDS,
        "reporting_cases": HOUSEHOLDS,
        "reporting_reports": HOUSEHOLDS,
        "reporting_opened": HOUSEHOLDS,
    }


def read_counts(database: str) -> dict[str, int]:
    queries = {
        "stored_cases": "SELECT count(*) FROM casework.caseworkapplication_events "
        "WHERE topic = 'casework.domain:Case.CaseOpened'",
        "households_with_a_case": "SELECT count(DISTINCT household_id) "
        "FROM casework_view.cases",
        "queue": "SELECT count(*) FROM casework_view.cases WHERE status = 'open'",
        "reporting_cases": "SELECT count(*) FROM reporting.cases",
        "reporting_reports": "SELECT count(*) FROM reporting.events "
        "WHERE type = 'ProblemReported'",
        "reporting_opened": "SELECT count(*) FROM reporting.events "
        "WHERE type = 'CaseOpened'",
    }
    with psycopg.connect(database) as conn:
        return {
            name: conn.execute(query).fetchone()[0]  # type: ignore[index]
            for name, query in queries.items()
        }
