"""The pod environment: every environment variable name a training process reads that someone else sets.

Three writers: the operator's launchers (the run's identity and observability settings, the object
store's credentials), the pod entrypoint and the local executor (mounts, scratch, exit codes, mirrors), and
torchrun (the rendezvous and rank contract of ``torch.distributed.run``: ``PET_*`` are its command-line
options as environment variables, the rest is what it sets for each worker). Knobs that only a user sets
and only one module reads (``TRAINING_HUB_LOG_EVERY``, ``TRAINING_HUB_HEALTH_CHECKS``...) stay with their
reader; :func:`read_number` reads any numeric one, :func:`read_switch` any on/off one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

# Set by the operator on every training container (``launchers/training_pod.py``).
#: ``<namespace>/<name>`` of the TrainingRun: a training process in a pod reports to it.
RUN = "TRAINING_HUB_RUN"
RUN_NAME = "TRAINING_HUB_RUN_NAME"
RUN_NAMESPACE = "TRAINING_HUB_RUN_NAMESPACE"
RUN_UID = "TRAINING_HUB_RUN_UID"
#: The run spec (``run.json``, a :class:`~training_hub.pod.spec.PodRunSpec` as compact JSON) the pod runs.
RUN_SPEC = "TRAINING_HUB_RUN_SPEC"
#: ``auto``/``off``: whether rank 0 writes ``status.progress``.
PROGRESS = "TRAINING_HUB_PROGRESS"
#: Seconds between two progress writes.
PROGRESS_INTERVAL = "TRAINING_HUB_PROGRESS_INTERVAL"
#: Port of the Prometheus exporter (``0``: any free port, ``off``: none).
METRICS_PORT = "TRAINING_HUB_METRICS_PORT"
#: A Hugging Face token (from ``spec.runtime.hfTokenSecretRef``).
HF_TOKEN = "HF_TOKEN"
#: Kubeconfig for the progress reporter outside a pod (local execution), before ``KUBECONFIG``.
HUB_KUBECONFIG = "TRAINING_HUB_KUBECONFIG"
#: kubectl's own kubeconfig variable (a path list).
KUBECONFIG = "KUBECONFIG"
#: Python and OpenMP settings of the training container (unbuffered logs; one thread per CPU rank).
PYTHONUNBUFFERED = "PYTHONUNBUFFERED"
OMP_NUM_THREADS = "OMP_NUM_THREADS"

# The object store's credentials and endpoint (from ``spec.storage``), read by botocore/s3fs in the pod.
AWS_ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID"
AWS_SECRET_ACCESS_KEY = "AWS_SECRET_ACCESS_KEY"
AWS_SESSION_TOKEN = "AWS_SESSION_TOKEN"
AWS_DEFAULT_REGION = "AWS_DEFAULT_REGION"
AWS_ENDPOINT_URL_S3 = "AWS_ENDPOINT_URL_S3"
AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL"
AWS_S3_ENDPOINT = "AWS_S3_ENDPOINT"
#: Keys of ``spec.storage.secretRef`` exposed as variables of the same name (the token is optional).
STORAGE_SECRET_KEYS: tuple[str, ...] = (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)
#: Where an S3-compatible endpoint override is looked for, first match wins.
S3_ENDPOINT_ENVS: tuple[str, ...] = (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS_S3_ENDPOINT)

# Set by the pod entrypoint, the pod spec or the local executor for the training process.
#: Where the local executor materialises a pod's volumes (paths in the spec are below it).
MOUNT_ROOT = "TRAINING_HUB_MOUNT_ROOT"
#: The file the pod's termination message goes to (``/dev/termination-log`` in a real pod).
TERMINATION_LOG = "TRAINING_HUB_TERMINATION_LOG"
#: The pod's ``terminationGracePeriodSeconds``, so the training process knows its shutdown budget.
TERMINATION_GRACE_SECONDS = "TRAINING_HUB_TERMINATION_GRACE_SECONDS"
#: The scratch volume ``s3://`` locations are staged into.
SCRATCH_DIR = "TRAINING_HUB_SCRATCH_DIR"
#: Where each rank records its own exit code (torchrun reports only 0 or 1 for a worker).
EXIT_CODE_DIR = "TRAINING_HUB_EXIT_CODE_DIR"
#: ``<local dir>=<uri>``: a local output directory the pod mirrors to an object store.
OUTPUT_MIRROR = "TRAINING_HUB_OUTPUT_MIRROR"
#: Where a just-in-time checkpoint is uploaded.
CHECKPOINT_UPLOAD_URI = "TRAINING_HUB_CHECKPOINT_UPLOAD_URI"
#: File holding the user's callbacks, serialised for the training processes.
CALLBACKS_PATH = "TRAINING_HUB_CALLBACKS_PATH"
#: Set in every process the local executor starts as a pod.
LOCAL_POD = "TRAINING_HUB_LOCAL_POD"

# torchrun (``torch.distributed.run``): its options as environment variables, read by torchrun.
PET_NNODES = "PET_NNODES"
PET_NPROC_PER_NODE = "PET_NPROC_PER_NODE"
PET_NODE_RANK = "PET_NODE_RANK"
PET_MASTER_ADDR = "PET_MASTER_ADDR"
PET_MASTER_PORT = "PET_MASTER_PORT"
# torchrun: what it sets for each worker (also the ``MASTER_*`` a Kubeflow controller sets).
MASTER_ADDR = "MASTER_ADDR"
MASTER_PORT = "MASTER_PORT"
WORLD_SIZE = "WORLD_SIZE"
RANK = "RANK"
LOCAL_RANK = "LOCAL_RANK"
LOCAL_WORLD_SIZE = "LOCAL_WORLD_SIZE"
GROUP_RANK = "GROUP_RANK"
NODE_RANK = "NODE_RANK"
TORCHELASTIC_RUN_ID = "TORCHELASTIC_RUN_ID"

#: Names the launch owns (rendezvous and rank); a user setting one of them is refused.
RESERVED_NAMES: frozenset[str] = frozenset(
    {WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, NODE_RANK, GROUP_RANK, RUN_SPEC}
)
#: Prefixes the launch owns: torchrun's options, the rendezvous address, torchelastic's own.
RESERVED_PREFIXES: tuple[str, ...] = ("PET_", "MASTER_", "TORCHELASTIC_")


def is_reserved(name: str) -> bool:
    """Whether an environment variable name belongs to the launch (rendezvous and rank)."""
    return name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES)


def read_number(
    name: str,
    default: float,
    minimum: float = 0.0,
    env: Mapping[str, str] | None = None,
    what: str = "a number",
) -> float:
    """A number from the environment: ``default`` when unset or empty.

    Args:
        name: The variable.
        default: Its value when unset.
        minimum: The smallest value accepted.
        env: Environment to read (default: ``os.environ``).
        what: What the number is, for messages (``a number of seconds``).

    Raises:
        InvalidInputError: When the value is not a finite number of at least ``minimum``.
    """
    from training_hub.errors import InvalidInputError

    raw = (os.environ if env is None else env).get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInputError(f"{name}={raw!r} is not {what}") from None
    if not math.isfinite(value) or value < minimum:
        raise InvalidInputError(f"{name}={raw!r} must be {what} >= {minimum:g}")
    return value


#: The spellings of "off" and "on" every ``TRAINING_HUB_*`` switch accepts (case-insensitive).
OFF_WORDS = frozenset({"0", "off", "false", "no", "none"})
ON_WORDS = frozenset({"1", "on", "true", "yes"})


def read_switch(name: str, default: bool | None = None, env: Mapping[str, str] | None = None) -> bool | None:
    """An on/off switch from the environment.

    Args:
        name: The variable.
        default: What an unset, empty or other value (``auto``) means.
        env: Environment to read (default: ``os.environ``).

    Returns:
        False for one of :data:`OFF_WORDS`, True for one of :data:`ON_WORDS`, else ``default``.
    """
    raw = (os.environ if env is None else env).get(name, "").strip().lower()
    if raw in OFF_WORDS:
        return False
    if raw in ON_WORDS:
        return True
    return default
