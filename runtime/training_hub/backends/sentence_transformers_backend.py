"""``sentence-transformers`` backend of ``embedding_sft``: contrastive fine-tuning of an embedding model.

Same meaning as upstream training_hub 0.10+'s backend of that name: JSONL (or JSON/Parquet/CSV) rows of
``text`` and ``label`` (renamed from ``text_column``/``label_column``; non-integer labels are encoded as
integers in sorted order), a triplet loss over the labels (``batch_all_triplet``, ``batch_hard_triplet``,
with batches grouped by label) or ``mnrl`` (multiple-negatives ranking over (anchor, positive) pairs of
same-label texts, at most 10 000 pairs per label, batches without duplicates), or a custom ``loss_fn``
(which owns its data columns). Training uses ``SentenceTransformerTrainer``: one checkpoint per epoch
(only the last kept), eval loss per epoch with ``eval_data_path``, bf16 on GPUs that support it; the model
is saved to ``ckpt_output_dir`` and the result is upstream's dict.

Better than upstream: every step's loss, learning rate and grad norm (and each eval loss) go to
``<ckpt_output_dir>/training_metrics.jsonl`` (then upstream's summary line) and to the pod's progress
reporting; upstream logs every 10 steps and writes the summary only. It runs on CPU, one process.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Mapping
from itertools import combinations
from pathlib import Path
from typing import Any

from training_hub.algorithms.base import Backend, Callbacks
from training_hub.backends.availability import module_available
from training_hub.contracts.run_files import METRICS_FILE
from training_hub.errors import InvalidInputError
from training_hub.torchrun import TORCHRUN_KEYS, get_torchrun_params

logger = logging.getLogger("training_hub")

TRIPLET_LOSSES = ("batch_all_triplet", "batch_hard_triplet")
#: Upper bound of (anchor, positive) pairs built per label for ``mnrl``.
MAX_PAIRS_PER_LABEL = 10_000
_READERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def load_labeled(path: str, text_column: str, label_column: str, *, require: bool = True) -> Any:
    """Load a local data file as a ``datasets.Dataset`` with ``text`` and integer ``label`` columns.

    Args:
        path: A ``.jsonl``/``.json``/``.parquet``/``.csv`` file.
        text_column: Column renamed to ``text``.
        label_column: Column renamed to ``label``.
        require: Require both columns and keep only them (False for a custom ``loss_fn``, which keeps
            every column; a ``label`` column is encoded all the same, where upstream leaves string labels
            to fail in the collator).

    Raises:
        InvalidInputError: For a missing file, an unknown extension, a name clash or a missing column.
    """
    from datasets import Dataset, load_dataset

    file = Path(path)
    reader = _READERS.get(file.suffix.lower())
    if not file.is_file() or reader is None:
        raise InvalidInputError(
            f"{path}: embedding_sft reads a local .jsonl, .json, .parquet or .csv file"
            + ("" if file.is_file() else " (no such file)")
        )
    data = load_dataset(reader, data_files=str(file), split="train")
    for source, target in ((text_column, "text"), (label_column, "label")):
        if source != target and source in data.column_names:
            if target in data.column_names:
                raise InvalidInputError(
                    f"{path}: cannot rename column {source!r} to {target!r}, which exists already"
                )
            data = data.rename_column(source, target)
    missing = [c for c in ("text", "label") if c not in data.column_names]
    if missing and require:
        raise InvalidInputError(
            f"{path}: no {' or '.join(repr(c) for c in missing)} column (set text_column / label_column); "
            f"columns: {data.column_names}"
        )
    if not require:  # a custom loss owns the columns; labels are still made integers
        if "label" in data.column_names:
            labels = encode_labels(list(data["label"]))
            data = data.remove_columns("label").add_column("label", labels)
        return data
    labels = encode_labels(list(data["label"]))
    return Dataset.from_dict({"text": [str(t) for t in data["text"]], "label": labels})


def encode_labels(values: list[Any]) -> list[int]:
    """Integer labels: integers kept, booleans and integral floats converted, anything else coded 0..n-1
    in sorted order.

    Raises:
        InvalidInputError: For a missing label.
    """
    if any(v is None for v in values):
        raise InvalidInputError("embedding_sft: every row needs a label")
    if all(isinstance(v, bool) or (isinstance(v, float) and v.is_integer()) or _is_int(v) for v in values):
        return [int(v) for v in values]
    codes = {v: i for i, v in enumerate(sorted({str(v) for v in values}))}
    logger.info("embedding_sft: labels encoded as integers: %s", dict(list(codes.items())[:10]))
    return [codes[str(v)] for v in values]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def to_pairs(data: Any, seed: int, max_pairs: int = MAX_PAIRS_PER_LABEL) -> Any:
    """(anchor, positive) pairs of texts with the same label, at most ``max_pairs`` per label (seeded)."""
    from datasets import Dataset

    groups: dict[int, list[str]] = {}
    for text, label in zip(data["text"], data["label"], strict=True):
        groups.setdefault(label, []).append(text)
    rng = random.Random(seed)
    anchors: list[str] = []
    positives: list[str] = []
    # k texts give k(k-1)/2 pairs: sample the texts down first so memory stays bounded
    cap = math.ceil((1 + math.sqrt(1 + 8 * max_pairs)) / 2)
    for label in sorted(groups):
        texts = groups[label]
        if len(texts) > cap:
            texts = rng.sample(texts, cap)
        pairs = list(combinations(texts, 2))
        if len(pairs) > max_pairs:
            pairs = rng.sample(pairs, max_pairs)
        anchors += [a for a, _ in pairs]
        positives += [b for _, b in pairs]
    if not anchors:
        raise InvalidInputError("embedding_sft with loss_type='mnrl' needs two or more texts of one label")
    return Dataset.from_dict({"anchor": anchors, "positive": positives})


def _metrics_callback(path: Path, callbacks: list[Any], batch_size: int) -> Any:
    """A Trainer callback writing each log as an engine-style metrics row and passing it to ``callbacks``."""
    from transformers import TrainerCallback

    from training_hub.engine.callbacks import invoke

    class MetricsRows(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.started = time.time()
            self.last_loss: float | None = None

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None, **kw: Any
        ) -> None:
            logs = logs or {}
            row: dict[str, Any] = {"step": state.global_step, "total_steps": state.max_steps}
            for key, name in (("loss", "loss"), ("learning_rate", "lr"), ("grad_norm", "grad_norm")):
                if isinstance(logs.get(key), int | float):
                    row[name] = float(logs[key])
            if isinstance(logs.get("eval_loss"), int | float):
                row["eval_loss"] = float(logs["eval_loss"])
            if len(row) == 2:  # the end-of-training summary log: no per-step metric
                return
            row.update(
                epoch=float(state.epoch or 0.0),
                samples_seen=state.global_step * batch_size,
                elapsed=time.time() - self.started,
            )
            if "loss" in row:
                self.last_loss = row["loss"]
            with path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            invoke(callbacks, "on_step", row)

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            invoke(callbacks, "on_checkpoint", str(checkpoint), "hf")

    return MetricsRows()


class SentenceTransformersBackend(Backend):
    """``embedding_sft`` with sentence-transformers (CPU or GPU, one process)."""

    name = "sentence-transformers"
    portable = True
    install_hint = "pip install sentence-transformers"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if not module_available("sentence_transformers"):
            return "the package sentence-transformers is not installed"
        return None

    def execute_training(self, params: dict[str, Any], callbacks: Callbacks = None) -> Any:
        """Train; ``params`` may hold ``loss_fn`` (a loss module) besides the model's fields."""
        from training_hub.algorithms.validation import ValidatedParams, validated

        loss_fn = params.get("loss_fn")
        if not isinstance(params, ValidatedParams):  # called directly: this is the edge
            params = validated("embedding_sft", {k: v for k, v in params.items() if k != "loss_fn"})
        if callbacks:
            raise InvalidInputError(
                "embedding_sft takes no callbacks (upstream's has none); its metrics are in "
                f"<ckpt_output_dir>/{METRICS_FILE}"
            )
        if loss_fn is not None and not callable(loss_fn):
            raise InvalidInputError(
                f"loss_fn must be callable (a sentence-transformers loss), got {type(loss_fn).__name__}"
            )
        p = validated("embedding_sft", params).model.model_dump()
        torchrun = get_torchrun_params({k: p.get(k) for k in TORCHRUN_KEYS})
        if torchrun["nproc_per_node"] != 1 or torchrun["nnodes"] != 1:
            raise InvalidInputError(
                f"embedding_sft runs one process (nproc_per_node={torchrun['nproc_per_node']}, "
                f"nnodes={torchrun['nnodes']} asked)"
            )
        self.ensure_available()
        return _train(p, loss_fn)


def _train(p: dict[str, Any], loss_fn: Any) -> dict[str, Any]:
    import torch
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer import losses
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    from training_hub.engine.callbacks import invoke
    from training_hub.observability.auto import runtime_callbacks

    custom = loss_fn is not None
    out = Path(p["ckpt_output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    pairs = p["loss_type"] == "mnrl" and not custom

    def load(path: str) -> Any:
        data = load_labeled(path, p["text_column"], p["label_column"], require=not custom)
        return to_pairs(data, p["seed"]) if pairs else data

    train_data = load(p["data_path"])  # data errors before the model is loaded
    eval_data = load(p["eval_data_path"]) if p["eval_data_path"] else None
    model = SentenceTransformer(p["model_path"])
    loss_classes = {
        "batch_all_triplet": losses.BatchAllTripletLoss,
        "batch_hard_triplet": losses.BatchHardTripletLoss,
        "mnrl": losses.MultipleNegativesRankingLoss,
    }
    loss = loss_fn if custom else loss_classes[p["loss_type"]](model)
    loss_label = f"custom ({type(loss_fn).__name__})" if custom else p["loss_type"]
    sampler = p["batch_sampler"] or ("no_duplicates" if pairs else "default" if custom else "group_by_label")
    if not custom and p["loss_type"] in TRIPLET_LOSSES and sampler != "group_by_label":
        logger.warning("embedding_sft: triplet losses work best with batch_sampler='group_by_label'")
    samplers = {
        "group_by_label": BatchSamplers.GROUP_BY_LABEL,
        "no_duplicates": BatchSamplers.NO_DUPLICATES,
        "default": BatchSamplers.BATCH_SAMPLER,
    }
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out),
        num_train_epochs=p["num_epochs"],
        max_steps=p["max_steps"] or -1,
        per_device_train_batch_size=p["batch_size"],
        per_device_eval_batch_size=p["batch_size"],
        learning_rate=p["learning_rate"],
        # transformers 5 takes the ratio as a float warmup_steps (warmup_ratio is deprecated there)
        **({"warmup_steps": p["warmup_ratio"]} if p["warmup_ratio"] < 1 else {"warmup_ratio": 1.0}),
        seed=p["seed"],
        batch_sampler=samplers[sampler],
        save_strategy="epoch",
        save_total_limit=1,
        eval_strategy="epoch" if eval_data is not None else "no",
        logging_steps=1,
        fp16=False,
        bf16=bf16,
        report_to="none",
        disable_tqdm=True,
    )
    observers = runtime_callbacks("embedding_sft")
    metrics_path = out / METRICS_FILE
    rows = _metrics_callback(metrics_path, observers, p["batch_size"])
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=train_data,
        eval_dataset=eval_data,
        loss=loss,
        callbacks=[rows],
    )
    logger.info(
        "embedding_sft: %d samples, %d epochs, batch %d, lr %g, loss %s, sampler %s",
        len(train_data),
        p["num_epochs"],
        p["batch_size"],
        p["learning_rate"],
        loss_label,
        sampler,
    )
    started = time.time()
    trainer.train()
    state = trainer.state
    train_loss = next((e["train_loss"] for e in reversed(state.log_history) if "train_loss" in e), None)
    with metrics_path.open("a") as fh:  # upstream's summary line (Kubeflow reads max_steps from it)
        summary_line = {
            "max_steps": state.max_steps,
            "global_step": state.global_step,
            "train_loss": train_loss,
            "epoch": p["num_epochs"],
            "loss": loss_label,
        }
        fh.write(json.dumps(summary_line) + "\n")
    model.save_pretrained(str(out))
    invoke(observers, "on_checkpoint", str(out), "final")
    summary = {
        "algorithm": "embedding_sft",
        "steps": state.global_step,
        "total_steps": state.max_steps,
        "final_loss": rows.last_loss,
        "samples_seen": state.global_step * p["batch_size"],
        "output_model_path": str(out),
        "elapsed": time.time() - started,
    }
    invoke(observers, "on_train_end", summary)
    logger.info("embedding_sft: model saved to %s", out)
    return {
        "status": "success",
        "model_path": str(out),
        "num_samples": len(train_data),
        "num_epochs": p["num_epochs"],
        "loss": loss_label,
    }
