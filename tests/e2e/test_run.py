"""``fangpin run``, the README's first command, as a person runs it: embedded NATS
and PostgreSQL under a data folder, the five services and the web as processes of
their own, the demo county loaded, a banner naming where everything is; Ctrl-C stops
it all, and the next start finds the data where it was left."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import httpx
import psutil
import pytest

from fangpin.auth import DEMO_PASSWORD, DEMO_USERS
from fangpin.cli import SERVICES, WEB_PORT_OFFSET
from fangpin.demo import demo_households
from tests.support import free_port_block, household_form

pytestmark = pytest.mark.e2e

# One start takes about a minute on a busy two-core machine.
START_WITHIN = 150.0
STOP_WITHIN = 60.0
READY_LINE = "Press Ctrl-C to stop."
DEMO_REPORTS = 2
# A page of each service that answers only a signed-in user.
SIGNED_IN_PAGES = {
    "intake": "/reports",
    "screening": "/catalogue",
    "casework": "/time-limits",
    "assistance": "/measures",
    "reporting": "/overview",
}
T = TypeVar("T")


@dataclass(frozen=True)
class Ports:
    web: int
    nats: int

    @property
    def services(self) -> dict[str, int]:
        base = self.web - WEB_PORT_OFFSET
        return {name: base + index for index, name in enumerate(SERVICES)}

    def all(self) -> list[int]:
        return [self.web, self.nats, *self.services.values()]


@dataclass(frozen=True)
class Banner:
    web_url: str
    docs: dict[str, str]
    households: int
    added: int
    users: list[str]


class FangpinRun:
    """One ``fangpin run`` in a session (so a process group) of its own, as a
    terminal would start it; its output is collected as it comes."""

    def __init__(self, data_dir: Path, ports: Ports):
        self.data_dir = data_dir
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("FANGPIN_")
            and name not in ("NATS_URL", "DATABASE_URL")
        }
        env["FANGPIN_NATS_PORT"] = str(ports.nats)
        env["PYTHONUNBUFFERED"] = "1"
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("fangpin")),
                "run",
                "--data-dir",
                str(data_dir),
                "--base-port",
                str(ports.web - WEB_PORT_OFFSET),
            ],
            cwd=data_dir.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            with self._lock:
                self._lines.append(raw.decode(errors="replace"))

    def output(self) -> str:
        with self._lock:
            return "".join(self._lines)

    def wait_until_ready(self) -> Banner:
        deadline = time.monotonic() + START_WITHIN
        while time.monotonic() < deadline:
            text = self.output()
            if READY_LINE in text:
                return self.banner(text)
            if self.process.poll() is not None:
                self.fail(f"fangpin run exited with {self.process.returncode}")
            time.sleep(0.2)
        self.fail(f"fangpin run printed no banner within {START_WITHIN:.0f} s")

    def banner(self, text: str) -> Banner:
        web = re.search(r"Open (http://\S+)", text)
        county = re.search(r"Demo county: (\d+) households \((\d+) added", text)
        if web is None or county is None:
            self.fail("the banner names no web address or no demo county")
        return Banner(
            web_url=web.group(1),
            docs=dict(re.findall(r"^ +(\w+) +(http://\S+/docs)$", text, re.M)),
            households=int(county.group(1)),
            added=int(county.group(2)),
            users=re.findall(r"^ +(\w+) +[a-z_]+ +\d{6,12}(?: \w+)?$", text, re.M),
        )

    def press_ctrl_c(self) -> int:
        """SIGINT to the whole foreground group, as the terminal sends it."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=STOP_WITHIN)
        except subprocess.TimeoutExpired:
            self.fail(f"fangpin run still running {STOP_WITHIN:.0f} s after Ctrl-C")

    def leftovers(self) -> list[str]:
        """Processes of this run still alive: its group, and the servers that keep
        groups of their own but name the data folder on their command line."""
        found = []
        for process in psutil.process_iter(["cmdline", "status"]):
            try:
                in_group = os.getpgid(process.pid) == self.process.pid
            except ProcessLookupError:
                continue
            command = " ".join(process.info["cmdline"] or [])
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if in_group or str(self.data_dir) in command:
                found.append(f"{process.pid} {command}")
        return found

    def clean_up(self) -> None:
        """Leave nothing running, whatever state a failed test left the run in."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for line in self.leftovers():
            pid = int(line.split()[0])
            try:
                psutil.Process(pid).terminate()
                psutil.Process(pid).wait(timeout=15)
            except psutil.NoSuchProcess:
                pass
            except psutil.TimeoutExpired:
                psutil.Process(pid).kill()
        self._reader.join(timeout=5)

    def log_tails(self) -> str:
        tails = []
        for log in sorted((self.data_dir / "logs").glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-15:]
            tails.append(f"--- {log.name} (last lines) ---\n" + "\n".join(lines))
        return "\n".join(tails)

    def fail(self, reason: str) -> NoReturn:
        pytest.fail(
            f"{reason}\n--- output ---\n{self.output()}\n{self.log_tails()}",
            pytrace=False,
        )


def answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def within(seconds: float, check: Callable[[], T | None]) -> T:
    """The first truthy value of ``check()``; fail with the last one after a while."""
    deadline = time.monotonic() + seconds
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(0.3)
        value = check()
    assert value, f"not within {seconds:.0f} s (last: {value!r})"
    return value


def bearer(intake_url: str, user: str) -> dict[str, str]:
    response = httpx.post(
        f"{intake_url}/auth/token",
        data={"username": user, "password": DEMO_PASSWORD},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def service_url(banner: Banner, name: str) -> str:
    return banner.docs[name].removesuffix("/docs")


def county_figures(banner: Banner, headers: dict[str, str]) -> dict[str, Any]:
    response = httpx.get(
        f"{service_url(banner, 'reporting')}/overview", headers=headers, timeout=10
    )
    assert response.status_code == 200, response.text
    figures: dict[str, Any] = response.json()["total"]["figures"]
    return figures


def report_count(banner: Banner, headers: dict[str, str]) -> int:
    response = httpx.get(
        f"{service_url(banner, 'intake')}/reports", headers=headers, timeout=10
    )
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def assert_stopped_cleanly(run: FangpinRun, code: int, ports: Ports) -> None:
    if code != 0:
        run.fail(f"fangpin run exited with {code} after Ctrl-C, not 0")
    assert "Stopped. Data kept in" in run.output()
    assert run.leftovers() == []
    assert [port for port in ports.all() if answers(port)] == []
    assert not (run.data_dir / "postgres" / "postmaster.pid").exists()


def drain_failed(log: Path, since: int) -> bool:
    """Whether a service logged, after ``since`` bytes, that NATS was gone before
    it could drain its connection."""
    with log.open("rb") as written:
        written.seek(since)
        return b"NATS drain failed" in written.read()


@pytest.fixture(scope="module")
def ports() -> Ports:
    # Web, the five services and NATS, side by side.
    block = free_port_block(len(SERVICES) + 2)
    return Ports(web=block, nats=block + len(SERVICES) + 1)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fangpin-run").resolve() / "data"


@pytest.fixture(scope="module")
def first_run(data_dir: Path, ports: Ports) -> Iterator[tuple[FangpinRun, Banner]]:
    run = FangpinRun(data_dir, ports)
    try:
        yield run, run.wait_until_ready()
    finally:
        run.clean_up()


def test_banner_names_the_pages_it_serves_and_the_demo_users(
    first_run: tuple[FangpinRun, Banner], ports: Ports
) -> None:
    _, banner = first_run
    assert banner.web_url == f"http://127.0.0.1:{ports.web}"
    assert banner.docs == {
        name: f"http://127.0.0.1:{port}/docs" for name, port in ports.services.items()
    }
    assert banner.users == list(DEMO_USERS)
    for name, docs in banner.docs.items():
        page = httpx.get(docs, timeout=10)
        assert page.status_code == 200, name
        assert "swagger" in page.text.lower(), name
        schema = httpx.get(f"{service_url(banner, name)}/openapi.json", timeout=10)
        assert schema.status_code == 200, name
        assert schema.json()["paths"], name
    sign_in = httpx.get(f"{banner.web_url}/sign-in", timeout=10)
    assert sign_in.status_code == 200
    assert 'name="password"' in sign_in.text


def test_demo_user_signs_in_on_the_web_and_at_the_services(
    first_run: tuple[FangpinRun, Banner],
) -> None:
    _, banner = first_run
    with httpx.Client(base_url=banner.web_url, timeout=10) as browser:
        signed_in = browser.post(
            "/sign-in", data={"username": "district01", "password": DEMO_PASSWORD}
        )
        assert signed_in.status_code == 303, signed_in.text
        assert "fangpin_token" in browser.cookies
        landing = browser.get(signed_in.headers["location"])
        assert landing.status_code == 200
    district = bearer(service_url(banner, "intake"), "district01")
    for name, path in SIGNED_IN_PAGES.items():
        # Every service takes the token the development issuer hands out.
        url = service_url(banner, name) + path
        assert httpx.get(url, timeout=10).status_code == 401, name
        response = httpx.get(url, headers=district, timeout=10)
        assert response.status_code == 200, f"{name}: {response.text}"
    within(30, lambda: report_count(banner, district) == DEMO_REPORTS)


def test_first_start_loads_the_demo_county(
    first_run: tuple[FangpinRun, Banner],
) -> None:
    _, banner = first_run
    demo = len(demo_households())
    assert (banner.households, banner.added) == (demo, demo)
    district = bearer(service_url(banner, "intake"), "district01")

    def demo_county_counted() -> dict[str, Any] | None:
        figures = county_figures(banner, district)
        return figures if figures["households"] == demo else None

    assert within(60, demo_county_counted)["people"] == 3 * demo


def test_ctrl_c_stops_everything_and_the_next_start_keeps_the_data(
    first_run: tuple[FangpinRun, Banner], data_dir: Path, ports: Ports
) -> None:
    run, banner = first_run
    demo = len(demo_households())
    intake = service_url(banner, "intake")
    district = bearer(intake, "district01")

    # A household registered by hand, beside the demo county.
    registered = httpx.post(
        f"{intake}/households", json=household_form(900), headers=district, timeout=30
    )
    assert registered.status_code == 201, registered.text
    household_id = registered.json()["id"]
    within(60, lambda: county_figures(banner, district)["households"] == demo + 1)
    logs = {log: log.stat().st_size for log in (data_dir / "logs").glob("*.log")}

    # Ctrl-C: everything stops, and the services let NATS go before it goes.
    assert_stopped_cleanly(run, run.press_ctrl_c(), ports)
    assert [log.name for log, size in logs.items() if drain_failed(log, size)] == []

    # The next start on the same folder loads no demo household twice.
    again = FangpinRun(data_dir, ports)
    try:
        banner = again.wait_until_ready()
        assert (banner.households, banner.added) == (demo, 0)
        district = bearer(intake, "district01")
        kept = httpx.get(
            f"{intake}/households/{household_id}", headers=district, timeout=10
        )
        assert kept.status_code == 200, kept.text
        assert report_count(banner, district) == DEMO_REPORTS
        figures = county_figures(banner, district)
        assert (figures["households"], figures["people"]) == (demo + 1, 3 * demo + 1)
        assert_stopped_cleanly(again, again.press_ctrl_c(), ports)
    finally:
        again.clean_up()
