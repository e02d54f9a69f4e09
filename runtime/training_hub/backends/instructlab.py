"""``instructlab-training`` backend for ``sft`` (upstream engine; CUDA only).

:func:`translate` is the one place where training_hub names become instructlab-training's
(``TrainingArgs`` / ``TorchrunArgs`` of instructlab-training 0.16): ``max_tokens_per_gpu -> max_batch_len``,
``seed -> random_seed``, ``adam_beta1/adam_beta2 -> adamw_betas``, ``adam_epsilon -> adamw_eps``,
``weight_decay -> adamw_weight_decay``, ``keep_last_checkpoints=1 -> keep_last_checkpoint_only``,
``block_size -> pretraining_config.block_size``. The engine launches torchrun itself.
"""

from __future__ import annotations

from typing import Any

from training_hub.algorithms.base import Callbacks
from training_hub.algorithms.validation import validated
from training_hub.backends.availability import CUDA_EXTRA, UpstreamEngineBackend
from training_hub.backends.engine_limits import Compatibility, hub_callbacks_only, instructlab_pipeline_limits
from training_hub.observability.trackers.settings import TRACKER_FIELDS
from training_hub.torchrun import TORCHRUN_KEYS, get_torchrun_params

#: Names that are the same on both sides.
SAME_NAMES = (
    "model_path",
    "data_path",
    "ckpt_output_dir",
    "max_seq_len",
    "num_epochs",
    "effective_batch_size",
    "learning_rate",
    "warmup_steps",
    "save_samples",
    "checkpoint_at_epoch",
    "use_liger",
)


def translate(params: dict[str, Any]) -> dict[str, Any]:
    """Translate ``sft`` parameters into instructlab-training's ``run_training`` arguments.

    Args:
        params: The parameters the user set (training_hub names).

    Returns:
        ``{"torch_args": {...TorchrunArgs fields}, "train_args": {...TrainingArgs fields}, "notes": [...]}``.

    Raises:
        InvalidInputError: When a parameter the user set cannot be honoured by instructlab-training.
    """
    valid = validated("sft", params)
    m, explicit = valid.model, valid.explicit
    compat = Compatibility("instructlab-training", m, explicit, "backend='native'")
    # One line per limit of this engine besides those it shares with mini-trainer.
    compat.only("lr_scheduler", ["cosine"], "always uses a cosine schedule")
    compat.only("max_steps", [None], "has no step limit (it trains whole epochs)")
    compat.only("overlong_policy", ["drop"], "drops samples longer than max_seq_len")
    compat.only("distributed_strategy", ["auto", "fsdp"], "trains with FSDP (or DeepSpeed), not DDP")
    compat.only("bf16", [None, True], "always trains in bfloat16")
    compat.only("keep_last_checkpoints", [None, 1], "can keep all checkpoints or only the last one")
    instructlab_pipeline_limits(compat)
    if m.eval_data_path:
        compat.problems.append(
            "eval_data_path: instructlab-training evaluates a held-out part of data_path only "
            "(set validation_split and validation_frequency)"
        )
    if m.validation_split and m.validation_frequency is None:
        compat.problems.append("validation_split: instructlab-training needs validation_frequency with it")
    notes = compat.check()

    train_args: dict[str, Any] = {name: getattr(m, name) for name in SAME_NAMES}
    train_args.update(
        data_output_dir=m.data_output_dir or f"{m.ckpt_output_dir.rstrip('/')}/data",
        max_batch_len=m.max_tokens_per_gpu or m.max_seq_len,
        random_seed=m.seed,
        adamw_betas=(m.adam_beta1, m.adam_beta2),
        adamw_eps=m.adam_epsilon,
        adamw_weight_decay=m.weight_decay,
        distributed_backend="fsdp",
        process_data=True,
    )
    if m.keep_last_checkpoints == 1:
        train_args["keep_last_checkpoint_only"] = True
    # Upstream sft() keywords of instructlab-training, handed over when set (its defaults otherwise).
    for name in ("accelerate_full_state_at_epoch", "disable_flash_attn"):
        if getattr(m, name) is not None:
            train_args[name] = getattr(m, name)
    # Trackers and validation: TrainingArgs fields of the same names (instructlab-training >= 0.14.2).
    train_args.update({k: v for k in TRACKER_FIELDS if (v := getattr(m, k)) is not None})
    if m.validation_split:
        train_args.update(validation_split=m.validation_split, validation_frequency=m.validation_frequency)
    if m.is_pretraining:
        train_args["pretraining_config"] = {"block_size": m.block_size or m.max_seq_len}
        if m.document_column_name:
            train_args["pretraining_config"]["document_column_name"] = m.document_column_name
    torch_args = get_torchrun_params({k: getattr(m, k) for k in TORCHRUN_KEYS})
    return {"torch_args": torch_args, "train_args": train_args, "notes": notes}


class InstructLabTrainingSFTBackend(UpstreamEngineBackend):
    """SFT with instructlab-training (``pip install 'training-hub-k8s[cuda]'``)."""

    name = "instructlab-training"
    install_hint = CUDA_EXTRA

    requires = (("instructlab.training", "instructlab-training"),)

    def execute_training(self, params: dict[str, Any], callbacks: Callbacks = None) -> Any:
        hub = hub_callbacks_only(self.name, callbacks)
        translated = translate(params)
        self.ensure_available()
        from instructlab.training import TorchrunArgs, TrainingArgs, run_training
        from instructlab.training.config import PretrainingConfig

        train_args = dict(translated["train_args"])
        if hub:
            from training_hub.adapters.instructlab import adapt_hub_callbacks

            train_args["callbacks"] = adapt_hub_callbacks(hub, payload_dir=params["ckpt_output_dir"])
        if "pretraining_config" in train_args:
            train_args["pretraining_config"] = PretrainingConfig(**train_args["pretraining_config"])
        return run_training(
            torch_args=TorchrunArgs(**translated["torch_args"]), train_args=TrainingArgs(**train_args)
        )
