"""Startup: time from process start to the first optimizer step of the native engine, and where it goes.

A fresh Python process (``python -m benchmarks.startup --probe``) trains the tiny model with
``training_hub.engine.run_training``; the engine's own functions are wrapped with timers (not changed) to
split the time into phases: interpreter start, ``import torch``, ``import transformers``, tokenizer load,
data preparation (validate + tokenise + cache write, or a cache hit), model load, optimizer and schedule,
and the first step itself. The process start is taken by the parent just before it spawns the child.
Two runs: a cold data cache, then a warm one (same ``data_output_dir``, new checkpoint directory).

Usage: ``.venv/bin/python -m benchmarks.startup [--quick] [--samples N]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.benchlib import (
    build_tiny_assets,
    format_table,
    median,
    report,
    run_json_worker,
    subprocess_env,
)
from benchmarks.chat_data import write_chat_dataset

PHASES = (
    "interpreter",
    "import torch",
    "import transformers",
    "engine setup",
    "tokenizer",
    "data",
    "model",
    "optimizer",
    "first step",
)


def probe(params_path: Path, result_path: Path, spawn_time: float) -> None:
    """Child side: train until the first step, recording phase boundaries (wall-clock, `time.time()`)."""
    marks: dict[str, float] = {"spawn": spawn_time, "main": time.time()}
    import torch  # noqa: F401

    marks["torch"] = time.time()
    import transformers  # noqa: F401
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401

    marks["transformers"] = time.time()
    from training_hub.engine import run_training, trainer

    spans: dict[str, list[float]] = {}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.time()
            try:
                return fn(*args, **kwargs)
            finally:
                spans.setdefault(name, [t0, time.time()])

        return wrapper

    trainer.load_tokenizer = timed("tokenizer", trainer.load_tokenizer)
    trainer.prepare_dataset = timed("data", trainer.prepare_dataset)
    trainer.build_model = timed("model", trainer.build_model)
    trainer.build_optimizer = timed("optimizer", trainer.build_optimizer)
    trainer.build_scheduler = timed("scheduler", trainer.build_scheduler)

    class FirstStep:
        def on_step(self, metrics: dict[str, Any]) -> None:
            if metrics["step"] == 1:
                marks["first_step"] = time.time()

    params = json.loads(params_path.read_text())
    summary = run_training("sft", params, callbacks=[FirstStep()])
    result = {"marks": marks, "spans": spans, "from_cache": summary["data_stats"]["from_cache"]}
    result_path.write_text(json.dumps(result))


def phases(res: dict[str, Any]) -> dict[str, float]:
    """Seconds per phase from a probe result (the phases add up to the total)."""
    m, s = res["marks"], res["spans"]
    out = {
        "interpreter": m["main"] - m["spawn"],
        "import torch": m["torch"] - m["main"],
        "import transformers": m["transformers"] - m["torch"],
        "engine setup": s["tokenizer"][0] - m["transformers"],
        "tokenizer": s["tokenizer"][1] - s["tokenizer"][0],
        "data": s["data"][1] - s["data"][0],
        "model": s["model"][1] - s["model"][0],
        "optimizer": s["scheduler"][1] - s["optimizer"][0],
    }
    out["first step"] = m["first_step"] - s["scheduler"][1]
    # Whatever lies between the timed spans (logging, planning) is counted in the first step's row.
    out["first step"] += (s["data"][0] - s["tokenizer"][1]) + (s["model"][0] - s["data"][1])
    out["first step"] += s["optimizer"][0] - s["model"][1]
    out["total"] = m["first_step"] - m["spawn"]
    return out


def run_probe(params: dict[str, Any], workdir: Path, tag: str) -> dict[str, Any]:
    """Spawn one probe process and return its phases."""
    params_path = workdir / f"params-{tag}.json"
    result_path = workdir / f"result-{tag}.json"
    params_path.write_text(json.dumps(params))
    env = subprocess_env(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    spawn = time.time()
    res = run_json_worker(
        ["benchmarks.startup", "--probe", str(params_path), str(result_path), repr(spawn)],
        result_path,
        env,
        "startup probe",
    )
    return {"phases": phases(res), "from_cache": res["from_cache"]}


def run(workdir: Path, samples: int, repeats: int) -> dict[str, Any]:
    """Cold and warm data cache, `repeats` times each (interleaved); medians per phase."""
    from training_hub.params import validate_params

    _, model_dir = build_tiny_assets(workdir / "assets")
    data = write_chat_dataset(workdir / "train.jsonl", samples, seed=4)
    runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    for r in range(repeats):
        data_dir = workdir / f"data-{r}"
        for kind in ("cold", "warm"):
            params = validate_params(
                "sft",
                {
                    "model_path": str(model_dir),
                    "data_path": str(data),
                    "ckpt_output_dir": str(workdir / f"ckpt-{r}-{kind}"),
                    "data_output_dir": str(data_dir),
                    "effective_batch_size": 8,
                    "max_seq_len": 1024,
                    "learning_rate": 1e-3,
                    "max_steps": 1,
                    "checkpoint_at_epoch": False,
                },
            ).model_dump()
            out = run_probe(params, workdir, f"{r}-{kind}")
            assert out["from_cache"] == (kind == "warm"), out
            runs[kind].append(out["phases"])
    med = {
        kind: {name: median([p[name] for p in plist]) for name in (*PHASES, "total")}
        for kind, plist in runs.items()
    }
    return {"samples": samples, "repeats": repeats, "median_seconds": med, "runs": runs}


def table(res: dict[str, Any]) -> str:
    """The Markdown table of a result: seconds per phase, cold and warm data cache."""
    cold, warm = res["median_seconds"]["cold"], res["median_seconds"]["warm"]
    rows = [
        [name, f"{cold[name]:.2f}", f"{100 * cold[name] / cold['total']:.0f}%", f"{warm[name]:.2f}"]
        for name in PHASES
    ]
    rows.append(["**total to first step**", f"**{cold['total']:.2f}**", "100%", f"**{warm['total']:.2f}**"])
    return format_table(["phase", "cold cache s", "share", "warm cache s"], rows) + (
        f"\n\n{res['samples']} samples, tiny Llama, 1 process on CPU; median of {res['repeats']}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write `benchmarks/results/startup.json` (or act as the probe child)."""
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "--probe":
        probe(Path(argv[1]), Path(argv[2]), float(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="One repeat.")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--out-dir", default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        res = run(Path(tmp), args.samples, args.repeats or (1 if args.quick else 3))
    report("startup", res, table(res), args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
