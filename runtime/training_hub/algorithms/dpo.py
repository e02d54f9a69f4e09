"""``dpo``: Direct Preference Optimization on chosen/rejected pairs, and its :func:`dpo` function.

The keywords are the fields of :class:`training_hub.params.DPOParams` (keyword-only, ``None``: not set). The
``native`` backend trains every weight against a frozen reference, or LoRA adapters with ``use_lora=True``
(the reference is then the base model with the adapter disabled); see ``docs/dpo.md``.
"""

from __future__ import annotations

from typing import Any

from training_hub.algorithms.base import AlgorithmRegistry, Callbacks, ParamsAlgorithm
from training_hub.algorithms.functions import _algorithm_function, _call


class DPOAlgorithm(ParamsAlgorithm):
    """Direct Preference Optimization (Rafailov et al. 2023, arXiv:2305.18290), IPO and robust DPO."""

    name = "dpo"


def register_dpo() -> None:
    """Register ``dpo`` and its backend (idempotent)."""
    from training_hub.backends.native import NativeBackend

    AlgorithmRegistry.register_algorithm("dpo", DPOAlgorithm)
    AlgorithmRegistry.register_backend("dpo", "native", NativeBackend)


@_algorithm_function("dpo")
def dpo(
    *,
    model_path: str,
    data_path: str,
    ckpt_output_dir: str,
    beta: float | None = None,
    loss_type: str | None = None,
    label_smoothing: float | None = None,
    reference_model_path: str | None = None,
    precompute_ref_log_probs: bool | None = None,
    use_lora: bool | None = None,
    lora_r: int | None = None,
    lora_alpha: int | None = None,
    lora_dropout: float | None = None,
    target_modules: list[str] | None = None,
    data_output_dir: str | None = None,
    num_epochs: int | None = None,
    effective_batch_size: int | None = None,
    learning_rate: float | None = None,
    max_seq_len: int | None = None,
    max_tokens_per_gpu: int | None = None,
    warmup_steps: int | None = None,
    lr_scheduler: str | None = None,
    weight_decay: float | None = None,
    adam_beta1: float | None = None,
    adam_beta2: float | None = None,
    adam_epsilon: float | None = None,
    max_grad_norm: float | None = None,
    seed: int | None = None,
    save_samples: int | None = None,
    checkpoint_at_epoch: bool | None = None,
    keep_last_checkpoints: int | None = None,
    data_format: str | None = None,
    is_pretraining: bool | None = None,
    block_size: int | None = None,
    unmask_roles: list[str] | None = None,
    overlong_policy: str | None = None,
    use_liger: bool | None = None,
    distributed_strategy: str | None = None,
    activation_checkpointing: bool | None = None,
    bf16: bool | None = None,
    max_steps: int | None = None,
    enable_jit_checkpoint: bool | None = None,
    checkpoint_storage: str | None = None,
    nproc_per_node: int | str | None = None,
    nnodes: int | None = None,
    node_rank: int | None = None,
    rdzv_id: str | int | None = None,
    rdzv_endpoint: str | None = None,
    master_addr: str | None = None,
    master_port: int | None = None,
    wandb_project: str | None = None,
    wandb_entity: str | None = None,
    wandb_run_name: str | None = None,
    tensorboard_log_dir: str | None = None,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    mlflow_run_name: str | None = None,
    backend: str = "auto",
    callbacks: Callbacks = None,
) -> Any:
    """Preference tuning: raise the likelihood of chosen over rejected responses relative to a frozen reference.

    Data: JSONL of ``{"prompt", "chosen", "rejected"}`` (text, or chat message lists); only response tokens
    count. Runs on the ``native`` backend (portable, CPU or GPU; DDP or FSDP; LoRA with ``use_lora``). With
    ``nproc_per_node`` > 1 (or ``nnodes`` > 1) from a plain Python process, training is launched under torchrun.

    Returns:
        The engine's summary dict (``final_loss``, ``steps``, ``output_model_path``, ``metrics_path``, ...).
    """
    return _call("dpo", dict(locals()))
