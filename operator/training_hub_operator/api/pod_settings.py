"""Settings of the training pods (``spec.runtime``: image, env, scheduling, metadata) and access to the
object store of ``s3://`` locations (``spec.storage``), with the Kubernetes references they use."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from training_hub.contracts.wire import WireModel
from training_hub_operator.api.constants import RESERVED_ENV_NAMES, RESERVED_ENV_PREFIXES, is_reserved_env
from training_hub_operator.api.patterns import DNS_SUBDOMAIN_PATTERN, ENV_NAME_PATTERN, ObjectName


class ObjectKeyRef(WireModel):
    """A key of a Secret or ConfigMap in the run's namespace."""

    name: str = Field(..., min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN, description="Name.")
    key: str = Field(..., min_length=1, max_length=253, description="Key inside the object.")


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
    service_account_name: ObjectName | None = Field(
        default=None, description="Service account of the training pods."
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
    workload_priority_class_name: ObjectName | None = Field(
        default=None,
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
