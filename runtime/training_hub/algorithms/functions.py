"""The convenience functions :func:`sft`, :func:`osft` and :func:`lora_sft`.

Their keyword-only parameters are the fields of the models in :mod:`training_hub.params` (a unit test keeps
the signatures and the models identical); the ``Args`` sections of their docstrings are generated from the
models' field descriptions. ``None`` means "not set": the model's default applies. An unknown keyword is an
error naming the closest parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from training_hub.algorithms.base import Callbacks, run_algorithm
from training_hub.algorithms.validation import check_keywords
from training_hub.errors import InvalidInputError
from training_hub.params import param_model

F = TypeVar("F", bound=Callable[..., Any])


def _args_section(algorithm: str) -> str:
    lines = ["Args:"]
    for name, field in param_model(algorithm).model_fields.items():
        default = "required" if field.is_required() else f"default {field.default!r}"
        lines.append(f"    {name}: {field.description or ''} ({default})")
    lines.append("    callbacks: Training callbacks passed to the engine (in-process training only).")
    return "\n".join(lines)


def _algorithm_function(algorithm: str) -> Callable[[F], F]:
    """Decorate an algorithm function: keyword-only, names checked, readable errors, generated doc."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if args:
                raise InvalidInputError(
                    f"{algorithm}() takes keyword arguments only (e.g. model_path=...), got {len(args)} positional"
                )
            check_keywords(algorithm, kwargs, extra=("callbacks",))
            return func(**kwargs)  # -> run_algorithm, which validates the values once

        wrapper.__doc__ = f"{(func.__doc__ or '').rstrip()}\n\n{_args_section(algorithm)}\n"
        return cast(F, wrapper)

    return decorate


def _call(algorithm: str, values: dict[str, Any]) -> Any:
    callbacks = values.pop("callbacks", None)
    return run_algorithm(algorithm, values, callbacks=callbacks)


@_algorithm_function("sft")
def sft(
    *,
    model_path: str,
    data_path: str,
    ckpt_output_dir: str,
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
    bf16: bool | None = None,
    max_steps: int | None = None,
    enable_jit_checkpoint: bool | None = None,
    activation_checkpointing: bool | None = None,
    checkpoint_storage: str | None = None,
    nproc_per_node: int | str | None = None,
    nnodes: int | None = None,
    node_rank: int | None = None,
    rdzv_id: str | int | None = None,
    rdzv_endpoint: str | None = None,
    master_addr: str | None = None,
    master_port: int | None = None,
    validation_split: float | None = None,
    validation_frequency: int | None = None,
    wandb_project: str | None = None,
    wandb_entity: str | None = None,
    wandb_run_name: str | None = None,
    tensorboard_log_dir: str | None = None,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    mlflow_run_name: str | None = None,
    eval_data_path: str | None = None,
    # upstream training_hub 0.11 keywords (training_hub.params.Upstream*)
    beta1: float | None = None,
    beta2: float | None = None,
    eps: float | None = None,
    document_column_name: str | None = None,
    accelerate_full_state_at_epoch: bool | None = None,
    disable_flash_attn: bool | None = None,
    backend: str = "auto",
    callbacks: Callbacks = None,
) -> Any:
    """Supervised fine-tuning: every weight of the model trains on the data.

    Runs on the ``native`` backend (portable, CPU or GPU) or ``instructlab-training`` (upstream engine, CUDA).
    With ``nproc_per_node`` > 1 (or ``nnodes`` > 1) from a plain Python process, training is launched under
    torchrun automatically.

    Returns:
        The backend's result (native: a dict with at least the output directory).
    """
    return _call("sft", dict(locals()))


@_algorithm_function("osft")
def osft(
    *,
    model_path: str,
    data_path: str,
    ckpt_output_dir: str,
    unfreeze_rank_ratio: float,
    target_patterns: list[str] | None = None,
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
    bf16: bool | None = None,
    max_steps: int | None = None,
    enable_jit_checkpoint: bool | None = None,
    activation_checkpointing: bool | None = None,
    checkpoint_storage: str | None = None,
    nproc_per_node: int | str | None = None,
    nnodes: int | None = None,
    node_rank: int | None = None,
    rdzv_id: str | int | None = None,
    rdzv_endpoint: str | None = None,
    master_addr: str | None = None,
    master_port: int | None = None,
    validation_split: float | None = None,
    validation_frequency: int | None = None,
    wandb_project: str | None = None,
    wandb_entity: str | None = None,
    wandb_run_name: str | None = None,
    tensorboard_log_dir: str | None = None,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    mlflow_run_name: str | None = None,
    eval_data_path: str | None = None,
    # upstream training_hub 0.11 keywords (training_hub.params.Upstream*)
    beta1: float | None = None,
    beta2: float | None = None,
    eps: float | None = None,
    document_column_name: str | None = None,
    unmask_messages: bool | None = None,
    use_processed_dataset: bool | None = None,
    lr_scheduler_kwargs: dict[str, Any] | None = None,
    save_final_checkpoint: bool | None = None,
    trust_remote_code: bool | None = None,
    backend: str = "auto",
    callbacks: Callbacks = None,
) -> Any:
    """Orthogonal Subspace Fine-Tuning: continual learning that keeps the model's prior behaviour.

    Runs on the ``native`` backend (portable) or ``mini-trainer`` (upstream engine, CUDA).

    Returns:
        The backend's result.
    """
    return _call("osft", dict(locals()))


@_algorithm_function("lora_sft")
def lora_sft(
    *,
    model_path: str,
    data_path: str,
    ckpt_output_dir: str,
    lora_r: int | None = None,
    lora_alpha: int | None = None,
    lora_dropout: float | None = None,
    target_modules: list[str] | None = None,
    merge_adapter: bool | None = None,
    load_in_4bit: bool | None = None,
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
    bf16: bool | None = None,
    max_steps: int | None = None,
    enable_jit_checkpoint: bool | None = None,
    activation_checkpointing: bool | None = None,
    checkpoint_storage: str | None = None,
    nproc_per_node: int | str | None = None,
    nnodes: int | None = None,
    node_rank: int | None = None,
    rdzv_id: str | int | None = None,
    rdzv_endpoint: str | None = None,
    master_addr: str | None = None,
    master_port: int | None = None,
    eval_steps: int | None = None,
    per_device_eval_batch_size: int | None = None,
    wandb_project: str | None = None,
    wandb_entity: str | None = None,
    wandb_run_name: str | None = None,
    tensorboard_log_dir: str | None = None,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    mlflow_run_name: str | None = None,
    eval_data_path: str | None = None,
    # upstream training_hub 0.11 keywords (training_hub.params.Upstream*)
    save_total_limit: int | None = None,
    micro_batch_size: int | None = None,
    gradient_accumulation_steps: int | None = None,
    load_in_8bit: bool | None = None,
    bnb_4bit_quant_type: str | None = None,
    bnb_4bit_compute_dtype: str | None = None,
    bnb_4bit_use_double_quant: bool | None = None,
    flash_attention: bool | None = None,
    sample_packing: bool | None = None,
    fp16: bool | None = None,
    tf32: bool | None = None,
    save_steps: int | None = None,
    logging_steps: int | None = None,
    dataset_type: str | None = None,
    field_messages: str | None = None,
    field_instruction: str | None = None,
    field_input: str | None = None,
    field_output: str | None = None,
    enable_model_splitting: bool | None = None,
    finetune_vision_layers: bool | None = None,
    finetune_language_layers: bool | None = None,
    trust_remote_code: bool | None = None,
    backend: str = "auto",
    callbacks: Callbacks = None,
) -> Any:
    """LoRA adapters trained on a frozen base model (supervised fine-tuning).

    Runs on the ``peft`` backend (portable, the native engine with PEFT adapters) or ``unsloth`` (CUDA).

    Returns:
        The backend's result.
    """
    return _call("lora_sft", dict(locals()))
