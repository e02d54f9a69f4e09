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

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from training_hub.storage.uri import split_uri

ALGORITHMS: tuple[str, ...] = ("sft", "osft", "lora_sft", "embedding_sft", "dpo")
#: The algorithms the native engine trains (``embedding_sft`` runs on sentence-transformers).
ENGINE_ALGORITHMS: tuple[str, ...] = ("sft", "osft", "lora_sft", "dpo")

DataFormat = Literal["auto", "messages", "document", "alpaca"]
LRScheduler = Literal["cosine", "linear", "constant"]
OverlongPolicy = Literal["drop", "truncate", "error"]
DistributedStrategy = Literal["auto", "ddp", "fsdp"]
EmbeddingLoss = Literal["batch_all_triplet", "batch_hard_triplet", "mnrl"]
EmbeddingBatchSampler = Literal["group_by_label", "no_duplicates", "default"]
DPOLossType = Literal["sigmoid", "ipo", "robust"]


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
            "`unmask: true` trains all roles but system; `lora_sft`: unset trains every token of the "
            "rendered conversation, as upstream's LoRA)."
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
            "the next run resumes from it. Unset or false (upstream's default): SIGTERM ends training at "
            "once. A TrainingRun's pods set it to true when they train on this project's engine."
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


def _lora_field(name: str) -> Any:
    """The field of :class:`LoRAHyperparameters` named ``name`` (one definition of the LoRA knobs)."""
    return copy.deepcopy(LoRAHyperparameters.model_fields[name])


class DPOHyperparameters(CommonHyperparameters):
    """Direct Preference Optimization on chosen/rejected pairs (Rafailov et al. 2023, arXiv:2305.18290)."""

    learning_rate: float = Field(
        1e-6, gt=0, le=1.0, description="Peak learning rate of AdamW (TRL's default)."
    )
    effective_batch_size: int = Field(
        8,
        ge=1,
        le=1_000_000,
        description="Preference pairs per optimizer step across all ranks (reached with gradient accumulation).",
    )
    beta: float = Field(
        0.1,
        gt=0.0,
        le=100.0,
        description=(
            "Strength of the pull towards the reference model (higher: closer to it). For `ipo` it is the "
            "regularisation tau of the IPO paper."
        ),
    )
    loss_type: DPOLossType = Field(
        "sigmoid",
        description=(
            "Preference loss: `sigmoid` (DPO), `ipo` (IPO, length-normalised as TRL) or `robust` (robust "
            "DPO with `label_smoothing` as the label-flip probability)."
        ),
    )
    label_smoothing: float = Field(
        0.0,
        ge=0.0,
        lt=0.5,
        description=(
            "Probability that a preference label is flipped: conservative DPO (cDPO) for `sigmoid`, the "
            "flip rate of `robust`; not used by `ipo`."
        ),
    )
    reference_model_path: str | None = Field(
        None,
        min_length=1,
        description=(
            "Frozen reference model (default: the starting weights, `model_path`; with `use_lora`, the base "
            "model with the adapter disabled)."
        ),
    )
    precompute_ref_log_probs: bool = Field(
        False,
        description=(
            "Compute the reference log-probs of every pair once before training and free the reference model "
            "(saves its memory during training). Data lines may also carry `ref_chosen_logps`/"
            "`ref_rejected_logps`."
        ),
    )
    use_lora: bool = Field(
        False,
        description="Train LoRA adapters (peft) instead of every weight; the reference is the base model.",
    )
    lora_r: int = _lora_field("lora_r")
    lora_alpha: int = _lora_field("lora_alpha")
    lora_dropout: float = _lora_field("lora_dropout")
    target_modules: list[str] | None = _lora_field("target_modules")

    @model_validator(mode="after")
    def _dpo_consistent(self) -> DPOHyperparameters:
        if self.is_pretraining:
            raise ValueError("is_pretraining does not apply to dpo: its data are chosen/rejected pairs")
        if self.data_format != "auto":
            raise ValueError(
                "data_format does not apply to dpo: preference pairs are detected from their keys"
            )
        for name in ("block_size", "unmask_roles"):
            if getattr(self, name) is not None:
                raise ValueError(
                    f"{name} does not apply to dpo: the loss covers the chosen/rejected responses"
                )
        if self.use_lora and self.reference_model_path:
            raise ValueError(
                "reference_model_path and use_lora are exclusive: with LoRA the reference is the base model"
            )
        return self


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
        try:
            split_uri(str(value))
        except ValueError:
            raise ValueError(f"must be 'pvc' or a URI such as 's3://bucket/prefix', got {value!r}") from None
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


# ------------------------------------------------------------------ upstream training_hub 0.11 keywords
# (Field declarations below look like the ones above by nature: one pydantic field per keyword.)
# Keywords of upstream's sft()/osft()/lora_sft() that are library-level only (not in the TrainingRun CRD).
# ``None`` is "not set". Renames of our parameters (``beta1``...) are copied onto ours before validation;
# the others are honoured by the backend that has the feature, and the native engine rejects a value it
# cannot honour (``training_hub.backends.native``). docs/compatibility.md lists each one.

#: Upstream name -> our parameter, for keywords that only differ in name (same meaning, same default).
UPSTREAM_RENAMES: dict[str, str] = {
    "beta1": "adam_beta1",
    "beta2": "adam_beta2",
    "eps": "adam_epsilon",
    "save_total_limit": "keep_last_checkpoints",
}


class _UpstreamRenames(_Strict):
    @model_validator(mode="before")
    @classmethod
    def _copy_upstream_renames(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for upstream, ours in UPSTREAM_RENAMES.items():
            if upstream not in cls.model_fields or data.get(upstream) is None:
                continue
            if data.get(ours) is not None and data[ours] != data[upstream]:
                raise ValueError(
                    f"{upstream} (upstream's name) and {ours} are the same parameter: set one of them "
                    f"(got {data[upstream]!r} and {data[ours]!r})"
                )
            data[ours] = data[upstream]
        return data


class UpstreamAdamNames(_UpstreamRenames):
    """Upstream's AdamW keyword names (``sft``, ``osft``)."""

    beta1: float | None = Field(None, gt=0.0, lt=1.0, description="Upstream name of `adam_beta1`.")
    beta2: float | None = Field(None, gt=0.0, lt=1.0, description="Upstream name of `adam_beta2`.")
    eps: float | None = Field(None, gt=0.0, lt=1.0, description="Upstream name of `adam_epsilon`.")


class UpstreamDocumentKey(_Strict):
    """Upstream's configurable key of pretraining documents (``sft``, ``osft``)."""

    document_column_name: str | None = Field(
        None, min_length=1, description="Key of the text in `document` data (default `document`)."
    )


class UpstreamSFTOptions(_Strict):
    """Upstream ``sft()`` keywords of instructlab-training."""

    accelerate_full_state_at_epoch: bool | None = Field(
        None,
        description=(
            "instructlab-training: save the resumable full state at each epoch. The native engine always "
            "saves it with every checkpoint (resume needs it), so both values are accepted."
        ),
    )
    disable_flash_attn: bool | None = Field(
        None,
        description=(
            "instructlab-training: train without flash-attention (GPUs other than SM 8.x/9.0). The native "
            "engine never uses flash-attn."
        ),
    )


class UpstreamOSFTOptions(_Strict):
    """Upstream ``osft()`` keywords of mini-trainer."""

    unmask_messages: bool | None = Field(
        None,
        description="Train on every role but system (as a sample's `unmask: true`); exclusive with `unmask_roles`.",
    )
    use_processed_dataset: bool | None = Field(
        None,
        description="mini-trainer: `data_path` is already tokenised (`input_ids`/`labels`). Native: an error.",
    )
    lr_scheduler_kwargs: dict[str, Any] | None = Field(
        None,
        description="mini-trainer: keyword arguments of the scheduler (a dict, or JSON text). Native: only empty.",
    )

    @field_validator("lr_scheduler_kwargs", mode="before")
    @classmethod
    def _json_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            import json

            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"must be a dict or JSON object text ({exc.msg})") from None
        return value

    save_final_checkpoint: bool | None = Field(
        None, description="Save the final model (native: always; false is an error)."
    )
    trust_remote_code: bool | None = Field(
        None,
        description="Load models whose code lives in their repository (native: built-in architectures only).",
    )


LoRADatasetType = Literal["chat_template", "alpaca", "passthrough"]


class UpstreamLoRAOptions(_UpstreamRenames):
    """Upstream ``lora_sft()`` keywords (its unsloth/TRL backend)."""

    save_total_limit: int | None = Field(None, ge=1, description="Upstream name of `keep_last_checkpoints`.")
    micro_batch_size: int | None = Field(
        None,
        ge=1,
        description=(
            "Samples per device and micro-batch (unsloth). With `gradient_accumulation_steps` it sets "
            "`effective_batch_size` = micro x accumulation x processes when that is not given."
        ),
    )
    gradient_accumulation_steps: int | None = Field(
        None, ge=1, description="Micro-batches per optimizer step (unsloth); see `micro_batch_size`."
    )
    load_in_8bit: bool | None = Field(None, description="Load the base in 8 bit (unsloth on GPU only).")
    bnb_4bit_quant_type: str | None = Field(None, description="bitsandbytes 4-bit type (unsloth only).")
    bnb_4bit_compute_dtype: str | None = Field(None, description="bitsandbytes compute dtype (unsloth only).")
    bnb_4bit_use_double_quant: bool | None = Field(None, description="bitsandbytes double quantisation.")
    flash_attention: bool | None = Field(None, description="Use flash-attention (unsloth on GPU only).")
    sample_packing: bool | None = Field(
        None,
        description=(
            "Pack samples into sequences. The native engine always packs padding-free with per-sample "
            "attention (no cross-sample attention), so both values train the same."
        ),
    )
    fp16: bool | None = Field(None, description="Train in float16 (unsloth on GPU only).")
    tf32: bool | None = Field(None, description="Allow TF32 matmuls (unsloth on GPU only).")
    save_steps: int | None = Field(
        None, ge=1, description="Save a checkpoint every this many steps (`save_samples` = steps x batch)."
    )
    logging_steps: int | None = Field(
        None,
        ge=1,
        description="Log every this many steps (unsloth). The native engine logs every step.",
    )
    dataset_type: LoRADatasetType | None = Field(
        None,
        description=(
            "`chat_template` (messages), `alpaca` (instruction/input/output as one trained text, upstream's "
            "template) or `passthrough` (unsloth only)."
        ),
    )
    field_messages: str | None = Field(None, min_length=1, description="Key of the messages (`messages`).")
    field_instruction: str | None = Field(None, min_length=1, description="Key of the instruction.")
    field_input: str | None = Field(None, min_length=1, description="Key of the input.")
    field_output: str | None = Field(None, min_length=1, description="Key of the output.")
    enable_model_splitting: bool | None = Field(None, description="Split the model over GPUs (unsloth only).")
    finetune_vision_layers: bool | None = Field(
        None, description="Vision models: adapt vision layers (unsloth)."
    )
    finetune_language_layers: bool | None = Field(
        None, description="Vision models: adapt language layers (unsloth)."
    )
    trust_remote_code: bool | None = Field(
        None,
        description="Load models whose code lives in their repository (native: built-in architectures only).",
    )

    @model_validator(mode="before")
    @classmethod
    def _upstream_batch_and_saves(cls, data: Any) -> Any:
        """``micro_batch_size`` x ``gradient_accumulation_steps`` x processes -> ``effective_batch_size``
        (when not given), ``save_steps`` x ``effective_batch_size`` -> ``save_samples``, as upstream."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        micro, accum = data.get("micro_batch_size"), data.get("gradient_accumulation_steps")
        if micro is not None or accum is not None:
            nproc, nnodes = data.get("nproc_per_node") or 1, data.get("nnodes") or 1
            if not isinstance(nproc, int) or not isinstance(nnodes, int):
                raise ValueError(
                    "micro_batch_size/gradient_accumulation_steps need an integer nproc_per_node to give "
                    f"the batch size (got {nproc!r}): set effective_batch_size instead"
                )
            total = (micro or 1) * (accum or 1) * nproc * nnodes
            given = data.get("effective_batch_size")
            if given is None:
                data["effective_batch_size"] = total
            elif given != total:
                raise ValueError(
                    f"effective_batch_size={given} disagrees with micro_batch_size x "
                    f"gradient_accumulation_steps x processes = {total}: set one or the other"
                )
        steps = data.get("save_steps")
        if steps is not None:
            batch = data.get("effective_batch_size") or cls.model_fields["effective_batch_size"].default
            samples = steps * batch
            if data.get("save_samples") not in (None, samples):
                raise ValueError(
                    f"save_steps={steps} (every {samples} samples) and save_samples={data['save_samples']} "
                    "disagree: set one of them"
                )
            data["save_samples"] = samples
        return data


class SFTParams(
    SFTHyperparameters,
    UpstreamAdamNames,
    UpstreamDocumentKey,
    UpstreamSFTOptions,
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
    UpstreamAdamNames,
    UpstreamDocumentKey,
    UpstreamOSFTOptions,
    DataLocations,
    EvalDataLocation,
    TrackerParams,
    DistributedParams,
    _OneEvalSource,
    _AlgorithmParams,
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


#: What the native engine receives: the validated parameters of one of :data:`ENGINE_ALGORITHMS`.
EngineParams = SFTParams | OSFTParams | LoRAParams | DPOParams

HYPERPARAMETER_MODELS: dict[str, type[_Strict]] = {
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
