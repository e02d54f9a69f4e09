"""Where a run's model, data and outputs are (``spec.model``, ``spec.data``, ``spec.output``).

Each location is checked with :func:`training_hub.storage.uri.parse_location` (the message lists the accepted
forms; the CRD carries no pattern for it, so the API server never answers with a raw regex).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from training_hub.contracts.wire import WireModel
from training_hub.storage.uri import DATA_KINDS, MODEL_KINDS, OUTPUT_KINDS, LocationKind, parse_location
from training_hub_operator.api.patterns import DNS_SUBDOMAIN_PATTERN


def _uri_field(description: str) -> Any:
    """The required ``uri`` of a location, with its own description (a fresh field for each model)."""
    return Field(default=..., min_length=1, description=description)


class _Location(WireModel):
    """A location URI of one of the forms in ``kinds`` (each subclass declares ``uri`` with
    :func:`_uri_field` and its own description, and sets ``kinds``)."""

    kinds: ClassVar[tuple[LocationKind, ...]]
    uri: str

    @field_validator("uri")
    @classmethod
    def _uri(cls, uri: str) -> str:
        parse_location(uri, cls.kinds)
        return uri


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


class ModelSpec(_Location):
    """The base model to fine-tune, and where the operator may read its configuration for planning."""

    kinds = MODEL_KINDS

    uri: str = _uri_field(
        "Where the model is: `pvc://claim/path` (a PersistentVolumeClaim in the run's namespace, "
        "mounted at /mnt/pvc/<claim>), `hf://org/model` (downloaded by the pod), `s3://bucket/prefix` "
        "(a model directory staged into the pod; see `spec.storage`), an absolute path inside the pod, "
        "or a demo model `tiny://llama?hidden_size=32&layers=1` built in the pod."
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


class DataSpec(_Location):
    """The training data."""

    kinds = DATA_KINDS

    uri: str = _uri_field(
        "The JSONL training data: `pvc://claim/path/train.jsonl`, `s3://bucket/train.jsonl` (staged "
        "into the pod; see `spec.storage`), an absolute path in the pod, or demo data "
        "`tiny://messages?samples=64` built in the pod."
    )


class OutputSpec(_Location):
    """Where checkpoints, metrics and the final model or adapter are written."""

    kinds = OUTPUT_KINDS

    uri: str = _uri_field(
        "Output directory: `pvc://claim/path` (must be a ReadWriteMany claim for >1 node) or "
        "`s3://bucket/prefix` (each pod trains into a scratch volume; every checkpoint and the final "
        "model are mirrored to the bucket with completion markers, and restarted pods resume from the "
        "newest complete checkpoint there)."
    )
