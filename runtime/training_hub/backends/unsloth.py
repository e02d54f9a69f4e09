"""``unsloth`` backend for ``lora_sft`` (upstream engine; one CUDA GPU).

:func:`translate` is the one place where training_hub names become the keyword arguments of unsloth's
``FastLanguageModel.from_pretrained`` / ``FastLanguageModel.get_peft_model`` and TRL's ``SFTConfig``. As
upstream, ``sample_packing`` is on unless set to false, ``micro_batch_size`` / ``gradient_accumulation_steps``
set TRL's batch, and alpaca samples train as one text in upstream's ``### Instruction`` template. As upstream, the whole conversation trains (TRL's ``assistant_only_loss`` stays off: it needs chat templates
with ``{% generation %}`` markers). As upstream, the adapter is saved at ``ckpt_output_dir`` (TRL's
``checkpoint-N/`` beside it) and the result is ``{"model", "tokenizer", "trainer"}``. ``max_tokens_per_gpu``, pretraining and multi-process runs are errors
here (upstream accepted and ignored some of them): use ``backend='peft'``.
"""

from __future__ import annotations

import logging
from typing import Any

from training_hub.algorithms.base import Callbacks
from training_hub.algorithms.validation import validated
from training_hub.backends.availability import UNSLOTH_EXTRA, UpstreamEngineBackend
from training_hub.backends.engine_limits import Compatibility
from training_hub.contracts.run_files import METRICS_FILE
from training_hub.errors import InvalidInputError
from training_hub.observability.trackers.hf import hf_tracker_args, tracker_environment
from training_hub.torchrun import TORCHRUN_KEYS, get_torchrun_params

logger = logging.getLogger("training_hub")

DEFAULT_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
#: Largest per-device batch; ``effective_batch_size`` is reached with gradient accumulation.
MAX_MICRO_BATCH = 8


def micro_batch(effective_batch_size: int, limit: int = MAX_MICRO_BATCH) -> int:
    """The largest divisor of ``effective_batch_size`` not above ``limit`` (so accumulation is exact)."""
    return max(d for d in range(1, min(limit, effective_batch_size) + 1) if effective_batch_size % d == 0)


def translate(params: dict[str, Any]) -> dict[str, Any]:
    """Translate ``lora_sft`` parameters into unsloth + TRL keyword arguments.

    Args:
        params: The parameters the user set (training_hub names).

    Returns:
        ``{"model": {...from_pretrained}, "peft": {...get_peft_model}, "sft_config": {...SFTConfig},
        "data": {...}, "save_merged": bool, "notes": [...]}``; ``model["dtype"]`` is a dtype name or None.

    Raises:
        InvalidInputError: When a parameter the user set cannot be honoured.
    """
    from training_hub.data.formats import DEFAULT_KEYS
    from training_hub.data.options import data_keys

    valid = validated("lora_sft", params)
    m, explicit = valid.model, valid.explicit
    compat = Compatibility("unsloth", m, explicit, "backend='peft'")
    compat.only("max_tokens_per_gpu", [None], "pads batches and has no per-GPU token budget")
    compat.only("is_pretraining", [False], "is wired here for instruction data only")
    compat.only("block_size", [None], "is wired here for instruction data only")
    compat.only("data_format", ["auto", "messages", "alpaca"], "reads messages or alpaca data here")
    compat.only("overlong_policy", ["truncate"], "truncates samples longer than max_seq_len")
    compat.only("unmask_roles", [None], "trains on every token of the conversation (as upstream)")
    compat.only("distributed_strategy", ["auto", "ddp"], "does not shard with FSDP")
    compat.only("checkpoint_storage", [None], "does not mirror checkpoints to object storage here")
    for name in ("bnb_4bit_quant_type", "bnb_4bit_compute_dtype", "bnb_4bit_use_double_quant"):
        compat.only(name, [None], "is wired here with unsloth's own 4-bit settings (load_in_4bit) only")
    for name in ("enable_model_splitting", "finetune_vision_layers", "finetune_language_layers"):
        compat.only(name, [None], "is wired here for language models on one GPU only")
    compat.only("flash_attention", [None, True], "picks its attention kernel itself")
    compat.only("dataset_type", [None, "chat_template", "alpaca"], "reads messages or alpaca data here")
    compat.only("enable_jit_checkpoint", [None, False], "does not checkpoint on SIGTERM here")
    compat.only("activation_checkpointing", [None, True], "always checkpoints activations")
    torchrun = get_torchrun_params({k: getattr(m, k) for k in TORCHRUN_KEYS})
    if torchrun["nproc_per_node"] != 1 or torchrun["nnodes"] != 1:
        compat.problems.append(
            f"nproc_per_node={torchrun['nproc_per_node']}, nnodes={torchrun['nnodes']}: "
            "this unsloth backend runs one process on one GPU"
        )
    save_steps = 0
    if m.save_samples:
        if m.save_samples % m.effective_batch_size:
            compat.problems.append(
                f"save_samples={m.save_samples}: unsloth saves every N steps, so it must be a multiple of "
                f"effective_batch_size={m.effective_batch_size}"
            )
        save_steps = max(1, m.save_samples // m.effective_batch_size)
        if m.checkpoint_at_epoch and "checkpoint_at_epoch" in explicit:
            compat.problems.append(
                "checkpoint_at_epoch with save_samples: unsloth (TRL) saves on one schedule only"
            )
    notes = compat.check()

    per_device = m.micro_batch_size or micro_batch(m.effective_batch_size)
    if m.effective_batch_size % per_device:
        raise InvalidInputError(
            f"micro_batch_size={per_device} does not divide effective_batch_size={m.effective_batch_size}"
        )
    if save_steps:
        save = {"save_strategy": "steps", "save_steps": save_steps}
    else:
        save = {"save_strategy": "epoch" if m.checkpoint_at_epoch else "no"}
    sft_config: dict[str, Any] = {
        "output_dir": m.ckpt_output_dir,
        "num_train_epochs": m.num_epochs,
        "max_steps": m.max_steps or -1,
        "per_device_train_batch_size": per_device,
        "gradient_accumulation_steps": m.effective_batch_size // per_device,
        "learning_rate": m.learning_rate,
        "lr_scheduler_type": m.lr_scheduler,
        "warmup_steps": m.warmup_steps,
        "weight_decay": m.weight_decay,
        "adam_beta1": m.adam_beta1,
        "adam_beta2": m.adam_beta2,
        "adam_epsilon": m.adam_epsilon,
        "max_grad_norm": m.max_grad_norm if m.max_grad_norm is not None else 0.0,
        "seed": m.seed,
        "bf16": (not m.fp16) if m.bf16 is None else m.bf16,
        "max_length": m.max_seq_len,
        "packing": True if m.sample_packing is None else m.sample_packing,  # upstream's default: on
        "use_liger_kernel": m.use_liger,
        "save_total_limit": m.keep_last_checkpoints,
        "logging_steps": m.logging_steps or 1,
        **save,
    }
    if m.fp16:
        sft_config["fp16"] = True
    if m.tf32 is not None:
        sft_config["tf32"] = m.tf32
    trackers, tracker_env = hf_tracker_args(m.model_dump())
    sft_config.update(trackers)
    if m.eval_data_path:
        sft_config.update(eval_strategy="steps", eval_steps=m.eval_steps)
        sft_config["per_device_eval_batch_size"] = m.per_device_eval_batch_size or per_device
    return {
        "model": {
            "model_name": m.model_path,
            "max_seq_length": m.max_seq_len,
            "load_in_4bit": m.load_in_4bit,
            **({"load_in_8bit": True} if m.load_in_8bit else {}),
            **({"trust_remote_code": True} if m.trust_remote_code else {}),
            "dtype": None if m.bf16 is None else ("bfloat16" if m.bf16 else "float32"),
        },
        "peft": {
            "r": m.lora_r,
            "lora_alpha": m.lora_alpha,
            "lora_dropout": m.lora_dropout,
            "target_modules": list(m.target_modules or DEFAULT_TARGET_MODULES),
            "bias": "none",
            "use_gradient_checkpointing": "unsloth",
            "random_state": m.seed,
        },
        "sft_config": sft_config,
        "data": {
            "data_path": m.data_path,
            "data_format": m.data_format,
            "eval_data_path": m.eval_data_path,
            "keys": {**DEFAULT_KEYS, **data_keys(m.model_dump())},
        },
        "env": tracker_env,
        "save_merged": m.merge_adapter,
        "notes": notes,
    }


def _load_messages(load_dataset: Any, path: str, keys: dict[str, str]) -> Any:
    """A JSONL file of messages (a ``messages`` column) or alpaca samples (a ``text`` column)."""
    from training_hub.data.formats import alpaca_text

    dataset = load_dataset("json", data_files=path, split="train")
    if keys["instruction"] in dataset.column_names:
        return dataset.map(
            lambda s: {"text": alpaca_text(s[keys["instruction"]], s.get(keys["input"]), s[keys["output"]])},
            remove_columns=dataset.column_names,
        )
    if keys["messages"] not in dataset.column_names:
        raise InvalidInputError(
            f"{path}: unsloth backend needs `{keys['messages']}` or alpaca samples, found columns "
            f"{dataset.column_names}"
        )
    if keys["messages"] != "messages":
        dataset = dataset.rename_column(keys["messages"], "messages")
    return dataset


class UnslothLoRABackend(UpstreamEngineBackend):
    """LoRA with unsloth and TRL (``pip install 'training-hub-k8s[unsloth]'``)."""

    name = "unsloth"
    install_hint = UNSLOTH_EXTRA

    requires = (("unsloth", "unsloth"),)

    def execute_training(self, params: dict[str, Any], callbacks: Callbacks = None) -> Any:
        translated = translate(params)
        self.ensure_available()
        import torch
        import unsloth  # noqa: F401  (must be imported before trl/transformers to patch them)
        from datasets import load_dataset
        from trl import SFTConfig, SFTTrainer
        from unsloth import FastLanguageModel

        model_kwargs = dict(translated["model"])
        if model_kwargs["dtype"] is not None:
            model_kwargs["dtype"] = getattr(torch, model_kwargs["dtype"])
        model, tokenizer = FastLanguageModel.from_pretrained(**model_kwargs)
        model = FastLanguageModel.get_peft_model(model, **translated["peft"])
        keys = translated["data"]["keys"]
        dataset = _load_messages(load_dataset, translated["data"]["data_path"], keys)
        eval_path = translated["data"]["eval_data_path"]
        trainer = SFTTrainer(
            model=model,
            processing_class=tokenizer,
            train_dataset=dataset,
            eval_dataset=_load_messages(load_dataset, eval_path, keys) if eval_path else None,
            args=SFTConfig(**translated["sft_config"]),
            callbacks=[
                metrics_file_callback(translated["sft_config"]["output_dir"]),
                *hf_callbacks(callbacks),
            ],
        )
        with tracker_environment(translated["env"]):
            result = trainer.train()
        output_dir = translated["sft_config"]["output_dir"]
        model.save_pretrained(output_dir)
        tokenizer.save_pretrained(output_dir)
        if translated["save_merged"]:
            model.save_pretrained_merged(f"{output_dir}/merged", tokenizer, save_method="merged_16bit")
        logger.info("unsloth: trained (%s); adapter in %s", getattr(result, "metrics", {}), output_dir)
        return {"model": model, "tokenizer": tokenizer, "trainer": trainer}


def hf_callbacks(callbacks: Callbacks) -> list[Any]:
    """Hugging Face callbacks for TRL: hub callbacks and engine callbacks (``on_step`` protocol) adapted,
    ``TrainerCallback`` objects as given (:func:`training_hub.adapters.unsloth.adapt_other_callbacks`)."""
    from training_hub.adapters.unsloth import adapt_hub_callbacks, adapt_other_callbacks
    from training_hub.callbacks import split_callbacks

    hub, other = split_callbacks(callbacks)
    adapted = adapt_other_callbacks(other)
    return [*adapt_hub_callbacks(hub), *adapted] if hub else adapted


def metrics_file_callback(output_dir: str) -> Any:
    """A Hugging Face callback appending each logged row to ``<output_dir>/training_metrics.jsonl`` with the
    native engine's field names (``step``, ``epoch``, ``loss``, ``lr``, ``grad_norm``, ``eval_loss``), so
    that ``plot_loss`` and the TrainingRun status read unsloth runs as they read native ones."""
    import json
    import os

    from transformers import TrainerCallback

    renames = {"learning_rate": "lr"}

    class MetricsFile(TrainerCallback):  # type: ignore[misc]
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if not logs or not state.is_world_process_zero:
                return
            row = {"step": state.global_step, "total_steps": state.max_steps, "epoch": state.epoch}
            row.update({renames.get(k, k): v for k, v in logs.items() if isinstance(v, int | float)})
            os.makedirs(output_dir, exist_ok=True)
            with open(os.path.join(output_dir, METRICS_FILE), "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")

    return MetricsFile()
