"""Runs instructlab-training's data processing; executed by the `.venv-bench` python, never the main venv.

Usage: ``.venv-bench/bin/python benchmarks/ilab_data_worker.py --data D --model M --max-seq-len N
--num-procs P --out-dir O --result R [--repeats K] [--dump-samples]``

Two timings, both with instructlab-training's own code (`instructlab.training.data_process`, read from the
installed 0.16.x source):

* ``end_to_end``: ``process_messages_into_input_ids`` (load the JSONL with `datasets`, tokenise and mask
  every sample with ``unmask_sample``, statistics, the length filter ``20 <= len < max_seq_len``, previews,
  validation, write ``data.jsonl``), with a fresh `datasets` cache per repeat.
* ``core``: ``process_samples`` alone on the already loaded dataset (chat template + masking per sample).

With ``--dump-samples`` the processed samples (``input_ids``, ``labels``, in file order after the filter)
are written to ``<out-dir>/samples.json`` for the equality check; this is not timed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path


def _cpu() -> float:
    """User + system CPU seconds of this process and its waited-for children, as the OS accounts them."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> int:
    """Time instructlab-training's data processing and write a JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--max-seq-len", type=int, required=True)
    parser.add_argument("--num-procs", type=int, default=1)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--dump-samples", action="store_true")
    args = parser.parse_args()

    warnings.filterwarnings("ignore")
    t_import = time.perf_counter()
    import datasets
    from instructlab.training import data_process as dp

    import_s = time.perf_counter() - t_import
    datasets.disable_progress_bars()
    logging.disable(logging.INFO)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    end_to_end: list[float] = []
    # CPU time of this process and of the worker processes it waited for (`datasets` may map in workers).
    end_to_end_cpu: list[float] = []
    for r in range(args.repeats):
        cache = tempfile.mkdtemp(prefix="ilab-ds-cache-")
        os.environ["HF_DATASETS_CACHE"] = cache
        datasets.config.HF_DATASETS_CACHE = Path(cache)
        target = out_dir / f"run{r}"
        shutil.rmtree(target, ignore_errors=True)
        t0, c0 = time.perf_counter(), _cpu()
        dp.process_messages_into_input_ids(
            data_path=args.data,
            data_output_path=str(target),
            max_seq_len=args.max_seq_len,
            model_path=args.model,
            num_cpu_procs=args.num_procs,
        )
        end_to_end.append(time.perf_counter() - t0)
        end_to_end_cpu.append(_cpu() - c0)
        shutil.rmtree(cache, ignore_errors=True)

    # The core: tokenisation + masking only, on a loaded dataset with a configured tokenizer.
    cache = tempfile.mkdtemp(prefix="ilab-ds-cache-")
    datasets.config.HF_DATASETS_CACHE = Path(cache)
    data = dp.load_and_validate_dataset(args.data, args.num_procs)
    tokenizer = dp.configure_tokenizer(args.model)
    core: list[float] = []
    core_cpu: list[float] = []
    processed = None
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), _cpu()
        processed = dp.process_samples(data, tokenizer, args.num_procs)
        core.append(time.perf_counter() - t0)
        core_cpu.append(_cpu() - c0)
    num_records = data.num_rows

    final = out_dir / "run0" / "data.jsonl"
    kept = sum(1 for line in final.read_text().splitlines() if line.strip())
    if args.dump_samples:
        rows = [json.loads(line) for line in final.read_text().splitlines() if line.strip()]
        dump = {
            "input_ids": [row["input_ids"] for row in rows],
            "labels": [row["labels"] for row in rows],
            "unfiltered_lengths": list(processed["len"]) if processed is not None else [],
        }
        (out_dir / "samples.json").write_text(json.dumps(dump))
    shutil.rmtree(cache, ignore_errors=True)

    from importlib.metadata import version

    result = {
        "instructlab_training": version("instructlab-training"),
        "datasets": version("datasets"),
        "transformers": version("transformers"),
        "num_records": num_records,
        "num_kept": kept,
        "num_procs": args.num_procs,
        "import_seconds": import_s,
        "end_to_end_seconds": end_to_end,
        "core_seconds": core,
        "end_to_end_cpu_seconds": end_to_end_cpu,
        "core_cpu_seconds": core_cpu,
    }
    Path(args.result).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
