"""``unsloth`` backend for ``lora_sft`` (upstream engine; one CUDA GPU).

:func:`translate` is the one place where training_hub names become the keyword arguments of unsloth's
``FastLanguageModel.from_pretrained`` / ``FastLanguageModel.get_peft_model`` and TRL's ``SFTConfig``. Unlike
upstream training_hub, packing is off so that ``effective_batch_size`` counts samples (as everywhere else),
and only assistant tokens train (``assistant_only_loss``; the model's chat template must mark assistant
turns with ``{% generation %}``). ``max_tokens_per_gpu``, pretraining and multi-process runs are errors
here (upstream accepted and ignored some of them): use ``backend='peft'``.
"""

from __future__ import annotations

from typing import Any

from training_hub.algorithms.base import Backend, Callbacks
from training_hub.backends.common import UNSLOTH_EXTRA, Compatibility, resolve, upstream_unavailable_reason
from training_hub.errors import InvalidInputError
from training_hub.observability.trackers.hf import hf_tracker_args, tracker_environment
from training_hub.torchrun import TORCHRUN_KEYS, get_torchrun_params

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
    m, explicit = resolve("lora_sft", params)
    compat = Compatibility("unsloth", m, explicit, "backend='peft'")
    compat.only("max_tokens_per_gpu", [None], "pads batches and has no per-GPU token budget")
    compat.only("is_pretraining", [False], "is wired here for instruction data only")
    compat.only("block_size", [None], "is wired here for instruction data only")
    compat.only("data_format", ["auto", "messages", "alpaca"], "reads messages or alpaca data here")
    compat.only("overlong_policy", ["truncate"], "truncates samples longer than max_seq_len")
    compat.only("unmask_roles", [None, ["assistant"]], "trains on assistant tokens only")
    compat.only("distributed_strategy", ["auto", "ddp"], "does not shard with FSDP")
    compat.only("checkpoint_storage", [None], "does not mirror checkpoints to object storage here")
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

    per_device = micro_batch(m.effective_batch_size)
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
        "bf16": True if m.bf16 is None else m.bf16,
        "max_length": m.max_seq_len,
        "packing": False,
        "assistant_only_loss": True,
        "use_liger_kernel": m.use_liger,
        "save_total_limit": m.keep_last_checkpoints,
        "logging_steps": 1,
        **save,
    }
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
        "data": {"data_path": m.data_path, "data_format": m.data_format, "eval_data_path": m.eval_data_path},
        "env": tracker_env,
        "save_merged": m.merge_adapter,
        "notes": notes,
    }


def _alpaca_to_messages(sample: dict[str, Any]) -> dict[str, Any]:
    prompt = sample["instruction"] + (f"\n\n{sample['input']}" if sample.get("input") else "")
    return {
        "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": sample["output"]}]
    }


def _load_messages(load_dataset: Any, path: str) -> Any:
    """A JSONL file of messages or alpaca samples as a dataset of messages."""
    dataset = load_dataset("json", data_files=path, split="train")
    if "instruction" in dataset.column_names:
        return dataset.map(_alpaca_to_messages, remove_columns=dataset.column_names)
    if "messages" not in dataset.column_names:
        raise InvalidInputError(
            f"{path}: unsloth backend needs `messages` or alpaca samples, found columns {dataset.column_names}"
        )
    return dataset


class UnslothLoRABackend(Backend):
    """LoRA with unsloth and TRL (``pip install 'training-hub-k8s[unsloth]'``)."""

    name = "unsloth"
    install_hint = UNSLOTH_EXTRA

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return upstream_unavailable_reason("unsloth", "unsloth")

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
        dataset = _load_messages(load_dataset, translated["data"]["data_path"])
        eval_path = translated["data"]["eval_data_path"]
        trainer = SFTTrainer(
            model=model,
            processing_class=tokenizer,
            train_dataset=dataset,
            eval_dataset=_load_messages(load_dataset, eval_path) if eval_path else None,
            args=SFTConfig(**translated["sft_config"]),
            callbacks=list(callbacks) if callbacks else None,
        )
        with tracker_environment(translated["env"]):
            result = trainer.train()
        output_dir = translated["sft_config"]["output_dir"]
        model.save_pretrained(f"{output_dir}/adapter")
        tokenizer.save_pretrained(f"{output_dir}/adapter")
        if translated["save_merged"]:
            model.save_pretrained_merged(f"{output_dir}/merged", tokenizer, save_method="merged_16bit")
        return {"ckpt_output_dir": output_dir, "train_result": getattr(result, "metrics", {})}
