"""The data pipeline benchmark's own side (``python -m benchmarks.data_pipeline``): the tiny assets and our
pipeline timed end to end (tokenizer load + ``prepare_dataset``) and at its core (``tokenize_chat``)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from benchmarks.benchlib import build_tiny_assets
from benchmarks.chat_data import EOS_TERMINATED_TEMPLATE

MAX_SEQ_LEN = 4096


def prepare_assets(workdir: Path) -> Path:
    """Build the tokenizer (EOS-terminated template) and a tiny model dir (instructlab reads its config)."""
    _, model_dir = build_tiny_assets(workdir / "assets", template=EOS_TERMINATED_TEMPLATE)
    return model_dir


def time_ours(
    data: Path, model_dir: Path, workdir: Path, repeats: int, parallel: bool = False
) -> tuple[dict[str, Any], Any]:
    """Time our pipeline end to end (tokenizer load + prepare_dataset with cache write) and its core.

    Args:
        data: The JSONL file.
        model_dir: Model directory holding the tokenizer.
        workdir: Scratch directory (a fresh cache directory per repeat).
        repeats: Timed repetitions.
        parallel: Let the Rust tokenizer encode batches on every core (the default outside benchmarks);
            False pins it to one thread.

    Returns:
        The timings and the dataset of the last end-to-end run.
    """
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if parallel else "false"
    from training_hub.data import prepare_dataset, read_records
    from training_hub.data.tokenize import tokenize_chat
    from training_hub.engine.model_setup import load_tokenizer

    end_to_end: list[float] = []
    end_to_end_cpu: list[float] = []
    dataset = None
    for r in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        tokenizer = load_tokenizer(str(model_dir))
        dataset, stats = prepare_dataset(
            data, tokenizer, max_seq_len=MAX_SEQ_LEN, output_dir=workdir / f"ours-{r}"
        )
        end_to_end.append(time.perf_counter() - t0)
        end_to_end_cpu.append(time.process_time() - c0)
        assert not stats.from_cache
    tokenizer = load_tokenizer(str(model_dir))
    _, records = read_records(data)
    core: list[float] = []
    core_cpu: list[float] = []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        tokenize_chat(records, tokenizer, None, lambda rec: str(rec.line))
        core.append(time.perf_counter() - t0)
        core_cpu.append(time.process_time() - c0)
    timings = {
        "end_to_end_seconds": end_to_end,
        "core_seconds": core,
        "end_to_end_cpu_seconds": end_to_end_cpu,
        "core_cpu_seconds": core_cpu,
    }
    assert dataset is not None  # repeats >= 1
    return {**timings, "num_samples": len(dataset)}, dataset
