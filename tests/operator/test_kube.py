"""``training_hub_operator.kube.Kube``: what its calls guarantee, against real sockets (no mocks)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import urllib3
from kubernetes import client

from training_hub.contracts.kinds import TRAININGRUN
from training_hub_operator.kube import REQUEST_TIMEOUT, Kube

pytestmark = pytest.mark.unit


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers (a hung API server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


def test_a_server_that_never_answers_fails_the_call_within_the_timeout(silent_server: str) -> None:
    configuration = client.Configuration()
    configuration.host = silent_server
    configuration.retries = False
    kube = Kube(client.ApiClient(configuration), timeout=(1.0, 0.5))
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.HTTPError):
        kube.get(TRAININGRUN, "ns", "r1")
    assert time.monotonic() - started < 10  # without a timeout this call waits for ever


def test_every_call_has_a_timeout_by_default() -> None:
    configuration = client.Configuration()
    configuration.host = "http://127.0.0.1:9"
    assert Kube(client.ApiClient(configuration)).timeout == REQUEST_TIMEOUT
    assert all(0 < t <= 120 for t in REQUEST_TIMEOUT)
