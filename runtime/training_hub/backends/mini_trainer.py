"""``mini-trainer`` backend for ``osft`` (upstream engine, package ``rhai-innovation-mini-trainer``; CUDA only).

:func:`translate` is the one place where training_hub names become mini-trainer's (``TrainingArgs`` /
``TorchrunArgs`` of mini-trainer 0.9, via :data:`RENAMES`). mini-trainer does not tokenise: as upstream
training_hub does, the data is first processed with instructlab-training's ``process_messages_into_input_ids``
(or ``process_documents_for_pretraining``) into ``<data_output_dir>/data.jsonl``. mini-trainer's AdamW
settings are fixed (betas 0.9/0.95, eps 1e-8, no weight decay) and it clips at norm 1.0: other values are
errors here, where upstream silently dropped them.
"""

from __future__ import annotations

import os
from typing import Any

from training_hub.algorithms.base import Callbacks
from training_hub.algorithms.validation import validated
from training_hub.backends.availability import CUDA_EXTRA, UpstreamEngineBackend
from training_hub.backends.engine_limits import Compatibility, hub_callbacks_only, instructlab_pipeline_limits
from training_hub.observability.trackers.settings import TRACKER_FIELDS
from training_hub.torchrun import TORCHRUN_KEYS, get_torchrun_params

#: training_hub name -> mini-trainer ``TrainingArgs`` name.
RENAMES: dict[str, str] = {
    "model_path": "model_name_or_path",
    "effective_batch_size": "batch_size",
    "ckpt_output_dir": "output_dir",
    "warmup_steps": "num_warmup_steps",
    "num_epochs": "max_epochs",
    "unfreeze_rank_ratio": "osft_unfreeze_rank_ratio",
    "target_patterns": "osft_target_patterns",
    "use_liger": "use_liger_kernels",
    "save_samples": "min_samples_per_checkpoint",
}
SAME_NAMES = ("learning_rate", "lr_scheduler", "seed")
#: Upstream osft() keywords handed to mini-trainer only when set (else mini-trainer's own default applies,
#: as upstream): ``checkpoint_at_epoch`` (mini-trainer: off), ``lr_scheduler_kwargs``, ``trust_remote_code``.
WHEN_SET = ("checkpoint_at_epoch", "lr_scheduler_kwargs", "trust_remote_code")


def data_output_dir(params: dict[str, Any]) -> str:
    """Where the tokenised data goes (``data_output_dir`` or ``<ckpt_output_dir>/data``)."""
    return params.get("data_output_dir") or os.path.join(params["ckpt_output_dir"], "data")


def translate(params: dict[str, Any], processed_data_path: str | None = None) -> dict[str, Any]:
    """Translate ``osft`` parameters into mini-trainer's ``run_training`` arguments.

    Args:
        params: The parameters the user set (training_hub names).
        processed_data_path: The tokenised data file (default: ``<data_output_dir>/data.jsonl``).

    Returns:
        ``{"torch_args": {...}, "train_args": {...}, "data_processing": {...}, "notes": [...]}``; enum
        values (``training_mode``) are plain strings.

    Raises:
        InvalidInputError: When a parameter the user set cannot be honoured by mini-trainer.
    """
    valid = validated("osft", params)
    m, explicit = valid.model, valid.explicit
    compat = Compatibility("mini-trainer", m, explicit, "backend='native'")
    compat.only("adam_beta1", [0.9], "uses a fixed AdamW beta1 of 0.9")
    compat.only("adam_beta2", [0.95], "uses a fixed AdamW beta2 of 0.95")
    compat.only("adam_epsilon", [1e-8], "uses a fixed AdamW epsilon of 1e-8")
    compat.only("weight_decay", [0.0], "uses no weight decay")
    compat.only("keep_last_checkpoints", [None], "keeps every checkpoint")
    compat.only(
        "overlong_policy", ["drop"], "(through instructlab-training's data processing) drops overlong samples"
    )
    compat.only("distributed_strategy", ["auto", "fsdp"], "always trains with FSDP2")
    instructlab_pipeline_limits(compat)
    if m.tensorboard_log_dir:
        compat.problems.append("tensorboard_log_dir: mini-trainer 0.9 logs to W&B and MLflow only")
    if m.eval_data_path:
        compat.problems.append(
            "eval_data_path: mini-trainer reads processed validation data only (set validation_split)"
        )
    notes = compat.check()

    values = m.model_dump()
    train_args: dict[str, Any] = {new: values[old] for old, new in RENAMES.items()}
    train_args.update({name: values[name] for name in SAME_NAMES})
    train_args.update({name: values[name] for name in WHEN_SET if name in explicit})
    out_dir = data_output_dir(values)
    if m.use_processed_dataset:
        processed_data_path = m.data_path
    train_args.update(
        data_path=processed_data_path or os.path.join(out_dir, "data.jsonl"),
        max_tokens_per_gpu=m.max_tokens_per_gpu or m.max_seq_len,
        osft=True,
        training_mode="step" if m.max_steps else "epoch",
        max_steps=m.max_steps or 0,
        save_final_checkpoint=m.save_final_checkpoint is not False,
    )
    if m.bf16 is not None:  # unset: mini-trainer's own dtype choice, as upstream
        train_args["train_dtype"] = "bfloat16" if m.bf16 else "float32"
    if not m.save_samples:
        train_args.pop("min_samples_per_checkpoint")
    if m.target_patterns is None:
        train_args.pop("osft_target_patterns")
    # Trackers and validation: TrainingArgs fields of the same names (mini-trainer 0.9); without a
    # frequency, validate at every epoch end and at the end, as the native engine does.
    train_args.update({k: v for k in TRACKER_FIELDS if k != "tensorboard_log_dir" and (v := getattr(m, k))})
    if m.validation_split:
        train_args["validation_split"] = m.validation_split
        if m.validation_frequency:
            train_args["validation_frequency"] = m.validation_frequency
        else:
            train_args.update(validate_at_epoch=True, validate_at_final=True)
    if m.is_pretraining:
        train_args["pretraining_config"] = {"block_size": m.block_size or m.max_seq_len}
    processing = {
        "data_path": m.data_path,
        "data_output_path": out_dir,
        "model_path": m.model_path,
        "max_seq_len": m.max_seq_len,
        "is_pretraining": m.is_pretraining,
        "skip": bool(m.use_processed_dataset),
        "unmask_messages": bool(m.unmask_messages),
        "document_column_name": m.document_column_name,
    }
    torch_args = get_torchrun_params({k: getattr(m, k) for k in TORCHRUN_KEYS})
    return {"torch_args": torch_args, "train_args": train_args, "data_processing": processing, "notes": notes}


class MiniTrainerOSFTBackend(UpstreamEngineBackend):
    """OSFT with mini-trainer (``pip install 'training-hub-k8s[cuda]'``)."""

    name = "mini-trainer"
    install_hint = CUDA_EXTRA

    requires = (
        ("mini_trainer", "rhai-innovation-mini-trainer"),
        ("instructlab.training", "instructlab-training"),  # its data processing comes from there
    )

    def execute_training(self, params: dict[str, Any], callbacks: Callbacks = None) -> Any:
        hub = hub_callbacks_only(self.name, callbacks)
        translated = translate(params)
        self.ensure_available()
        from instructlab.training.data_process import (
            process_documents_for_pretraining,
            process_messages_into_input_ids,
        )
        from mini_trainer import PretrainingConfig, TorchrunArgs, TrainingArgs, TrainingMode, run_training

        processing = translated["data_processing"]
        os.makedirs(processing["data_output_path"], exist_ok=True)
        if processing["skip"]:
            pass  # use_processed_dataset: data_path is mini-trainer's input already
        elif processing["is_pretraining"]:
            column = processing["document_column_name"]
            process_documents_for_pretraining(
                data_path=processing["data_path"],
                data_output_path=processing["data_output_path"],
                model_path=processing["model_path"],
                num_cpu_procs=8,
                **({"document_column_name": column} if column else {}),
            )
        else:
            process_messages_into_input_ids(
                data_path=unmasked_copy(processing)
                if processing["unmask_messages"]
                else processing["data_path"],
                data_output_path=processing["data_output_path"],
                model_path=processing["model_path"],
                max_seq_len=processing["max_seq_len"],
                num_cpu_procs=8,
            )
        train_args = dict(translated["train_args"])
        if hub:
            from training_hub.adapters.mini_trainer import adapt_hub_callbacks

            train_args["callbacks"] = adapt_hub_callbacks(hub, payload_dir=params["ckpt_output_dir"])
        train_args["training_mode"] = TrainingMode(train_args["training_mode"])
        if "pretraining_config" in train_args:
            train_args["pretraining_config"] = PretrainingConfig(**train_args["pretraining_config"])
        return run_training(
            torch_args=TorchrunArgs(**translated["torch_args"]), train_args=TrainingArgs(**train_args)
        )


def unmasked_copy(processing: dict[str, Any]) -> str:
    """``unmask_messages``: a copy of the data whose samples all set ``"unmask": true`` (for
    instructlab-training's processing); returns its path."""
    import json

    target = os.path.join(processing["data_output_path"], "unmasked.jsonl")
    with open(processing["data_path"], encoding="utf-8") as src, open(target, "w", encoding="utf-8") as dst:
        for line in src:
            if line.strip():
                dst.write(json.dumps({**json.loads(line), "unmask": True}) + "\n")
    return target
