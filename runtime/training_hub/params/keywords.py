"""Every keyword of each algorithm function: the parameter groups composed per algorithm, and the registry.

The cross-field rules that need more than one group (rendezvous, evaluation source) live here too.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from training_hub.params.base import StrictParams
from training_hub.params.hyperparameters import (
    DPOHyperparameters,
    EmbeddingSFTHyperparameters,
    LoRAHyperparameters,
    OSFTHyperparameters,
    SFTHyperparameters,
)
from training_hub.params.locations import DataLocations, EmbeddingDataLocations, EvalDataLocation
from training_hub.params.runtime import DistributedParams, TrackerParams
from training_hub.params.upstream import (
    UpstreamAdamNames,
    UpstreamDocumentKey,
    UpstreamLoRAOptions,
    UpstreamOSFTOptions,
    UpstreamSFTOptions,
)

ALGORITHMS: tuple[str, ...] = ("sft", "osft", "lora_sft", "embedding_sft", "dpo")
#: The algorithms the native engine trains (``embedding_sft`` runs on sentence-transformers).
ENGINE_ALGORITHMS: tuple[str, ...] = ("sft", "osft", "lora_sft", "dpo")


class _AlgorithmParams(StrictParams):
    backend: str = Field("auto", description="Backend name (kebab-case), or `auto`.")

    @model_validator(mode="after")
    def _rendezvous_exclusive(self) -> _AlgorithmParams:
        if getattr(self, "master_addr", None) and getattr(self, "rdzv_endpoint", None):
            raise ValueError("master_addr and rdzv_endpoint are mutually exclusive: set one of them")
        return self


class _OneEvalSource(StrictParams):
    @model_validator(mode="after")
    def _one_eval_source(self) -> _OneEvalSource:
        if getattr(self, "eval_data_path", None) and getattr(self, "validation_split", 0.0):
            raise ValueError("eval_data_path and validation_split are mutually exclusive: set one of them")
        return self


# ------------------------------------------------------------------ upstream training_hub 0.11 keywords


class _RunWithEvalSource(
    DataLocations, EvalDataLocation, TrackerParams, DistributedParams, _OneEvalSource, _AlgorithmParams
):
    """The groups ``sft()`` and ``osft()`` share after their own (locations, eval data or split, trackers,
    torchrun, backend), in the order their keywords are listed."""


class SFTParams(
    SFTHyperparameters,
    UpstreamAdamNames,
    UpstreamDocumentKey,
    UpstreamSFTOptions,
    _RunWithEvalSource,
):
    """Every keyword of `sft()`."""


class OSFTParams(
    OSFTHyperparameters,
    UpstreamAdamNames,
    UpstreamDocumentKey,
    UpstreamOSFTOptions,
    _RunWithEvalSource,
):
    """Every keyword of `osft()`."""


class LoRAParams(
    LoRAHyperparameters,
    UpstreamLoRAOptions,
    DataLocations,
    EvalDataLocation,
    TrackerParams,
    DistributedParams,
    _AlgorithmParams,
):
    """Every keyword of `lora_sft()`."""


class DPOParams(DPOHyperparameters, DataLocations, TrackerParams, DistributedParams, _AlgorithmParams):
    """Every keyword of `dpo()`."""


class EmbeddingSFTParams(
    EmbeddingSFTHyperparameters, EmbeddingDataLocations, EvalDataLocation, DistributedParams, _AlgorithmParams
):
    """Every keyword of `embedding_sft()` (besides the `loss_fn` object)."""

    backend: str = Field("sentence-transformers", description="Backend name (kebab-case), or `auto`.")


#: What the native engine receives: the validated parameters of one of :data:`ENGINE_ALGORITHMS`.
EngineParams = SFTParams | OSFTParams | LoRAParams | DPOParams

HYPERPARAMETER_MODELS: dict[str, type[StrictParams]] = {
    "sft": SFTHyperparameters,
    "osft": OSFTHyperparameters,
    "lora_sft": LoRAHyperparameters,
    "embedding_sft": EmbeddingSFTHyperparameters,
    "dpo": DPOHyperparameters,
}

PARAM_MODELS: dict[str, type[_AlgorithmParams]] = {
    "sft": SFTParams,
    "osft": OSFTParams,
    "lora_sft": LoRAParams,
    "embedding_sft": EmbeddingSFTParams,
    "dpo": DPOParams,
}


def param_model(algorithm: str) -> type[_AlgorithmParams]:
    """Return the full parameter model of an algorithm.

    Args:
        algorithm: One of :data:`ALGORITHMS`.

    Returns:
        The pydantic model class whose fields are the algorithm's keywords.

    Raises:
        ValueError: If the algorithm is unknown.
    """
    try:
        return PARAM_MODELS[algorithm]
    except KeyError:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}") from None


def required_params(algorithm: str) -> list[str]:
    """Names of the parameters an algorithm cannot run without."""
    return [name for name, f in param_model(algorithm).model_fields.items() if f.is_required()]


def optional_params(algorithm: str) -> list[str]:
    """Names of the parameters that have a default."""
    return [name for name, f in param_model(algorithm).model_fields.items() if not f.is_required()]


def validate_params(algorithm: str, values: dict[str, Any]) -> _AlgorithmParams:
    """Validate keyword arguments of an algorithm, dropping `None` values (meaning "not set").

    Args:
        algorithm: One of :data:`ALGORITHMS`.
        values: Keyword arguments as given by the user.

    Returns:
        The validated parameter model.

    Raises:
        pydantic.ValidationError: On unknown names or invalid values.
    """
    given = {k: v for k, v in values.items() if v is not None}
    return param_model(algorithm).model_validate(given)
