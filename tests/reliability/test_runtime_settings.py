"""Unit checks of the engine's fault-handling settings: the collective timeout and peer-failure detection."""

from __future__ import annotations

import pytest

from training_hub.engine.__main__ import is_peer_failure
from training_hub.engine.distributed import (
    DEFAULT_DIST_TIMEOUT_SECONDS,
    ENV_DIST_TIMEOUT,
    dist_timeout_seconds,
)
from training_hub.errors import InfrastructureError

pytestmark = pytest.mark.unit


def test_collective_timeout_defaults_and_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_DIST_TIMEOUT, raising=False)
    assert dist_timeout_seconds() == DEFAULT_DIST_TIMEOUT_SECONDS
    monkeypatch.setenv(ENV_DIST_TIMEOUT, "45")
    assert dist_timeout_seconds() == 45.0


@pytest.mark.parametrize("bad", ["0", "-3", "soon"])
def test_a_bad_collective_timeout_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv(ENV_DIST_TIMEOUT, bad)
    with pytest.raises(InfrastructureError, match=ENV_DIST_TIMEOUT):
        dist_timeout_seconds()


def test_peer_failures_are_recognised_and_bugs_are_not() -> None:
    import torch.distributed as dist

    assert is_peer_failure(dist.DistBackendError("whatever"))
    assert is_peer_failure(
        RuntimeError("[gloo/transport/tcp/pair.cc:534] Connection closed by peer [127.0.0.1]")
    )
    assert is_peer_failure(RuntimeError("Timed out waiting 20000ms for recv operation to complete"))
    assert not is_peer_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_peer_failure(ValueError("connection closed by peer"))
