"""What the host lends a local pod: its environment without any rendezvous, and its programs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from training_hub.local.host import host_env, resolve_command
from training_hub.local.pods import LocalExecutionError

pytestmark = pytest.mark.unit


def test_python_resolves_to_this_interpreter() -> None:
    assert resolve_command(["python", "-V"])[0] == sys.executable
    assert Path(resolve_command(["training-hub", "run-pod"])[0]).name in (
        "training-hub",
        Path(sys.executable).name,
    )


def test_a_missing_program_or_command_is_a_clear_error() -> None:
    with pytest.raises(LocalExecutionError, match="not found on this machine"):
        resolve_command(["no-such-program-here"])
    with pytest.raises(LocalExecutionError, match="no command"):
        resolve_command([])


def test_host_env_drops_the_hosts_own_rendezvous() -> None:
    host = {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "MASTER_ADDR": "10.0.0.1",
        "RANK": "3",
        "PET_NNODES": "2",
        "TORCHELASTIC_RUN_ID": "x",
        "KUBECONFIG": "/home/me/.kube/config",
    }
    assert host_env(host) == {"PATH": "/usr/bin", "HOME": "/home/me"}
