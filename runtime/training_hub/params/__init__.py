"""Parameter models: the single source of truth for every training parameter.

The Python API (`sft()`, `osft()`, `lora_sft()`), the CLI (flags and help text), the operator's
`TrainingRun` CRD schema (`spec.hyperparameters`) and the docs tables are all generated from the pydantic
models in this package. Names are the ones users of training_hub already know.

The models are grouped so that each consumer can take the part it owns, one module a group:

* :mod:`~training_hub.params.hyperparameters`: ``*Hyperparameters``, what an ML engineer tunes (embedded
  in the CRD).
* :mod:`~training_hub.params.locations`: :class:`DataLocations`, where the model, data and outputs are
  (the operator maps ``pvc://`` URIs).
* :mod:`~training_hub.params.runtime`: :class:`DistributedParams` (torchrun settings; the launcher owns
  them inside a pod) and :class:`TrackerParams` (experiment trackers).
* :mod:`~training_hub.params.upstream`: upstream training_hub 0.11's library-only keywords.
* :mod:`~training_hub.params.keywords`: ``*Params``, the full keyword set of each algorithm function (the
  groups above plus ``backend``), and the registry (:func:`param_model`, :func:`validate_params`).

This package imports only pydantic: the operator imports it. The names below are its public API.
"""

from __future__ import annotations

from training_hub.params.hyperparameters import (
    CommonHyperparameters,
    DPOHyperparameters,
    EmbeddingSFTHyperparameters,
    LoRAHyperparameters,
    OSFTHyperparameters,
    SFTHyperparameters,
    ValidationSplitHyperparameters,
)
from training_hub.params.keywords import (
    ALGORITHMS,
    ENGINE_ALGORITHMS,
    HYPERPARAMETER_MODELS,
    PARAM_MODELS,
    DPOParams,
    EmbeddingSFTParams,
    EngineParams,
    LoRAParams,
    OSFTParams,
    SFTParams,
    optional_params,
    param_model,
    required_params,
    validate_params,
)
from training_hub.params.locations import DataLocations, EmbeddingDataLocations, EvalDataLocation
from training_hub.params.runtime import DistributedParams, TrackerParams
from training_hub.params.upstream import UPSTREAM_RENAMES

__all__ = [
    "ALGORITHMS",
    "ENGINE_ALGORITHMS",
    "HYPERPARAMETER_MODELS",
    "PARAM_MODELS",
    "UPSTREAM_RENAMES",
    "CommonHyperparameters",
    "DPOHyperparameters",
    "DPOParams",
    "DataLocations",
    "DistributedParams",
    "EmbeddingDataLocations",
    "EmbeddingSFTHyperparameters",
    "EmbeddingSFTParams",
    "EngineParams",
    "EvalDataLocation",
    "LoRAHyperparameters",
    "LoRAParams",
    "OSFTHyperparameters",
    "OSFTParams",
    "SFTHyperparameters",
    "SFTParams",
    "TrackerParams",
    "ValidationSplitHyperparameters",
    "optional_params",
    "param_model",
    "required_params",
    "validate_params",
]
