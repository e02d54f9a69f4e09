"""Paths inside a training pod, and the one difference local execution makes to them.

In a real pod each ``pvc://claim`` is mounted at ``/mnt/pvc/claim`` (and a ``--spec PATH`` file is where
the pod sees it). The local executor cannot mount anything at ``/``, so it materialises the pod's volumes
under a directory of its own and sets ``TRAINING_HUB_MOUNT_ROOT`` to it: every absolute path the pod reads
from its spec is then looked up under that prefix. Nothing else differs between a pod and a local process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import PurePosixPath

from training_hub.contracts import pod_env
from training_hub.storage.uri import has_scheme

#: Env var with the directory that stands for ``/`` of the pod (local execution only).
MOUNT_ROOT_ENV = pod_env.MOUNT_ROOT
#: Env var overriding where the one-line termination reason is written.
TERMINATION_LOG_ENV = pod_env.TERMINATION_LOG
#: Kubernetes' default ``terminationMessagePath``.
DEFAULT_TERMINATION_LOG = "/dev/termination-log"
#: Kubernetes keeps at most this many bytes of a termination message.
TERMINATION_MESSAGE_LIMIT = 4096

#: Parameters of the algorithms that hold filesystem paths.
PATH_PARAMS: tuple[str, ...] = ("model_path", "data_path", "ckpt_output_dir", "data_output_dir")


def mount_root(env: Mapping[str, str] | None = None) -> str | None:
    """The local directory standing for the pod's ``/`` (``None`` in a real pod)."""
    environ = os.environ if env is None else env
    root = environ.get(MOUNT_ROOT_ENV, "").strip()
    return root or None


def in_pod(path: str, env: Mapping[str, str] | None = None) -> str:
    """Map a path as the pod sees it to the path on this machine.

    Args:
        path: A path from the pod spec. Relative paths and URIs (``tiny://...``, hub ids) are returned
            unchanged.
        env: Environment to read :data:`MOUNT_ROOT_ENV` from (default: ``os.environ``).

    Returns:
        ``path`` itself in a real pod; ``<mount root>/<path>`` in local execution.
    """
    root = mount_root(env)
    if not root or has_scheme(path) or not path.startswith("/"):
        return path
    return str(PurePosixPath(root) / PurePosixPath(path).relative_to("/"))


def termination_log_path(env: Mapping[str, str] | None = None) -> str:
    """Where the entrypoint writes its one-line termination reason."""
    environ = os.environ if env is None else env
    return environ.get(TERMINATION_LOG_ENV) or DEFAULT_TERMINATION_LOG


def write_termination_message(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Write a one-line reason to the termination log (best effort).

    Args:
        message: The reason; newlines are folded and the text is cut to Kubernetes' 4096-byte limit.
        env: Environment to read :data:`TERMINATION_LOG_ENV` from.

    Returns:
        Whether the message was written.
    """
    line = " ".join(message.split())
    data = line.encode("utf-8")[:TERMINATION_MESSAGE_LIMIT].decode("utf-8", errors="ignore")
    try:
        with open(termination_log_path(env), "w", encoding="utf-8") as fh:
            fh.write(data + "\n")
    except OSError:
        return False
    return True
