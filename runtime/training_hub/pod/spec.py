"""The run spec: the contract between the operator (which writes it into the pod template) and the pod
entrypoint.

The operator renders ``run.json`` (this model, as compact JSON) into the training container's environment
variable :data:`RUN_SPEC_ENV` and starts ``training-hub run-pod``, which reads it from there (no ConfigMap
per run: a launch is one workload create, and the spec cannot be deleted under a running job). An
environment string is bounded by Linux's ``MAX_ARG_STRLEN`` (:data:`MAX_RUN_SPEC_BYTES`); the operator
refuses a larger spec before creating anything. ``training-hub run-pod --spec PATH`` reads a file instead
(users, tests, and pods of runs launched by earlier operators, which mount a ``<run>-config`` ConfigMap at
``/etc/training-hub``). Rendezvous values are never in the spec: they come from the environment
(``PET_*``, ``MASTER_*``), which the launcher owns.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from training_hub.contracts import pod_env
from training_hub.contracts.kinds import API_VERSION
from training_hub.storage.uri import PVC_MOUNT_ROOT

__all__ = [
    "PVC_MOUNT_ROOT",
    "SCRATCH_DIR_ENV",
    "SCRATCH_MOUNT_PATH",
    "PlannedEngineSpec",
    "PodRunSpec",
    "RunIdentity",
]

#: Env var of the training container holding the run spec as compact JSON.
RUN_SPEC_ENV = pod_env.RUN_SPEC
#: Largest ``NAME=value`` string Linux passes in an environment (``MAX_ARG_STRLEN``: 32 pages of 4 KiB,
#: ``include/uapi/linux/binfmts.h``); exec fails with E2BIG above it.
MAX_ENV_STRING_BYTES = 32 * 4096
#: Largest run spec (UTF-8 bytes of its JSON) the env var carries: the limit less ``NAME=`` and the NUL.
MAX_RUN_SPEC_BYTES = MAX_ENV_STRING_BYTES - len(RUN_SPEC_ENV) - 2
#: The container command of every training pod (the runtime image's entrypoint; the spec is in the env).
POD_COMMAND: list[str] = ["training-hub", "run-pod"]
#: The training pod's ``terminationGracePeriodSeconds``: time from SIGTERM (preemption, deletion) to the
#: kubelet's SIGKILL, for the ranks to finish a preemption checkpoint.
TERMINATION_GRACE_SECONDS = 120
#: Env var telling the pod that grace period (the launcher's SIGTERM-to-SIGKILL wait is derived from it).
TERMINATION_GRACE_ENV = pod_env.TERMINATION_GRACE_SECONDS
#: Env var naming the pod's scratch volume (an emptyDir), where ``s3://`` locations are staged.
SCRATCH_DIR_ENV = pod_env.SCRATCH_DIR
#: Where the operator mounts that volume.
SCRATCH_MOUNT_PATH = "/mnt/scratch"


class RunIdentity(BaseModel):
    """Which TrainingRun a pod belongs to."""

    model_config = ConfigDict(extra="forbid")

    name: str
    namespace: str = "default"
    uid: str | None = None
    generation: int | None = None


class PlannedEngineSpec(BaseModel):
    """The backend the operator planned the run's memory for, which the pod must run.

    Attributes:
        name: Backend name (``native``, ``instructlab-training``...), never ``auto``.
        reason: Why the planner chose it (``spec.backend``, or what ``auto`` resolved to and why).
        image: The pod's image, as rendered, so a pod whose image lacks the engine can name both.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    reason: str = ""
    image: str = ""


class PodRunSpec(BaseModel):
    """Everything a training pod needs to call the algorithm, except the rendezvous.

    Attributes:
        algorithm: ``sft``, ``osft`` or ``lora_sft``.
        params: Keyword arguments of the algorithm (the fields of
            :func:`training_hub.params.param_model` minus the distributed ones), with locations already
            mapped to paths inside the pod.
        run: The TrainingRun this pod serves.
        engine: The backend the plan was made for; the pod runs it (and fails with a bad-input code when
            its image cannot), so ``auto`` never resolves differently in a custom image. None: the pod
            resolves ``params['backend']`` itself (no plan named an engine).
    """

    model_config = ConfigDict(extra="forbid")

    api_version: str = Field(API_VERSION, alias="apiVersion")
    kind: str = "PodRunSpec"
    algorithm: str
    params: dict[str, Any]
    run: RunIdentity
    engine: PlannedEngineSpec | None = None
