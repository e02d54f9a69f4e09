"""What this machine lends a local pod: its environment (minus anything describing a rendezvous) and its
programs (``training-hub`` is this environment's console script)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from training_hub.contracts import pod_env
from training_hub.local.pods import LocalExecutionError
from training_hub.pod.mounts import MOUNT_ROOT_ENV, TERMINATION_LOG_ENV

#: Host env variables never passed into a pod (they would leak this process's own rendezvous).
_HOST_ENV_DROPPED_PREFIXES = ("PET_", "TORCHELASTIC_")
_HOST_ENV_DROPPED = frozenset(
    {
        pod_env.MASTER_ADDR,
        pod_env.MASTER_PORT,
        pod_env.RANK,
        pod_env.WORLD_SIZE,
        pod_env.LOCAL_RANK,
        pod_env.LOCAL_WORLD_SIZE,
        pod_env.GROUP_RANK,
        "ROLE_RANK",
        "ROLE_WORLD_SIZE",
        "GROUP_WORLD_SIZE",
        pod_env.KUBECONFIG,
        MOUNT_ROOT_ENV,
        TERMINATION_LOG_ENV,
    }
)


def host_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """This machine's environment minus anything describing a rendezvous (the pod brings its own)."""
    source = os.environ if environ is None else environ
    return {
        k: v
        for k, v in source.items()
        if k not in _HOST_ENV_DROPPED and not k.startswith(_HOST_ENV_DROPPED_PREFIXES)
    }


def resolve_command(argv: list[str]) -> list[str]:
    """Resolve a container command to this machine: console scripts of this environment come first.

    ``training-hub`` resolves to the script beside ``sys.executable`` (the image's entrypoint is this
    environment's), ``python``/``python3`` to ``sys.executable``.

    Raises:
        LocalExecutionError: When the program cannot be found.
    """
    if not argv:
        raise LocalExecutionError(
            "the container has no command: local execution cannot use image entrypoints"
        )
    prog = argv[0]
    if prog in ("python", "python3"):
        return [sys.executable, *argv[1:]]
    if "/" not in prog:
        beside = Path(sys.executable).parent / prog
        if beside.exists():
            return [str(beside), *argv[1:]]
        found = shutil.which(prog)
        if found:
            return [found, *argv[1:]]
        if prog == "training-hub":
            return [sys.executable, "-m", "training_hub.cli.main", *argv[1:]]
        raise LocalExecutionError(f"command {prog!r} not found on this machine")
    return list(argv)
