"""The test run's choice between embedded servers and containers."""

import socket

import pytest

from tests.servers import server_kind


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("chosen", ["embedded", "containers", " Containers "])
def test_a_stated_choice_is_taken(monkeypatch: pytest.MonkeyPatch, chosen: str):
    monkeypatch.setenv("FANGPIN_TEST_SERVERS", chosen)

    assert server_kind() == chosen.strip().lower()


def test_without_an_answering_engine_auto_means_embedded(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.delenv("FANGPIN_TEST_SERVERS", raising=False)
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{closed_port()}")

    assert server_kind() == "embedded"


def test_an_unknown_choice_is_refused_with_the_choices(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("FANGPIN_TEST_SERVERS", "docker")

    with pytest.raises(ValueError, match="embedded, containers or auto"):
        server_kind()
