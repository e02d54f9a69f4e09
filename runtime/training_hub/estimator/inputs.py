"""What an estimate is asked: the method, the model, the token budget and the engine (:class:`EstimateInputs`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from training_hub.defaults import ALGORITHM_DEFAULTS
from training_hub.errors import InvalidInputError
from training_hub.estimator.dpo_reference import DPOReference, dpo_reference_kind
from training_hub.estimator.engines import ENGINES
from training_hub.estimator.model_config import load_model_config

TrainingMethod = Literal["sft", "osft", "lora", "qlora"]
DType = Literal["bf16", "fp32"]
Device = Literal["cuda", "cpu"]
Strategy = Literal["auto", "ddp", "fsdp"]

#: Training-hub algorithm names -> estimator method names.
ALGORITHM_METHODS: dict[str, TrainingMethod] = {
    "sft": "sft",
    "osft": "osft",
    "lora_sft": "lora",
    "embedding_sft": "sft",  # every weight of the encoder trains
    "dpo": "sft",  # the policy trains like sft (lora with use_lora); the reference: estimator/dpo_reference.py
}


class EstimateInputs(BaseModel):
    """Everything the estimate needs except the number of GPUs."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    training_method: TrainingMethod = Field(..., description="sft, osft, lora or qlora.")
    model_config_dict: dict[str, Any] | None = Field(
        None, alias="model_config", description="The model's config.json contents."
    )
    model_path: str | None = Field(None, description="Model directory, config.json path or hub id.")
    allow_download: bool = Field(False, description="Allow fetching config.json from the hub.")
    max_tokens_per_gpu: int | None = Field(None, ge=1, description="Tokens per micro-batch per GPU.")
    max_seq_len: int | None = Field(None, ge=1, description="Longest sample (default token budget).")
    batch_size: int | None = Field(None, ge=1, description="Samples per micro-batch (with max_seq_len).")
    use_liger: bool = Field(False, description="Liger kernels: fused linear cross-entropy, no logits.")
    unfreeze_rank_ratio: float = Field(0.25, gt=0.0, le=1.0, description="OSFT trainable rank fraction.")
    lora_r: int = Field(32, ge=1, description="LoRA rank.")
    lora_target_modules: list[str] | None = Field(None, description="LoRA/OSFT targets (default: all).")
    dtype: DType = Field("bf16", description="bf16: bf16 weights, fp32 grads/optimizer; fp32: all fp32.")
    device: Device = Field("cuda", description="cuda adds the runtime overhead; cpu does not.")
    distributed_strategy: Strategy = Field("auto", description="auto: FSDP with more than one rank.")
    activation_checkpointing: bool = Field(False, description="Recompute layer activations in backward.")
    runtime_overhead_bytes: int | None = Field(None, ge=0, description="Override the runtime overhead.")
    dpo_reference: DPOReference = Field("none", description="DPO's frozen reference: none, model or logits.")
    engine: str | None = Field(
        None,
        description=(
            "The engine whose memory behaviour to model (native, peft, instructlab-training, mini-trainer, "
            "unsloth); None: the generic model (bf16 weights, the parameters' strategy)."
        ),
    )

    @model_validator(mode="after")
    def _known_engine(self) -> EstimateInputs:
        if self.engine is not None and self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        return self

    @model_validator(mode="after")
    def _has_model(self) -> EstimateInputs:
        if self.model_config_dict is None and self.model_path is None:
            raise ValueError("give the model as model_config (config.json contents) or model_path")
        return self

    def resolved_config(self) -> dict[str, Any]:
        """The model config dict (loaded from ``model_path`` when no dict was given)."""
        source: Any = self.model_config_dict if self.model_config_dict is not None else self.model_path
        return load_model_config(source, allow_download=self.allow_download)

    def tokens_per_gpu(self) -> int:
        """Tokens in one micro-batch: ``max_tokens_per_gpu``, else ``batch_size x max_seq_len``."""
        if self.max_tokens_per_gpu is not None:
            return self.max_tokens_per_gpu
        if self.max_seq_len is not None:
            return self.max_seq_len * (self.batch_size or 1)
        raise InvalidInputError("give max_tokens_per_gpu or max_seq_len: the token budget sizes activations")

    @classmethod
    def from_training_params(
        cls,
        algorithm: str,
        hyperparameters: dict[str, Any],
        model_config: dict[str, Any],
        engine: str | None = None,
    ) -> EstimateInputs:
        """Build inputs from a TrainingRun's algorithm and ``spec.hyperparameters``.

        Args:
            algorithm: ``sft``, ``osft`` or ``lora_sft``.
            hyperparameters: The hyperparameters (names of :mod:`training_hub.params`); unknown names
                are ignored here (the parameter models validate them).
            model_config: The model's config.json contents.
            engine: The backend that will run (see :mod:`training_hub.estimator.engines`); its activation
                checkpointing default applies when the hyperparameters leave it unset (on, on a GPU).

        Raises:
            InvalidInputError: Unknown algorithm.
        """
        if algorithm not in ALGORITHM_METHODS:
            raise InvalidInputError(
                f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHM_METHODS)}"
            )
        hp = {k: v for k, v in hyperparameters.items() if v is not None}
        method: TrainingMethod = ALGORITHM_METHODS[algorithm]
        if method == "lora" and hp.get("load_in_4bit"):
            method = "qlora"
        if algorithm == "dpo":
            method = "lora" if hp.get("use_lora") else method
        strategy = hp.get("distributed_strategy", "auto")
        # the engine's default (training_hub.defaults); embedding_sft sets its own length below
        row = ALGORITHM_DEFAULTS.get(algorithm)
        max_seq_len = row.max_seq_len if row else None
        values: dict[str, Any] = {
            "training_method": method,
            "model_config": model_config,
            "max_tokens_per_gpu": hp.get("max_tokens_per_gpu") or hp.get("max_seq_len", max_seq_len),
            "max_seq_len": hp.get("max_seq_len", max_seq_len),
            "use_liger": bool(hp.get("use_liger", False)),
            "dtype": "fp32" if hp.get("bf16") is False else "bf16",
            "distributed_strategy": strategy if strategy in ("auto", "ddp", "fsdp") else "auto",
            "engine": engine,
        }
        if engine is not None:
            explicit = hp.get("activation_checkpointing")
            values["activation_checkpointing"] = True if explicit is None else bool(explicit)
        if algorithm == "embedding_sft":
            # sentence-transformers: padded batches of `batch_size` texts of up to 512 tokens, fp32 weights
            # under autocast, and a pooling head (no vocabulary logits: counted as 0 like fused CE)
            seq = min(int(model_config.get("max_position_embeddings") or 512), 512)
            values.update(
                max_tokens_per_gpu=int(hp.get("batch_size", 32)) * seq,
                max_seq_len=seq,
                use_liger=True,
                dtype="fp32",
            )
        if algorithm == "dpo":
            values["dpo_reference"] = dpo_reference_kind(hp)
        if "unfreeze_rank_ratio" in hp:
            values["unfreeze_rank_ratio"] = hp["unfreeze_rank_ratio"]
        if "lora_r" in hp:
            values["lora_r"] = hp["lora_r"]
        targets = hp.get("target_modules") if method in ("lora", "qlora") else None
        if targets:
            values["lora_target_modules"] = list(targets)
        return cls.model_validate(values)
