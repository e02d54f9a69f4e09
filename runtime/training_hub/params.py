"""Parameter models: the single source of truth for every training parameter.

The Python API (`sft()`, `osft()`, `lora_sft()`), the CLI (flags and help text), the operator's
`TrainingRun` CRD schema (`spec.hyperparameters`) and the docs tables are all generated from the pydantic
models in this module. Names are the ones users of training_hub already know.

The models are grouped so that each consumer can take the part it owns:

* ``*Hyperparameters``: what an ML engineer tunes (embedded in the CRD).
* :class:`DataLocations`: where the model, data and outputs are (the operator maps ``pvc://`` URIs).
* :class:`DistributedParams`: torchrun settings (the launcher owns them inside a pod).
* ``*Params``: the full keyword set of each algorithm function (all three groups plus ``backend``).

This module imports only pydantic: the operator imports it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ALGORITHMS: tuple[str, ...] = ("sft", "osft", "lora_sft", "embedding_sft")
#: The algorithms the native engine trains (``embedding_sft`` runs on sentence-transformers).
ENGINE_ALGORITHMS: tuple[str, ...] = ("sft", "osft", "lora_sft")

DataFormat = Literal["auto", "messages", "document", "alpaca"]
LRScheduler = Literal["cosine", "linear", "constant"]
OverlongPolicy = Literal["drop", "truncate", "error"]
DistributedStrategy = Literal["auto", "ddp", "fsdp"]
EmbeddingLoss = Literal["batch_all_triplet", "batch_hard_triplet", "mnrl"]
EmbeddingBatchSampler = Literal["group_by_label", "no_duplicates", "default"]


class _Strict(BaseModel):
    """Base for parameter groups: unknown names are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)


class CommonHyperparameters(_Strict):
    """Hyperparameters shared by every algorithm."""

    num_epochs: int = Field(1, ge=1, le=10_000, description="Number of passes over the training data.")
    effective_batch_size: int = Field(
        8,
        ge=1,
        le=1_000_000,
        description="Samples per optimizer step across all ranks (reached with gradient accumulation).",
    )
    learning_rate: float = Field(2e-5, gt=0, le=1.0, description="Peak learning rate of AdamW.")
    max_seq_len: int = Field(
        2048,
        ge=8,
        le=1_048_576,
        description="Longest sample in tokens; longer ones follow `overlong_policy`.",
    )
    max_tokens_per_gpu: int | None = Field(
        None,
        ge=8,
        description=(
            "Token budget of one micro-batch on one GPU (padding-free packing). Defaults to `max_seq_len`. "
            "Lower it to fit memory; accumulation keeps `effective_batch_size`."
        ),
    )
    warmup_steps: int = Field(0, ge=0, description="Linear warmup steps before the schedule.")
    lr_scheduler: LRScheduler = Field("cosine", description="Learning-rate decay after warmup.")
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="AdamW decoupled weight decay.")
    adam_beta1: float = Field(0.9, gt=0.0, lt=1.0, description="AdamW beta1.")
    adam_beta2: float = Field(0.95, gt=0.0, lt=1.0, description="AdamW beta2.")
    adam_epsilon: float = Field(1e-8, gt=0.0, lt=1.0, description="AdamW epsilon.")
    max_grad_norm: float = Field(1.0, ge=0.0, description="Gradient clipping norm (0: no clipping).")
    seed: int = Field(42, ge=0, description="Seed for initialisation of new weights and the data order.")
    save_samples: int = Field(
        0, ge=0, description="Save a checkpoint every this many samples (0: only at epoch ends)."
    )
    checkpoint_at_epoch: bool = Field(True, description="Save a checkpoint at the end of every epoch.")
    keep_last_checkpoints: int | None = Field(
        None, ge=1, description="Keep only this many most recent checkpoints (null: keep all)."
    )
    data_format: DataFormat = Field(
        "auto", description="Format of the JSONL data: `messages`, `document`, `alpaca` or `auto` (detect)."
    )
    is_pretraining: bool = Field(
        False, description="Treat the data as raw documents, packed into `block_size` chunks."
    )
    block_size: int | None = Field(
        None, ge=8, description="Chunk length in tokens for pretraining data (defaults to `max_seq_len`)."
    )
    unmask_roles: list[str] | None = Field(
        None,
        description=(
            "Roles whose tokens are trained on for `messages` data (default: assistant only; a sample's "
            "`unmask: true` trains all roles but system)."
        ),
    )
    overlong_policy: OverlongPolicy = Field(
        "truncate",
        description="What to do with samples longer than `max_seq_len`: truncate, drop (counted), or error.",
    )
    use_liger: bool = Field(False, description="Use Liger kernels (GPU only; an error where unavailable).")
    distributed_strategy: DistributedStrategy = Field(
        "auto", description="How ranks share the model: DDP, FSDP, or auto (FSDP on GPU with >1 rank)."
    )
    bf16: bool | None = Field(None, description="Train in bfloat16 (default: on GPU yes, on CPU no).")
    activation_checkpointing: bool | None = Field(
        None,
        description=(
            "Recompute each decoder layer's activations in backward instead of keeping them (default: on "
            "GPU yes, as the upstream engines do; on CPU no). Less memory for about a third more compute."
        ),
    )
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps.")
    enable_jit_checkpoint: bool | None = Field(
        None,
        description=(
            "On SIGTERM (preemption, eviction) save a full checkpoint after the current step and exit 143; "
            "the next run resumes from it. Unset: on in the native engine (upstream: off); false: SIGTERM "
            "ends training at once."
        ),
    )


class ValidationSplitHyperparameters(_Strict):
    """Held-out validation data (upstream's ``validation_split`` / ``validation_frequency`` of
    instructlab-training and mini-trainer, which upstream ``sft``/``osft`` pass through)."""

    validation_split: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description=(
            "Fraction of the training data held out (seeded) for the eval loss; 0 disables it. Exclusive "
            "with `eval_data_path`."
        ),
    )
    validation_frequency: int | None = Field(
        None,
        ge=1,
        description=(
            "Compute the eval loss every this many optimizer steps (null: at the end of every epoch)."
        ),
    )


class SFTHyperparameters(CommonHyperparameters, ValidationSplitHyperparameters):
    """Supervised fine-tuning: every weight trains."""


class OSFTHyperparameters(CommonHyperparameters, ValidationSplitHyperparameters):
    """Orthogonal Subspace Fine-Tuning: continual learning without forgetting."""

    unfreeze_rank_ratio: float = Field(
        ...,
        gt=0.0,
        le=1.0,
        description=(
            "Fraction of each targeted matrix's singular subspace that trains; the top "
            "`1 - unfreeze_rank_ratio` is frozen and updates stay orthogonal to it."
        ),
    )
    target_patterns: list[str] | None = Field(
        None,
        description="Substrings of parameter names to decompose (default: attention and MLP projections).",
    )


class LoRAHyperparameters(CommonHyperparameters):
    """LoRA adapters on a frozen base model."""

    learning_rate: float = Field(2e-4, gt=0, le=1.0, description="Peak learning rate of AdamW.")
    num_epochs: int = Field(3, ge=1, le=10_000, description="Number of passes over the training data.")
    lora_r: int = Field(16, ge=1, le=4096, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the LoRA branch.")
    target_modules: list[str] | None = Field(
        None, description="Module names to adapt (default: all linear projections of attention and MLP)."
    )
    merge_adapter: bool = Field(
        False, description="Also save the base model with the adapter merged into it (`merged/`)."
    )
    load_in_4bit: bool = Field(False, description="QLoRA: load the base in 4 bit (unsloth on GPU only).")
    eval_steps: int = Field(
        500,
        ge=1,
        description="Compute the eval loss every this many optimizer steps (with `eval_data_path`).",
    )
    per_device_eval_batch_size: int | None = Field(
        None,
        ge=1,
        description="Eval samples per micro-batch and GPU (default: packed to the `max_tokens_per_gpu` budget).",
    )


class EmbeddingSFTHyperparameters(_Strict):
    """Contrastive fine-tuning of a sentence-embedding model (sentence-transformers)."""

    loss_type: EmbeddingLoss = Field(
        "batch_all_triplet",
        description="Contrastive loss: `batch_all_triplet`, `batch_hard_triplet` or `mnrl` (pairs per label).",
    )
    num_epochs: int = Field(20, ge=1, le=10_000, description="Number of passes over the training data.")
    batch_size: int = Field(32, ge=1, le=1_000_000, description="Samples per batch and device.")
    learning_rate: float = Field(2e-5, gt=0, le=1.0, description="Peak learning rate of AdamW.")
    warmup_ratio: float = Field(0.1, ge=0.0, le=1.0, description="Fraction of the steps spent warming up.")
    batch_sampler: EmbeddingBatchSampler | None = Field(
        None,
        description=(
            "How batches are drawn (null: `group_by_label` for triplet losses, `no_duplicates` for mnrl, "
            "`default` for a custom `loss_fn`)."
        ),
    )
    text_column: str = Field("text", min_length=1, description="Column of the input text.")
    label_column: str = Field("label", min_length=1, description="Column of the class label.")
    seed: int = Field(42, ge=0, description="Seed of the data order and the pair sampling.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps.")


class DataLocations(_Strict):
    """Where the model and data come from and where results go."""

    model_path: str = Field(..., min_length=1, description="Hugging Face model directory (or hub id).")
    data_path: str = Field(..., min_length=1, description="Training data: a JSONL file.")
    ckpt_output_dir: str = Field(..., min_length=1, description="Directory for checkpoints and metrics.")
    data_output_dir: str | None = Field(
        None, description="Directory for processed data (default: `<ckpt_output_dir>/data`)."
    )
    checkpoint_storage: str | None = Field(
        None,
        description=(
            "Mirror every checkpoint and the final model to this fsspec URI (`s3://bucket/prefix`, "
            "`gs://...`, `file://...`) with completion markers; a run whose `ckpt_output_dir` holds no "
            "checkpoint resumes from the newest complete one there. `pvc` or unset: local only."
        ),
    )

    @field_validator("checkpoint_storage")
    @classmethod
    def _storage_uri(cls, value: str | None) -> str | None:
        if value in (None, "", "pvc"):
            return None
        if "://" not in str(value) or not str(value).partition("://")[2].strip("/"):
            raise ValueError(f"must be 'pvc' or a URI such as 's3://bucket/prefix', got {value!r}")
        return value


class EvalDataLocation(_Strict):
    """Where evaluation data comes from."""

    eval_data_path: str | None = Field(
        None,
        min_length=1,
        description="Evaluation data (same format as `data_path`): its loss is logged as `eval_loss`.",
    )


class TrackerParams(_Strict):
    """Experiment trackers, upstream training_hub's names. A tracker is on when one of its keywords is set
    (MLflow and W&B also from `MLFLOW_TRACKING_URI`/`MLFLOW_EXPERIMENT_NAME`/`WANDB_PROJECT`, as upstream).
    """

    wandb_project: str | None = Field(None, min_length=1, description="Weights & Biases project name.")
    wandb_entity: str | None = Field(None, min_length=1, description="Weights & Biases team/entity name.")
    wandb_run_name: str | None = Field(None, min_length=1, description="Weights & Biases run name.")
    tensorboard_log_dir: str | None = Field(
        None, min_length=1, description="Directory for TensorBoard event files."
    )
    mlflow_tracking_uri: str | None = Field(
        None, min_length=1, description="MLflow tracking URI (a server, or `file://` for a local store)."
    )
    mlflow_experiment_name: str | None = Field(None, min_length=1, description="MLflow experiment name.")
    mlflow_run_name: str | None = Field(None, min_length=1, description="MLflow run name.")


class DistributedParams(_Strict):
    """torchrun settings. Precedence: explicit value > environment (`PET_*`, `MASTER_*`) > default."""

    nproc_per_node: int | str | None = Field(
        None, description="Processes per node: an integer, `auto` or `gpu` (GPU count; needs CUDA)."
    )
    nnodes: int | None = Field(None, ge=1, description="Number of nodes.")
    node_rank: int | None = Field(None, ge=0, description="Rank of this node.")
    rdzv_id: str | int | None = Field(None, description="Rendezvous id (c10d).")
    rdzv_endpoint: str | None = Field(None, description="Rendezvous endpoint host:port (c10d).")
    master_addr: str | None = Field(None, description="Master address (static rendezvous).")
    master_port: int | None = Field(None, ge=1, le=65535, description="Master port.")


class _AlgorithmParams(_Strict):
    backend: str = Field("auto", description="Backend name (kebab-case), or `auto`.")

    @model_validator(mode="after")
    def _rendezvous_exclusive(self) -> _AlgorithmParams:
        if getattr(self, "master_addr", None) and getattr(self, "rdzv_endpoint", None):
            raise ValueError("master_addr and rdzv_endpoint are mutually exclusive: set one of them")
        return self


class _OneEvalSource(_Strict):
    @model_validator(mode="after")
    def _one_eval_source(self) -> _OneEvalSource:
        if getattr(self, "eval_data_path", None) and getattr(self, "validation_split", 0.0):
            raise ValueError("eval_data_path and validation_split are mutually exclusive: set one of them")
        return self


class SFTParams(
    SFTHyperparameters,
    DataLocations,
    EvalDataLocation,
    TrackerParams,
    DistributedParams,
    _OneEvalSource,
    _AlgorithmParams,
):
    """Every keyword of `sft()`."""


class OSFTParams(
    OSFTHyperparameters,
    DataLocations,
    EvalDataLocation,
    TrackerParams,
    DistributedParams,
    _OneEvalSource,
    _AlgorithmParams,
):
    """Every keyword of `osft()`."""


class LoRAParams(
    LoRAHyperparameters, DataLocations, EvalDataLocation, TrackerParams, DistributedParams, _AlgorithmParams
):
    """Every keyword of `lora_sft()`."""


class EmbeddingDataLocations(_Strict):
    """Where the embedding model and its labelled texts are, and where the fine-tuned model goes."""

    model_path: str = Field(..., min_length=1, description="sentence-transformers model directory.")
    data_path: str = Field(..., min_length=1, description="Training data: JSONL of `text` and `label`.")
    ckpt_output_dir: str = Field(..., min_length=1, description="Directory of the fine-tuned model.")


class EmbeddingSFTParams(
    EmbeddingSFTHyperparameters, EmbeddingDataLocations, EvalDataLocation, DistributedParams, _AlgorithmParams
):
    """Every keyword of `embedding_sft()` (besides the `loss_fn` object)."""

    backend: str = Field("sentence-transformers", description="Backend name (kebab-case), or `auto`.")


HYPERPARAMETER_MODELS: dict[str, type[_Strict]] = {
    "sft": SFTHyperparameters,
    "osft": OSFTHyperparameters,
    "lora_sft": LoRAHyperparameters,
    "embedding_sft": EmbeddingSFTHyperparameters,
}

PARAM_MODELS: dict[str, type[_AlgorithmParams]] = {
    "sft": SFTParams,
    "osft": OSFTParams,
    "lora_sft": LoRAParams,
    "embedding_sft": EmbeddingSFTParams,
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
