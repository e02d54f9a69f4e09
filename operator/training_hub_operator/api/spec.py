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

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from training_hub.contracts import pod_env
from training_hub.contracts.wire import WireModel
from training_hub.storage.uri import (
    DATA_KINDS,
    MODEL_KINDS,
    OUTPUT_KINDS,
    LocationKind,
    kind_of,
    parse_location,
    pvc_claim,
)
from training_hub_operator.api.constants import RESERVED_ENV_NAMES, RESERVED_ENV_PREFIXES, is_reserved_env

Algorithm = Literal["sft", "osft", "lora_sft", "embedding_sft", "dpo"]
#: Algorithms that train in one process (one pod, at most one GPU).
SINGLE_PROCESS_ALGORITHMS: tuple[str, ...] = ("embedding_sft",)
LauncherName = Literal["auto", "pytorchjob", "trainjob", "native"]

QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]+)?)(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"


def _location(uri: str, kinds: tuple[LocationKind, ...]) -> str:
    """Check a location with :func:`training_hub.storage.uri.parse_location` (the message lists the accepted
    forms; the CRD carries no pattern for it, so the API server never answers with a raw regex)."""
    parse_location(uri, kinds)
    return uri


class ObjectKeyRef(WireModel):
    """A key of a Secret or ConfigMap in the run's namespace."""

    name: str = Field(..., min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN, description="Name.")
    key: str = Field(..., min_length=1, max_length=253, description="Key inside the object.")


class ConfigMapKeyRef(WireModel):
    """A key of a ConfigMap in the run's namespace holding a model's ``config.json``."""

    name: str = Field(
        default=...,
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="ConfigMap name.",
    )
    key: str = Field(default="config.json", min_length=1, max_length=253, description="Key holding the JSON.")


class ModelSpec(WireModel):
    """The base model to fine-tune, and where the operator may read its configuration for planning."""

    uri: str = Field(
        default=...,
        min_length=1,
        description=(
            "Where the model is: `pvc://claim/path` (a PersistentVolumeClaim in the run's namespace, "
            "mounted at /mnt/pvc/<claim>), `hf://org/model` (downloaded by the pod), `s3://bucket/prefix` "
            "(a model directory staged into the pod; see `spec.storage`), an absolute path inside the pod, "
            "or a demo model `tiny://llama?hidden_size=32&layers=1` built in the pod."
        ),
    )
    config: dict[str, Any] | None = Field(
        default=None,
        description=(
            "The model's Hugging Face `config.json` inline (hidden_size, num_hidden_layers, vocab_size...). "
            "The planner reads it to size GPUs; the operator never reads model weights."
        ),
    )
    config_map_ref: ConfigMapKeyRef | None = Field(
        default=None, description="A ConfigMap key holding the model's `config.json`, for the planner."
    )
    allow_config_fetch: bool = Field(
        default=False,
        description=(
            "Let the operator fetch `config.json` (a few KB, never weights) from the Hugging Face Hub for "
            "an `hf://` model when planning. Off by default: clusters without internet stay predictable."
        ),
    )

    @field_validator("uri")
    @classmethod
    def _uri(cls, uri: str) -> str:
        return _location(uri, MODEL_KINDS)


class DataSpec(WireModel):
    """The training data."""

    uri: str = Field(
        default=...,
        min_length=1,
        description=(
            "The JSONL training data: `pvc://claim/path/train.jsonl`, `s3://bucket/train.jsonl` (staged "
            "into the pod; see `spec.storage`), an absolute path in the pod, or demo data "
            "`tiny://messages?samples=64` built in the pod."
        ),
    )

    @field_validator("uri")
    @classmethod
    def _uri(cls, uri: str) -> str:
        return _location(uri, DATA_KINDS)


class OutputSpec(WireModel):
    """Where checkpoints, metrics and the final model or adapter are written."""

    uri: str = Field(
        default=...,
        min_length=1,
        description=(
            "Output directory: `pvc://claim/path` (must be a ReadWriteMany claim for >1 node) or "
            "`s3://bucket/prefix` (each pod trains into a scratch volume; every checkpoint and the final "
            "model are mirrored to the bucket with completion markers, and restarted pods resume from the "
            "newest complete checkpoint there)."
        ),
    )

    @field_validator("uri")
    @classmethod
    def _uri(cls, uri: str) -> str:
        return _location(uri, OUTPUT_KINDS)


class ResourcesSpec(WireModel):
    """Compute for the run. Every field is optional: the planner fills what is missing from the model's size."""

    nodes: int | None = Field(default=None, ge=1, le=1024, description="Number of nodes (pods) to train on.")
    gpus_per_node: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="GPUs per node (`nvidia.com/gpu`); 0 trains on CPU (small models).",
    )
    max_nodes: int = Field(default=8, ge=1, le=1024, description="Largest node count the planner may choose.")
    max_gpus_per_node: int = Field(
        default=8, ge=1, le=64, description="Largest GPUs per node the planner may choose."
    )
    gpu_memory: str | None = Field(
        default=None,
        pattern=QUANTITY_PATTERN,
        description="Memory of one GPU (e.g. `80Gi`), used by the planner. Derived from `gpuProduct` if unset.",
    )
    gpu_product: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description=(
            "GPU product name as published by GPU feature discovery (e.g. `NVIDIA-A100-SXM4-80GB`); "
            "selects nodes through the `nvidia.com/gpu.product` label and tells the planner the memory."
        ),
    )
    cpu: str | None = Field(
        default=None, pattern=QUANTITY_PATTERN, description="CPU request and limit per pod."
    )
    memory: str | None = Field(
        default=None, pattern=QUANTITY_PATTERN, description="Memory request and limit per pod."
    )
    shm_size: str = Field(
        default="8Gi", pattern=QUANTITY_PATTERN, description="Size of the memory-backed /dev/shm of each pod."
    )

    @property
    def fixed(self) -> bool:
        """Whether the user fixed the shape (nodes and GPUs per node), so nothing is planned."""
        return self.nodes is not None and self.gpus_per_node is not None


class SecretKeySelector(WireModel):
    """A key of a Secret."""

    name: str = Field(..., min_length=1, description="Secret name.")
    key: str = Field(..., min_length=1, description="Key inside the Secret.")
    optional: bool | None = Field(default=None, description="Whether the Secret or key may be missing.")


class ConfigMapKeySelector(WireModel):
    """A key of a ConfigMap."""

    name: str = Field(..., min_length=1, description="ConfigMap name.")
    key: str = Field(..., min_length=1, description="Key inside the ConfigMap.")
    optional: bool | None = Field(default=None, description="Whether the ConfigMap or key may be missing.")


class EnvVarSource(WireModel):
    """Where an environment variable's value comes from."""

    secret_key_ref: SecretKeySelector | None = Field(default=None, description="A key of a Secret.")
    config_map_key_ref: ConfigMapKeySelector | None = Field(default=None, description="A key of a ConfigMap.")


class EnvVar(WireModel):
    """An environment variable of the training container (rendezvous and rank names are reserved)."""

    name: str = Field(..., min_length=1, pattern=ENV_NAME_PATTERN, description="Variable name.")
    value: str | None = Field(default=None, description="Literal value.")
    value_from: EnvVarSource | None = Field(default=None, description="Value from a Secret or ConfigMap key.")

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if is_reserved_env(name):
            raise ValueError(
                f"environment variable {name} is set by the launcher (reserved: "
                f"{', '.join(p + '*' for p in RESERVED_ENV_PREFIXES)}, {', '.join(sorted(RESERVED_ENV_NAMES))}); "
                "use spec.resources and spec.launcher instead"
            )
        return name

    @model_validator(mode="after")
    def _one_source(self) -> EnvVar:
        if self.value is not None and self.value_from is not None:
            raise ValueError(f"environment variable {self.name}: set value or valueFrom, not both")
        return self


class SecretEnvSource(WireModel):
    """All keys of a Secret as environment variables."""

    name: str = Field(..., min_length=1, description="Secret name.")


class LocalObjectReference(WireModel):
    """A reference to an object by name in the run's namespace."""

    name: str = Field(..., min_length=1, description="Name.")


class StorageSpec(WireModel):
    """Access to the object store of the run's `s3://` locations."""

    secret_ref: LocalObjectReference | None = Field(
        default=None,
        description=(
            "Secret in the run's namespace with the keys `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` "
            "(and optionally `AWS_SESSION_TOKEN`), exposed to the training container. Unset: the pod's own "
            "credentials (IRSA, instance role)."
        ),
    )
    endpoint: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description=(
            "Endpoint URL of an S3-compatible store (MinIO, Ceph RGW, ODF...), e.g. "
            "`http://minio.storage:9000` (sets `AWS_ENDPOINT_URL_S3`). Unset: AWS S3."
        ),
    )
    region: str | None = Field(
        default=None, min_length=1, max_length=63, description="Region (sets `AWS_DEFAULT_REGION`)."
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, endpoint: str | None) -> str | None:
        if endpoint is not None and not re.match(r"^https?://[^\s/]+(/[^\s]*)?$", endpoint):
            raise ValueError(f"{endpoint!r} is not an http:// or https:// URL")
        return endpoint


class RuntimeSpec(WireModel):
    """Settings of the training pods."""

    image: str | None = Field(
        default=None, min_length=1, description="Runtime image (default: the operator's `--default-image`)."
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        default=None, description="Image pull policy."
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        description="Extra environment variables (PET_*, MASTER_*, WORLD_SIZE, RANK... are reserved).",
    )
    env_from_secrets: list[SecretEnvSource] = Field(
        default_factory=list, description="Secrets whose keys all become environment variables."
    )
    hf_token_secret_ref: ObjectKeyRef | None = Field(
        default=None, description="Secret key holding a Hugging Face token (exposed to the pod as HF_TOKEN)."
    )
    service_account_name: str | None = Field(
        default=None, pattern=DNS_SUBDOMAIN_PATTERN, description="Service account of the training pods."
    )
    node_selector: dict[str, str] = Field(default_factory=dict, description="Node selector of the pods.")
    tolerations: list[dict[str, Any]] = Field(
        default_factory=list, description="Tolerations of the pods (Kubernetes `Toleration` objects)."
    )
    priority_class_name: str | None = Field(
        default=None,
        description="PriorityClass of the pods (with queueName, Kueue also takes the workload's priority "
        "from it unless workloadPriorityClassName is set).",
    )
    workload_priority_class_name: str | None = Field(
        default=None,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="Kueue WorkloadPriorityClass of the run (label kueue.x-k8s.io/priority-class; only "
        "with queueName).",
    )
    image_pull_secrets: list[LocalObjectReference] = Field(
        default_factory=list, description="Secrets for pulling the runtime image."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels on the pods.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Extra annotations on the pods.")

    @field_validator("tolerations")
    @classmethod
    def _tolerations_known(cls, tolerations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        allowed = {"key", "operator", "value", "effect", "tolerationSeconds"}
        for i, t in enumerate(tolerations):
            unknown = sorted(set(t) - allowed)
            if unknown:
                raise ValueError(f"tolerations[{i}]: unknown field(s) {', '.join(unknown)}")
        return tolerations


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
    queue_name: str | None = Field(
        default=None,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="Kueue LocalQueue: the job is created suspended and Kueue admits it.",
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


def pvc_claims(spec: TrainingRunSpec) -> list[str]:
    """Names of the PersistentVolumeClaims the run's locations use, in order of first use."""
    claims: list[str] = []
    for uri in (spec.model.uri, spec.data.uri, spec.output.uri):
        claim = pvc_claim(uri)
        if claim and claim not in claims:
            claims.append(claim)
    return claims


def uses_object_store(spec: TrainingRunSpec) -> bool:
    """Whether any of the run's locations is in an object store (``s3://``)."""
    return any(kind_of(uri) == "s3" for uri in (spec.model.uri, spec.data.uri, spec.output.uri))
