"""The data pipeline benchmark's instructlab-training side (``python -m benchmarks.data_pipeline``): its goals,
the worker run in the bench venv, and the sample-by-sample equality proof against our dataset."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.benchlib import ROOT, subprocess_env
from benchmarks.data_pipeline_ours import MAX_SEQ_LEN

TARGET_SPEEDUP = 3.0
INSTRUCTLAB_GOAL = 5.0
WORKER = ROOT / "benchmarks" / "ilab_data_worker.py"


def run_instructlab(
    python: Path,
    data: Path,
    model_dir: Path,
    workdir: Path,
    *,
    repeats: int,
    num_procs: int = 1,
    dump_samples: bool = False,
) -> dict[str, Any]:
    """Run :mod:`benchmarks.ilab_data_worker` in the bench venv; returns its JSON (+ samples if dumped)."""
    out_dir = workdir / f"ilab-p{num_procs}"
    result = out_dir / "result.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(python),
        str(WORKER),
        "--data",
        str(data),
        "--model",
        str(model_dir),
        "--max-seq-len",
        str(MAX_SEQ_LEN),
        "--num-procs",
        str(num_procs),
        "--out-dir",
        str(out_dir),
        "--result",
        str(result),
        "--repeats",
        str(repeats),
    ]
    if dump_samples:
        cmd.append("--dump-samples")
    env = subprocess_env(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"instructlab worker failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    payload: dict[str, Any] = json.loads(result.read_text())
    if dump_samples:
        payload["samples"] = json.loads((out_dir / "samples.json").read_text())
    return payload


def compare_samples(dataset: Any, ilab_samples: dict[str, Any]) -> dict[str, Any]:
    """Compare our dataset with instructlab's processed samples, sample by sample, in file order.

    Returns:
        `equal` (bool), `num_ours`, `num_instructlab`, `num_compared`, `num_tokens_compared`,
        `id_mismatches`, `label_mismatches` (sample indices, first 20) and `first_difference`.
    """
    ids_list = ilab_samples["input_ids"]
    labels_list = ilab_samples["labels"]
    id_bad: list[int] = []
    label_bad: list[int] = []
    first: dict[str, Any] | None = None
    tokens = 0
    n = min(len(dataset), len(ids_list))
    for i in range(n):
        ours_ids, ours_labels = (a.tolist() for a in dataset.sample(i))
        tokens += len(ours_ids)
        if ours_ids != ids_list[i]:
            id_bad.append(i)
        elif ours_labels != labels_list[i]:
            label_bad.append(i)
        else:
            continue
        if first is None:
            first = {
                "sample": i,
                "ours_ids": ours_ids,
                "instructlab_ids": ids_list[i],
                "ours_labels": ours_labels,
                "instructlab_labels": labels_list[i],
            }
    equal = len(dataset) == len(ids_list) and not id_bad and not label_bad and n > 0
    return {
        "equal": equal,
        "num_ours": len(dataset),
        "num_instructlab": len(ids_list),
        "num_compared": n,
        "num_tokens_compared": tokens,
        "num_trained_tokens_compared": int(sum(sum(1 for x in lab if x != -100) for lab in labels_list[:n])),
        "id_mismatches": id_bad[:20],
        "label_mismatches": label_bad[:20],
        "first_difference": first,
    }
