"""How each training engine holds memory: one profile per engine, each assumption citing its source.

The estimator's components (``memory.py``) are the same for every engine; what differs is how the engine
stores weights (fp32 master weights or the training dtype), how it distributes them (FSDP over all ranks,
FSDP within a node, DDP replicas, one GPU), whether it recomputes activations, whether Liger removes the
logits, and what mixed precision leaves behind (autocast's bf16 weight copies, or FSDP's gathered bf16
layers). ``status.plan`` names the engine and lists :attr:`EngineProfile.assumptions`.

Sources read for the upstream engines (paths inside the wheels): instructlab-training 0.16.2,
rhai-innovation-mini-trainer 0.9.0, unsloth 2026.10.9. The native engine's entries cite this repository.
A unit test (``tests/runtime/estimator/test_engines.py``) pins every profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

EngineName = Literal["generic", "native", "peft", "instructlab-training", "mini-trainer", "unsloth"]

#: How the engine places parameters, gradients and optimizer states on ranks.
#: ``full``: FSDP over every rank; ``node``: FSDP within a node, replicas across nodes (HYBRID_SHARD);
#: ``sft-only``: FSDP for SFT on more than one GPU, DDP otherwise (the native engine's ``auto``);
#: ``ddp``: a replica per rank; ``single``: one process, one GPU.
Sharding = Literal["full", "node", "sft-only", "ddp", "single", "auto"]


@dataclass(frozen=True)
class EngineProfile:
    """An engine's memory behaviour.

    Attributes:
        name: The backend name (``backend=`` value).
        master_weights: ``fp32``: weights stay fp32 under bf16 training (4 B); ``train``: weights in the
            training dtype (2 B under bf16).
        sharding: See :data:`Sharding`.
        activation_checkpointing: ``always``: every decoder layer is recomputed; ``param``: as the
            ``activation_checkpointing`` parameter says (default on with CUDA); ``never``.
        offloads_checkpoints: Checkpointed layer inputs go to CPU memory (none stay on the GPU).
        liger_drops_logits: With ``use_liger`` the loss is Liger's fused linear cross-entropy, so the
            logits are never materialised.
        gathers_bf16: FSDP gathers layers in bf16 (``MixedPrecisionPolicy`` / FSDP1 ``MixedPrecision``).
        autocast_weight_copies: Without FSDP, bf16 autocast casts fp32 weights to bf16 copies that the
            autocast cache and backward keep (2 B per weight).
        extra_gathered_layers: Layers kept unsharded besides the two in flight (mini-trainer keeps the
            last block gathered after forward).
        sources: Assumption -> upstream file (and what it shows).
    """

    name: str
    master_weights: Literal["fp32", "train"]
    sharding: Sharding
    activation_checkpointing: Literal["always", "param", "never"]
    offloads_checkpoints: bool = False
    liger_drops_logits: bool = True
    gathers_bf16: bool = True
    autocast_weight_copies: bool = False
    extra_gathered_layers: int = 0
    sources: dict[str, str] = field(default_factory=dict)

    def assumptions(self) -> list[str]:
        """One line per assumption with its source, for ``status.plan`` and reports."""
        return [f"{what}: {where}" for what, where in self.sources.items()]


_NATIVE_SOURCES = {
    "fp32 master weights, bf16 autocast": "runtime/training_hub/engine/model_setup.py (_load_model: "
    "dtype=torch.float32) and engine/trainer.py (torch.autocast bf16)",
    "FSDP2 for sft on >1 GPU, DDP for osft/lora_sft": "runtime/training_hub/engine/config.py "
    "(resolve_config: strategy auto)",
    "FSDP gathers bf16 layers": "runtime/training_hub/engine/model_setup.py (shard_fsdp: "
    "MixedPrecisionPolicy(param_dtype=bf16))",
    "activation checkpointing per decoder layer, default on CUDA": "runtime/training_hub/engine/"
    "precision.py and model_setup.py (enable_activation_checkpointing)",
    "logits materialised even with Liger (no labels passed)": "runtime/training_hub/engine/train_step.py "
    "(summed_token_loss over out.logits, engine/token_loss.py: fp32 chunks)",
    "autocast bf16 weight copies under DDP": "torch.autocast caches casts of weights that require grad "
    "until the forward's autocast block exits",
}

#: The native engine (``training_hub.engine``).
_NATIVE = EngineProfile(
    name="native",
    master_weights="fp32",
    sharding="sft-only",
    activation_checkpointing="param",
    liger_drops_logits=False,
    autocast_weight_copies=True,
    sources=_NATIVE_SOURCES,
)

#: One row per engine. The rows look alike on purpose: each states every property with the upstream source
#: it was read from, so that a row can be checked against its engine on its own.
ENGINES: dict[str, EngineProfile] = {
    "generic": EngineProfile(
        name="generic",
        master_weights="train",
        sharding="auto",
        activation_checkpointing="param",
        sources={"no engine": "bf16 weights, FSDP with more than one rank, as the parameters say"},
    ),
    "native": _NATIVE,
    "peft": replace(_NATIVE, name="peft", sharding="ddp"),  # the native engine with PEFT adapters (DDP)
    "instructlab-training": EngineProfile(
        name="instructlab-training",
        master_weights="fp32",
        sharding="node",
        activation_checkpointing="always",
        liger_drops_logits=False,
        sources={
            "fp32 master weights (no torch_dtype given)": "instructlab/training/model.py (Model.__init__: "
            "'we do not specify the default dtype so mixed precision training works')",
            "FSDP1 HYBRID_SHARD (shards within a node)": "instructlab/training/config.py "
            "(sharding_strategy = HYBRID_SHARD) and accelerator.py (get_fsdp_config)",
            "bf16 mixed precision": "instructlab/training/accelerator.py (mixed_precision='bf16')",
            "gradient checkpointing on every decoder layer": "instructlab/training/model.py "
            "(_enable_gradient_checkpointing_if_supported: model.gradient_checkpointing_enable())",
            "Liger keeps the logits": "instructlab/training/model.py (LigerModel: "
            "fused_linear_cross_entropy=False)",
            "flash-attn required on SM 8.x / 9.0 unless disable_flash_attn": "instructlab/training/model.py "
            "(supports_flash_attention, check_flash_attn_enabled)",
        },
    ),
    "mini-trainer": EngineProfile(
        name="mini-trainer",
        master_weights="fp32",
        sharding="full",
        activation_checkpointing="always",
        liger_drops_logits=True,
        extra_gathered_layers=1,
        sources={
            "fp32 weights (train_dtype float32 unless bf16=True)": "training_hub backends/mini_trainer.py "
            "(translate) and mini_trainer/setup_model_for_training.py (torch_dtype=train_dtype)",
            "FSDP2 over all ranks, bf16 gather, fp32 reduce": "mini_trainer/setup_model_for_training.py "
            "(MixedPrecisionPolicy(param_dtype=bfloat16, reduce_dtype=float32), init_device_mesh)",
            "checkpoint_wrapper on every decoder block": "mini_trainer/setup_model_for_training.py "
            "(ptd_checkpoint_wrapper(block, preserve_rng_state=True))",
            "last block not resharded after forward": "mini_trainer/setup_model_for_training.py "
            "(reshard_after_forward = idx < len(layers) - 1)",
            "Liger fused linear cross-entropy (no logits)": "mini_trainer/none_reduction_losses.py "
            "(liger_fused_linear_cross_entropy)",
        },
    ),
    "unsloth": EngineProfile(
        name="unsloth",
        master_weights="train",
        sharding="single",
        activation_checkpointing="always",
        offloads_checkpoints=True,
        liger_drops_logits=True,
        gathers_bf16=False,
        sources={
            "weights in the training dtype (bf16), one GPU": "unsloth/models/llama.py (from_pretrained: "
            "dtype) and training_hub backends/unsloth.py (nproc_per_node must be 1)",
            "'unsloth' gradient checkpointing offloads layer inputs to CPU": "unsloth/models/llama.py "
            "(use_gradient_checkpointing='unsloth', apply_unsloth_gradient_checkpointing)",
            "fused cross-entropy (logits not materialised)": "unsloth/models/llama.py "
            "(unsloth_zoo.fused_losses)",
        },
    ),
}


def engine_profile(name: str | None) -> EngineProfile:
    """The profile of a backend name (``None``: the generic model of earlier versions).

    Raises:
        KeyError: Unknown engine (callers validate names first).
    """
    return ENGINES["generic" if name is None else name]


def resolved_sharding(profile: EngineProfile, method: str, num_gpus: int, strategy: str) -> str:
    """``fsdp``, ``fsdp-node`` or ``ddp`` for this engine, method and GPU count.

    Args:
        profile: The engine.
        method: Estimator method (``sft``, ``osft``, ``lora``, ``qlora``).
        num_gpus: Total ranks.
        strategy: The ``distributed_strategy`` parameter (``auto``, ``ddp``, ``fsdp``).
    """
    if num_gpus <= 1 or profile.sharding in ("single", "ddp"):
        return "ddp"
    if profile.sharding == "full":
        return "fsdp"
    if profile.sharding == "node":
        return "fsdp-node"
    if strategy in ("ddp", "fsdp"):
        return strategy
    if profile.sharding == "sft-only":
        return "fsdp" if method == "sft" else "ddp"
    return "fsdp"
