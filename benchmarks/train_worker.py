"""One training run for the throughput benchmark, in its own process: native engine, HF `Trainer` or TRL.

Usage: ``python -m benchmarks.train_worker --mode native|hf|trl --config config.json --result result.json``

The config holds `model_dir`, `data_path`, `work_dir`, `effective_batch_size`, `max_tokens_per_gpu`,
`max_seq_len`, `learning_rate`, `steps`, `seed`. Both modes see the same samples in the same order:

* ``native``: ``training_hub.engine.run_training("sft", ...)`` (padding-free, token-budget micro-batches),
  constant learning rate, no warmup, no intermediate checkpoints.
* ``hf``: ``transformers.Trainer`` with ``per_device_train_batch_size = effective_batch_size`` (no
  accumulation), batches right-padded to their longest sample (attention mask, labels -100 on padding),
  the same AdamW settings, constant learning rate, gradient clipping; the training set is our tokenised
  dataset (identical token ids and labels) laid out in the native engine's epoch-0 order and read with
  ``train_sampling_strategy="sequential"``, so step *s* trains the same samples on both sides.
* ``trl``: TRL's ``SFTTrainer`` with the same arguments and the same ordered, tokenised samples (see
  :func:`run_trl`); ``trl_padding_free`` in the config selects its padding-free collator.

The result holds per-step losses, real (non-padding) tokens, padded tokens, wall-clock and CPU times at
the end of each optimizer step and when the next step was released (``--gate``: in lockstep with the other
sides, :mod:`benchmarks.lockstep`); figures are computed from step 2 on (step 1 includes one-off warm-up).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from benchmarks.benchlib import cpu_seconds
from benchmarks.lockstep import StepGate


def _common_params(cfg: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_path": cfg["model_dir"],
        "data_path": cfg["data_path"],
        "ckpt_output_dir": str(Path(cfg["work_dir"]) / "native"),
        "effective_batch_size": cfg["effective_batch_size"],
        "max_tokens_per_gpu": cfg["max_tokens_per_gpu"],
        "max_seq_len": cfg["max_seq_len"],
        "learning_rate": cfg["learning_rate"],
        "lr_scheduler": "constant",
        "warmup_steps": 0,
        "max_steps": cfg["steps"],
        "num_epochs": 1,
        "seed": cfg["seed"],
        "checkpoint_at_epoch": False,
        "save_samples": 0,
    }


def run_native(cfg: dict[str, Any], gate: StepGate) -> dict[str, Any]:
    """Train with the native engine; per-step rows come from its callback."""
    from training_hub.engine import run_training
    from training_hub.params import validate_params

    rows: list[dict[str, Any]] = []

    class Recorder:
        def on_step(self, metrics: dict[str, Any]) -> None:
            row = {
                "step": metrics["step"],
                "loss": metrics["loss"],
                "tokens": metrics["tokens"],
                "padded_tokens": metrics["tokens"],
                "micro_batches": metrics["micro_batches"],
                "time": time.perf_counter(),
                "cpu": cpu_seconds(),
            }
            rows.append(row)
            gate.step_done(row)

    params = validate_params("sft", _common_params(cfg)).model_dump()
    summary = run_training("sft", params, callbacks=[Recorder()])
    return {"steps": rows, "final_loss": summary["final_loss"]}


def _ordered_samples(cfg: dict[str, Any]) -> tuple[Any, list[dict[str, list[int]]]]:
    """The tokenizer and our tokenised samples laid out in the native engine's epoch-0 order.

    Read sequentially by a HF `Trainer`, step *s* then trains the same samples as the native engine's
    step *s* (identical token ids and labels).
    """
    import numpy as np

    from training_hub.data import BatchPlanner, prepare_dataset
    from training_hub.engine.model_setup import load_tokenizer

    tokenizer = load_tokenizer(cfg["model_dir"])
    dataset, _ = prepare_dataset(cfg["data_path"], tokenizer, max_seq_len=cfg["max_seq_len"])
    planner = BatchPlanner(
        dataset.lengths,
        dataset.num_targets,
        cfg["effective_batch_size"],
        cfg["max_tokens_per_gpu"],
        1,
        cfg["seed"],
    )
    features = []
    for i in planner.epoch_order(0):
        ids, labels = dataset.sample(int(i))
        features.append(
            {"input_ids": ids.astype(np.int64).tolist(), "labels": labels.astype(np.int64).tolist()}
        )
    return tokenizer, features


def _trainer_args(cfg: dict[str, Any], args_class: Any, name: str, **extra: Any) -> Any:
    """The `TrainingArguments` (or a subclass's) both Trainer-based sides share: the native engine's
    optimizer settings, no accumulation, constant learning rate, sequential reading, fp32, no checkpoints."""
    return args_class(
        output_dir=str(Path(cfg["work_dir"]) / name),
        per_device_train_batch_size=cfg["effective_batch_size"],
        gradient_accumulation_steps=1,
        learning_rate=cfg["learning_rate"],
        weight_decay=0.0,
        adam_beta1=0.9,
        adam_beta2=0.95,
        adam_epsilon=1e-8,
        max_grad_norm=1.0,
        max_steps=cfg["steps"],
        lr_scheduler_type="constant",
        warmup_steps=0,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=False,
        dataloader_num_workers=0,
        seed=cfg["seed"],
        optim="adamw_torch",
        disable_tqdm=True,
        remove_unused_columns=False,
        train_sampling_strategy="sequential",
        **extra,
    )


def _step_recorder(rows: list[dict[str, Any]], batch_stats: list[tuple[int, int]], gate: StepGate) -> Any:
    """A `TrainerCallback` appending one row per optimizer step (tokens, padded tokens, wall, CPU, loss);
    the row goes through ``gate`` (lockstep) before the next step."""
    from transformers import TrainerCallback

    class Recorder(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            real, padded = batch_stats[state.global_step - 1]
            row = {
                "step": state.global_step,
                "tokens": real,
                "padded_tokens": padded,
                "time": time.perf_counter(),
                "cpu": cpu_seconds(),
            }
            rows.append(row)
            gate.step_done(row)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if logs and "loss" in logs and rows:
                rows[-1]["loss"] = float(logs["loss"])

    return Recorder()


def _load_model(cfg: dict[str, Any]) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        cfg["model_dir"], dtype=torch.float32, attn_implementation="sdpa"
    )
    model.config.use_cache = False
    return model


def run_hf(cfg: dict[str, Any], gate: StepGate) -> dict[str, Any]:
    """Train with a plain `transformers.Trainer` on padded batches."""
    import torch
    from transformers import Trainer, TrainingArguments

    tokenizer, features = _ordered_samples(cfg)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    batch_stats: list[tuple[int, int]] = []

    def collate(batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        longest = max(len(f["input_ids"]) for f in batch)
        ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), longest), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), longest), dtype=torch.long)
        for r, f in enumerate(batch):
            n = len(f["input_ids"])
            ids[r, :n] = torch.tensor(f["input_ids"])
            labels[r, :n] = torch.tensor(f["labels"])
            mask[r, :n] = 1
        batch_stats.append((int(mask.sum()), longest * len(batch)))
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    rows: list[dict[str, Any]] = []
    trainer = Trainer(
        model=_load_model(cfg),
        args=_trainer_args(cfg, TrainingArguments, "hf"),
        train_dataset=features,
        data_collator=collate,
        callbacks=[_step_recorder(rows, batch_stats, gate)],
    )
    trainer.train()
    return {"steps": rows, "final_loss": rows[-1].get("loss") if rows else None}


def run_trl(cfg: dict[str, Any], gate: StepGate) -> dict[str, Any]:
    """Train with TRL's `SFTTrainer` on the same samples: padded batches, or padding-free rows.

    The dataset is already tokenised (``input_ids`` and our ``labels``), so TRL skips its own preparation
    and its collator uses our labels as they are. By default TRL's collator right-pads each batch (its
    best configuration on CPU); with ``trl_padding_free`` it concatenates a step's samples into one row
    with ``position_ids`` restarting per sample, and under ``sdpa`` transformers then builds a
    block-diagonal mask over the whole row (``O(T^2)`` attention: slower on CPU than padding). Packing
    is not used: it would change which samples form a step. TRL's defaults that would change the
    comparison are set as on the other sides: fp32, no gradient checkpointing, no Liger kernels.
    """
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    tokenizer, features = _ordered_samples(cfg)
    padding_free = bool(cfg.get("trl_padding_free", False))
    args = _trainer_args(
        cfg,
        SFTConfig,
        "trl",
        padding_free=padding_free,
        max_length=None,
        gradient_checkpointing=False,
        use_liger_kernel=False,
        dataset_kwargs={"skip_prepare_dataset": True},
    )
    rows: list[dict[str, Any]] = []
    batch_stats: list[tuple[int, int]] = []
    trainer = SFTTrainer(
        model=_load_model(cfg),
        args=args,
        train_dataset=Dataset.from_list(features),
        processing_class=tokenizer,
        callbacks=[_step_recorder(rows, batch_stats, gate)],
    )
    collate = trainer.data_collator

    def counting(batch: list[dict[str, Any]]) -> Any:
        out = collate(batch)
        real = sum(len(f["input_ids"]) for f in batch)
        batch_stats.append((real, int(out["input_ids"].numel())))
        return out

    trainer.data_collator = counting
    trainer.train()
    return {"steps": rows, "final_loss": rows[-1].get("loss") if rows else None}


def main() -> int:
    """Run one mode and write its JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("native", "hf", "trl"), required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument(
        "--profile",
        default=None,
        help="Write torch.profiler's CPU-time table of the whole run (by operator) to this file.",
    )
    parser.add_argument(
        "--gate",
        default=None,
        help="R,W: pipe descriptors of a lockstep coordinator (benchmarks/lockstep.py); wait for it after each step.",
    )
    args = parser.parse_args()
    gate = StepGate(args.gate)
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("training_hub").setLevel(logging.WARNING)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    cfg = json.loads(Path(args.config).read_text())
    t0 = time.perf_counter()
    train = {"native": run_native, "hf": run_hf, "trl": run_trl}[args.mode]
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            out = train(cfg, gate)
        table = prof.key_averages().table(
            sort_by="self_cpu_time_total", row_limit=30, max_name_column_width=60
        )
        Path(args.profile).write_text(table)
    else:
        out = train(cfg, gate)
    out["wall_seconds"] = time.perf_counter() - t0
    Path(args.result).write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
