"""``TrainingRun.spec``: the pydantic models the CRD schema is generated from.

Field names are camelCase on the wire (Kubernetes convention) except inside ``spec.hyperparameters``, which
keeps the runtime library's parameter names (``learning_rate``, ``lora_r``...) so that a run moves between
the Python API, the CLI and the cluster unchanged.

The API server checks the structural schema (types, enums, bounds, patterns); rules across fields
(hyperparameters that belong to the chosen algorithm, reserved environment names, resource combinations) are
checked by :func:`training_hub_operator.api.validation.validate_spec` and surface as the ``Accepted``
condition, because kube-apiserver 1.20 has no CEL validation rules.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from training_hub.contracts import pod_env
from training_hub.contracts.wire import WireModel
from training_hub.storage.uri import kind_of, pvc_claim
from training_hub_operator.api.locations import DataSpec, ModelSpec, OutputSpec
from training_hub_operator.api.patterns import ObjectName
from training_hub_operator.api.pod_settings import RuntimeSpec, StorageSpec
from training_hub_operator.api.resources import ResourcesSpec

Algorithm = Literal["sft", "osft", "lora_sft", "embedding_sft", "dpo"]
#: Algorithms that train in one process (one pod, at most one GPU).
SINGLE_PROCESS_ALGORITHMS: tuple[str, ...] = ("embedding_sft",)
LauncherName = Literal["auto", "pytorchjob", "trainjob", "native"]


class TrainingRunSpec(WireModel):
    """The desired training run: what to train, on which data, with which resources and where results go."""

    algorithm: Algorithm = Field(
        default=...,
        description=(
            "Training algorithm: `sft` (full fine-tuning), `osft` (continual), `lora_sft`, `embedding_sft` "
            "(contrastive fine-tuning of a sentence-embedding model; one pod, at most one GPU) or `dpo` "
            "(preference tuning on chosen/rejected pairs)."
        ),
    )
    backend: str = Field(
        default="auto",
        pattern=r"^[a-z0-9][-a-z0-9]*$",
        description="Backend of the algorithm (kebab-case name) or `auto` (the best one the image supports).",
    )
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Hyperparameters of the algorithm, with the runtime library's names (as in `sft(...)`). "
            "Only the chosen algorithm's parameters are accepted."
        ),
    )
    model: ModelSpec = Field(..., description="The base model.")
    data: DataSpec = Field(..., description="The training data.")
    output: OutputSpec = Field(..., description="Where results go.")
    resources: ResourcesSpec = Field(
        default_factory=lambda: ResourcesSpec(), description="Compute; planned from the model when not fixed."
    )
    runtime: RuntimeSpec = Field(
        default_factory=lambda: RuntimeSpec(), description="Settings of the training pods."
    )
    storage: StorageSpec | None = Field(
        default=None, description="Credentials and endpoint of the object store of `s3://` locations."
    )
    launcher: LauncherName = Field(
        default="auto",
        description=(
            "How the job runs: `pytorchjob` (Kubeflow Training Operator v1), `trainjob` (Kubeflow Trainer "
            "v2), `native` (Kubernetes Job + headless Service) or `auto` (the first one the cluster serves)."
        ),
    )
    suspend: bool = Field(
        default=False, description="Suspend the run (pods are deleted; setting it back resumes)."
    )
    queue_name: ObjectName | None = Field(
        default=None, description="Kueue LocalQueue: the job is created suspended and Kueue admits it."
    )
    ttl_seconds_after_finished: int | None = Field(
        default=None,
        ge=0,
        description="Delete the workload (not the TrainingRun) this long after it finished.",
    )
    active_deadline_seconds: int | None = Field(
        default=None, ge=1, description="Fail the run when it has been active longer than this."
    )
    start_deadline_seconds: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Fail the run (reason `StartDeadlineExceeded`, or `ImagePullFailed`) when its pods have not all "
            "started this many seconds after the workload was created, resumed or admitted by Kueue "
            "(Pending: unschedulable, waiting for GPUs, image pull). Time spent suspended or waiting "
            "for Kueue admission does not count. Default: the operator's "
            "`TRAINING_HUB_START_DEADLINE_SECONDS` (1800). Can change while the run waits."
        ),
    )
    backoff_limit: int = Field(
        default=3, ge=0, le=100, description="Pod restarts before the run is marked failed."
    )
    dry_run: bool = Field(
        default=False,
        description=(
            "Plan and render the workload into `status.plan` and `status.rendered`, but launch nothing. "
            "Set it to false to launch."
        ),
    )

    @model_validator(mode="after")
    def _cross_field(self) -> TrainingRunSpec:
        r = self.resources
        if r.nodes is not None and r.nodes > r.max_nodes:
            raise ValueError(f"resources.nodes ({r.nodes}) is larger than resources.maxNodes ({r.max_nodes})")
        if r.gpus_per_node is not None and r.gpus_per_node > r.max_gpus_per_node:
            raise ValueError(
                f"resources.gpusPerNode ({r.gpus_per_node}) is larger than resources.maxGpusPerNode "
                f"({r.max_gpus_per_node})"
            )
        if self.algorithm in SINGLE_PROCESS_ALGORITHMS and ((r.nodes or 1) > 1 or (r.gpus_per_node or 0) > 1):
            raise ValueError(
                f"algorithm {self.algorithm} trains in one process: set resources.nodes to 1 and "
                "resources.gpusPerNode to 0 or 1"
            )
        names = [e.name for e in self.runtime.env]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"runtime.env sets {', '.join(dup)} more than once")
        if self.runtime.hf_token_secret_ref is not None and pod_env.HF_TOKEN in names:
            raise ValueError("runtime.env sets HF_TOKEN and runtime.hfTokenSecretRef is set: keep one")
        return self


def location_uris(spec: TrainingRunSpec) -> tuple[str, str, str]:
    """The run's locations: model, data, output."""
    return spec.model.uri, spec.data.uri, spec.output.uri


def pvc_claims(spec: TrainingRunSpec) -> list[str]:
    """Names of the PersistentVolumeClaims the run's locations use, in order of first use."""
    claims: list[str] = []
    for uri in location_uris(spec):
        claim = pvc_claim(uri)
        if claim and claim not in claims:
            claims.append(claim)
    return claims


def uses_object_store(spec: TrainingRunSpec) -> bool:
    """Whether any of the run's locations is in an object store (``s3://``)."""
    return any(kind_of(uri) == "s3" for uri in location_uris(spec))
