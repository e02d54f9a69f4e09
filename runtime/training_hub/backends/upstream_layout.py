"""The output layouts and return value upstream training_hub's scripts expect, for the portable backends:

* ``lora_sft`` (``peft``): the adapter at ``ckpt_output_dir`` itself, ``checkpoint-<step>/`` per checkpoint
  (Hugging Face Trainer names), and a result with ``model``, ``tokenizer`` and ``trainer``.
* ``osft`` (``native``): ``hf_format/samples_<N>.0`` per checkpoint and for the final model (mini-trainer's
  names, which upstream's OSFT scripts glob for).

The engine's own layout (``hf_format/samples_<N>``, ``hf_format/final``) stays: the operator, the storage
mirror and resume read it. The root copy and ``checkpoint-<step>`` entries are added after training, on the
process that returns the summary.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from training_hub.contracts import pod_env
from training_hub.contracts.run_files import METRICS_FILE
from training_hub.engine.checkpoint import COMPLETE_MARKER, link_or_copy_tree, list_checkpoints


class LoRAResult(dict[str, Any]):
    """The engine summary plus upstream's keys: ``model`` (the trained PEFT model, loaded from the final
    adapter on first access), ``tokenizer`` (likewise) and ``trainer`` (``None``: the native engine has no
    Hugging Face ``Trainer`` object)."""

    def __missing__(self, key: str) -> Any:
        if key == "trainer":
            return None
        final = self.get("output_model_path")
        if key == "tokenizer" and final:
            from transformers import AutoTokenizer

            self[key] = AutoTokenizer.from_pretrained(final)
            return self[key]
        if key == "model" and final:
            from peft import AutoPeftModelForCausalLM

            self[key] = AutoPeftModelForCausalLM.from_pretrained(final)
            return self[key]
        raise KeyError(key)


def _step_of_samples(metrics_path: Path) -> dict[int, int]:
    """``samples_seen`` -> step, from the metrics file."""
    steps: dict[int, int] = {}
    if metrics_path.is_file():
        for line in metrics_path.read_text().splitlines():
            row = json.loads(line)
            if "samples_seen" in row and "step" in row:
                steps[int(row["samples_seen"])] = int(row["step"])
    return steps


def apply_lora_layout(summary: dict[str, Any], ckpt_output_dir: str) -> LoRAResult:
    """Copy the final adapter's files to ``ckpt_output_dir`` and link ``checkpoint-<step>`` to each
    ``hf_format/samples_<N>`` (global rank 0 only; other ranks just wrap the summary)."""
    result = LoRAResult(summary)
    final = Path(str(summary.get("output_model_path") or ""))
    if os.environ.get(pod_env.RANK, "0") != "0" or not final.is_dir():
        return result
    root = Path(ckpt_output_dir)
    for item in final.iterdir():
        if item.is_file() and item.name != COMPLETE_MARKER:
            (root / item.name).unlink(missing_ok=True)
            shutil.copy2(item, root / item.name)
    steps = _step_of_samples(Path(str(summary.get("metrics_path") or root / METRICS_FILE)))
    for path in map(Path, summary.get("checkpoints") or []):
        samples = path.name.removeprefix("samples_")
        if path.is_dir() and samples.isdigit() and int(samples) in steps:
            target = root / f"checkpoint-{steps[int(samples)]}"
            if not target.exists():
                link_or_copy_tree(path, target)
    return result


def apply_osft_layout(summary: dict[str, Any], ckpt_output_dir: str) -> dict[str, Any]:
    """Add ``hf_format/samples_<N>.0`` (hard links) for every complete checkpoint and, when the final model
    is not one of them, for the final model at the samples seen (global rank 0 only). Upstream's scripts pick
    the newest of them; the engine's own names stay (``samples_<N>.0`` is not one of them, so pruning and
    resume ignore these)."""
    hf_dir = Path(ckpt_output_dir) / "hf_format"
    if os.environ.get(pod_env.RANK, "0") != "0" or not hf_dir.is_dir():
        return summary
    done: set[int] = set()
    for samples, path in list_checkpoints(hf_dir):
        target = hf_dir / f"samples_{samples}.0"
        if not target.exists():
            link_or_copy_tree(path, target)
        done.add(samples)
    final = hf_dir / "final"
    seen = summary.get("samples_seen")
    if final.is_dir() and isinstance(seen, int) and seen not in done:
        link_or_copy_tree(final, hf_dir / f"samples_{seen}.0")
    return summary
