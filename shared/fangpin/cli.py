"""``fangpin``: run the whole platform, or write the event contracts.

fangpin run                 embedded servers + five services + web + demo county
fangpin contracts DIR       JSON Schemas and the AsyncAPI document
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fangpin.auth import DEMO_PASSWORD, DEMO_USERS
from fangpin.contracts import EVENTS, asyncapi_document, envelope_json_schema
from fangpin.departments import record_schemas
from fangpin.embedded import (
    EmbeddedNats,
    EmbeddedPostgres,
    load_secrets,
    start_nats,
    start_postgres,
)

SERVICES = ["intake", "screening", "casework", "assistance", "reporting"]
DEFAULT_BASE_PORT = 8101
# The web interface listens just below the services: 8100 by default.
WEB_PORT_OFFSET = -1


def write_contracts(target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    written = []
    schemas = {"Envelope": envelope_json_schema()}
    schemas.update(
        {
            f"{spec.type}.v{spec.schema_version}": spec.model.model_json_schema()
            for spec in EVENTS.values()
        }
    )
    # What departments publish on dept.<department>.<kind>, one schema per kind.
    schemas.update(
        {f"dept.{name}": schema for name, schema in record_schemas().items()}
    )
    for name, schema in schemas.items():
        path = target / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    path = target / "asyncapi.json"
    path.write_text(
        json.dumps(asyncapi_document(), indent=2, ensure_ascii=False) + "\n"
    )
    written.append(path)
    return written


class Platform:
    """The servers and service processes of one ``fangpin run``."""

    def __init__(
        self,
        data_dir: Path,
        base_port: int,
        env: dict[str, str] | None = None,
        web: bool = False,
    ):
        self.data_dir = data_dir
        self.base_env = dict(os.environ if env is None else env)
        self.base_port = base_port
        self.nats: EmbeddedNats | None = None
        self.postgres: EmbeddedPostgres | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.env: dict[str, str] = {}
        self.urls = {
            name: f"http://127.0.0.1:{base_port + index}"
            for index, name in enumerate(SERVICES)
        }
        self.web_url = (
            f"http://127.0.0.1:{base_port + WEB_PORT_OFFSET}" if web else None
        )

    def environment(self) -> dict[str, str]:
        secrets = load_secrets(self.data_dir)
        env = dict(self.base_env)
        if "NATS_URL" not in env:
            port = int(env.get("FANGPIN_NATS_PORT", "4222"))
            self.nats = start_nats(self.data_dir, secrets["nats_key"], port=port)
            env["NATS_URL"] = self.nats.url
        if "DATABASE_URL" not in env:
            self.postgres = start_postgres(self.data_dir)
            env["DATABASE_URL"] = self.postgres.url
        env.setdefault("FANGPIN_JWT_SECRET", secrets["jwt_secret"])
        env.setdefault("FANGPIN_CIPHER_KEY", secrets["cipher_key"])
        env.setdefault("FANGPIN_PSEUDONYM_KEY", secrets["pseudonym_key"])
        env.setdefault("FANGPIN_DEV_ISSUER", "1")
        return env

    def start(self) -> None:
        self.env = self.environment()
        (self.data_dir / "logs").mkdir(exist_ok=True)
        try:
            for name in SERVICES:
                self.start_service(name)
            self.wait_until_healthy()
            if self.web_url is not None:
                self.start_web()
        except BaseException:
            # Leave no servers or services behind when start-up fails.
            self.stop()
            raise

    def start_service(self, name: str) -> None:
        """Start (or restart) one service as its own process."""
        port = self.base_port + SERVICES.index(name)
        log = open(self.data_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", f"{name}.main"],
            env={**self.env, "FANGPIN_PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def start_web(self) -> None:
        """The web interface: pages that call the five services' APIs."""
        assert self.web_url is not None
        # The web process holds no keys: the services verify every call it makes.
        secret = ("FANGPIN_JWT_SECRET", "FANGPIN_CIPHER_KEY", "FANGPIN_PSEUDONYM_KEY")
        env = {name: value for name, value in self.env.items() if name not in secret}
        env["FANGPIN_PORT"] = self.web_url.rsplit(":", 1)[1]
        for name, url in self.urls.items():
            env[f"FANGPIN_{name.upper()}_URL"] = url
        log = open(self.data_dir / "logs" / "web.log", "ab")  # noqa: SIM115
        self.processes["web"] = subprocess.Popen(
            [sys.executable, "-m", "web.main"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_until_healthy({"web": self.web_url})

    def wait_until_healthy(
        self, urls: dict[str, str] | None = None, timeout: float = 90.0
    ) -> None:
        deadline = time.monotonic() + timeout
        waiting = dict(self.urls if urls is None else urls)
        while waiting and time.monotonic() < deadline:
            for name, url in list(waiting.items()):
                if self.processes[name].poll() is not None:
                    raise RuntimeError(
                        f"{name} stopped; see {self.data_dir / 'logs' / name}.log"
                    )
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        del waiting[name]
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        if waiting:
            raise RuntimeError(f"not answering: {', '.join(waiting)}")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()


def banner(platform: Platform, loaded: dict[str, int]) -> str:
    lines = ["", "Fangpin 防贫 is running.", ""]
    if platform.web_url is not None:
        lines += [f"  Open {platform.web_url}  (the web interface: start here)", ""]
        lines.append("Service APIs:")
    for name, url in platform.urls.items():
        lines.append(f"  {name:<11} {url}/docs")
    lines += [
        "",
        f"Demo county: {loaded['households']} households "
        f"({loaded['new']} added this start).",
        f"Demo users (password '{DEMO_PASSWORD}'; sign in on the web interface, or"
        " with 'Authorize' on any /docs page):",
    ]
    for user in DEMO_USERS.values():
        extra = f" {user.department}" if user.department else ""
        lines.append(
            f"  {user.user_id:<11} {user.role.value:<13} {user.area_code}{extra}"
        )
    lines += [
        "",
        f"Data folder: {platform.data_dir}  (kept between starts)",
        "Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)


def run(data_dir: Path, base_port: int) -> int:
    from fangpin.demo import load_demo_county

    platform = Platform(data_dir.resolve(), base_port, web=True)
    stop = False

    def request_stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, request_stop)
    try:
        print("Starting NATS, PostgreSQL, the five services and the web…", flush=True)
        platform.start()
        loaded = load_demo_county(platform.urls)
        print(banner(platform, loaded), flush=True)
        while not stop:
            for name, process in platform.processes.items():
                if process.poll() is not None:
                    print(f"{name} stopped unexpectedly; see its log", flush=True)
                    stop = True
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C must not cut the stop short: NATS and PostgreSQL are not
        # in the terminal's process group and would be left running. stop() gives
        # up waiting on any process after a bounded time.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("Stopping…", flush=True)
        platform.stop()
        print("Stopped. Data kept in", platform.data_dir, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fangpin")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run the whole platform")
    run_parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("FANGPIN_DATA_DIR", ".fangpin-data")),
    )
    run_parser.add_argument(
        "--base-port",
        type=int,
        default=int(os.environ.get("FANGPIN_BASE_PORT", DEFAULT_BASE_PORT)),
    )
    contracts = commands.add_parser("contracts", help="write JSON Schemas and AsyncAPI")
    contracts.add_argument(
        "target", type=Path, nargs="?", default=Path("docs/contracts")
    )
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.data_dir, args.base_port)
    for path in write_contracts(args.target):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
