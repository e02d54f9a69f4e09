"""What an ML engineer tunes, one model per algorithm (embedded in the CRD's ``spec.hyperparameters``).

The field declarations look alike by nature (one pydantic field per parameter): a table, not copied logic.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import Field, model_validator

from training_hub.params.base import StrictParams

DataFormat = Literal["auto", "messages", "document", "alpaca"]
LRScheduler = Literal["cosine", "linear", "constant"]
OverlongPolicy = Literal["drop", "truncate", "error"]
DistributedStrategy = Literal["auto", "ddp", "fsdp"]
EmbeddingLoss = Literal["batch_all_triplet", "batch_hard_triplet", "mnrl"]
EmbeddingBatchSampler = Literal["group_by_label", "no_duplicates", "default"]
DPOLossType = Literal["sigmoid", "ipo", "robust"]


class CommonHyperparameters(StrictParams):
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


class ValidationSplitHyperparameters(StrictParams):
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


class EmbeddingSFTHyperparameters(StrictParams):
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
