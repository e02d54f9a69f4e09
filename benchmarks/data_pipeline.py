"""Data pipeline throughput: `messages` JSONL -> training-ready tokens, ours vs instructlab-training.

Both sides get the same JSONL file, the same tokenizer and chat template, and one CPU process each:

* ours: ``training_hub.data.prepare_dataset`` (validate, render, tokenise, mask, write the `.npz` cache),
  plus the tokenizer load; ``core`` is ``tokenize_chat`` alone on validated records;
* instructlab-training 0.16 (in the separate ``.venv-bench``, see ``setup_bench_env.sh``):
  ``process_messages_into_input_ids`` end to end, and ``process_samples`` as its core
  (``benchmarks/ilab_data_worker.py``).

Configured so the same samples are compared: every sample has 20 <= tokens < ``max_seq_len`` (instructlab
silently drops the others; we never drop short ones and truncate long ones), no sample sets ``unmask``
(instructlab then trains only the *content* of user messages, we train the whole rendered message), and
the template ends each message with the EOS token (:data:`chat_data.EOS_TERMINATED_TEMPLATE`;
instructlab trains assistant content up to and including EOS, we train the whole assistant message after
the generation prompt, which with the tiny default template also includes the newline after EOS).
Equality proof: every sample's token ids and labels (-100 = masked) are identical on both sides.

Ours is also measured against its floor, the Rust tokenizer's own batch encode of the same texts, chunk by
chunk in lockstep (:func:`floor_chunks`).

Usage: ``.venv/bin/python -m benchmarks.data_pipeline [--quick] [--samples N] [--chunk-samples N] [--passes N]``
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.benchlib import (
    ROOT,
    RatioSummary,
    bench_cores,
    bench_parser,
    bench_python,
    build_tiny_assets,
    cpu_seconds,
    format_table,
    load_average,
    median,
    pair_rows,
    pairs_wanted,
    percentile,
    pin_to,
    report,
    subprocess_env,
    summarize_ratios,
)
from benchmarks.chat_data import EOS_TERMINATED_TEMPLATE, write_chat_dataset

TARGET_SPEEDUP = 3.0
#: Our pipeline's CPU time as a multiple of the tokenizer's own batch encode of the same texts: goal.
FLOOR_GOAL = 1.2
#: ... and at least this many times faster than instructlab-training end to end (1 process).
INSTRUCTLAB_GOAL = 5.0
#: Samples per chunk of the lockstep comparison with the floor, passes over the chunks, and the fewest
#: chunk pairs behind a verdict.
CHUNK_SAMPLES = 250
CHUNK_PASSES = 2
MIN_CHUNK_PAIRS = 16
#: One-sample calls behind the per-call cost.
PER_CALL_REPEATS = 21
MAX_SEQ_LEN = 4096
WORKER = ROOT / "benchmarks" / "ilab_data_worker.py"


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


def write_chunks(data: Path, chunk_samples: int, workdir: Path) -> list[Path]:
    """Cut the JSONL into files of ``chunk_samples`` consecutive lines each (the last may be shorter)."""
    lines = data.read_text(encoding="utf-8").splitlines(keepends=True)
    workdir.mkdir(parents=True, exist_ok=True)
    out = []
    for k, lo in enumerate(range(0, len(lines), chunk_samples)):
        path = workdir / f"chunk-{k:03d}.jsonl"
        path.write_text("".join(lines[lo : lo + chunk_samples]), encoding="utf-8")
        out.append(path)
    return out


def chunk_pair_order(pair: int) -> tuple[str, str]:
    """Which side runs first in chunk pair ``pair``: ours on even pairs, the floor on odd ones."""
    return ("ours", "floor") if pair % 2 == 0 else ("floor", "ours")


def chunk_verdict(multiple: RatioSummary) -> dict[str, Any]:
    """What the per-chunk multiples establish against :data:`FLOOR_GOAL` (the rule, fixed before the runs).

    *Established* needs at least :data:`MIN_CHUNK_PAIRS` chunk pairs and the **whole spread** at most the
    goal (every chunk pair <= 1.2x). The 10th-90th percentile band is stated beside it, never instead.
    """
    ratios = list(multiple.ratios)
    band = (percentile(ratios, 10), percentile(ratios, 90))
    enough = len(ratios) >= MIN_CHUNK_PAIRS
    return {
        "established": enough and multiple.max <= FLOOR_GOAL,
        "band_p10_p90": list(band),
        "band_within_goal": enough and band[1] <= FLOOR_GOAL,
        "median_within_goal": enough and multiple.median <= FLOOR_GOAL,
        "enough_pairs": enough,
    }


def floor_chunks(
    data: Path, model_dir: Path, workdir: Path, chunk_samples: int = CHUNK_SAMPLES, passes: int = CHUNK_PASSES
) -> dict[str, Any]:
    """Our end-to-end CPU time against the floor, the tokenizer's own batch encode, chunk by chunk in lockstep.

    The data is cut into files of ``chunk_samples`` lines. For each chunk (``passes`` times over the
    chunks) the two sides run back to back in this process, the order alternating from one chunk pair to
    the next (:func:`chunk_pair_order`), so that a change of the core's speed hits both sides of a chunk
    alike (the lockstep idea of :mod:`benchmarks.lockstep`, a chunk instead of an optimizer step):

    * *ours*: ``prepare_dataset`` of the chunk's file end to end (read and validate the JSONL, render the
      template, tokenise, mask labels, write the ``.npz`` cache and its statistics);
    * *floor*: the Rust encoder's ``encode_batch_fast`` of the very texts ours tokenises (the chunk's
      conversations rendered with the same chat template, rendering not timed; no offsets, no Python
      lists), its encodings freed inside the timed window as ours frees its own.

    CPU seconds of the process (``CLOCK_PROCESS_CPUTIME_ID``, every thread); the whole process is pinned
    to one core and the Rust encoder runs on one thread (``TOKENIZERS_PARALLELISM=false``: the encode runs
    on the calling thread; the calling thread's own CPU seconds are recorded too, to show it). The
    tokenizer is loaded once (both sides need it). The first call of ``prepare_dataset`` in the process
    (building the per-tokenizer tables it keeps: byte lengths of the vocabulary, the template's
    skeletons) is timed apart as ``cold`` and not among the pairs. ``tokenizer(texts)`` (the Python API,
    with offsets and lists) is timed after each pair for reference.

    Returns:
        ``multiple`` (ours / floor CPU seconds per chunk pair, :meth:`RatioSummary.as_dict`), ``verdict``
        (:func:`chunk_verdict`), ``whole`` (sums over every pair), ``cold``, the raw pairs, the load.
    """
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    pin_to(bench_cores(1))
    from training_hub.data import prepare_dataset, read_records
    from training_hub.engine.model_setup import load_tokenizer

    tokenizer = load_tokenizer(str(model_dir))
    rust = tokenizer.backend_tokenizer
    files = write_chunks(data, chunk_samples, workdir / "chunks")
    texts = [
        [tokenizer.apply_chat_template(r.messages, tokenize=False) for r in read_records(f)[1]] for f in files
    ]
    counter = iter(range(10**6))

    def ours(k: int) -> tuple[float, float, float]:
        w0, c0, t0 = time.perf_counter(), cpu_seconds(), time.thread_time()
        prepare_dataset(
            files[k], tokenizer, max_seq_len=MAX_SEQ_LEN, output_dir=workdir / f"floor-{next(counter)}"
        )
        return cpu_seconds() - c0, time.perf_counter() - w0, time.thread_time() - t0

    def floor(k: int) -> tuple[float, float, float]:
        w0, c0, t0 = time.perf_counter(), cpu_seconds(), time.thread_time()
        encoded = rust.encode_batch_fast(texts[k], add_special_tokens=False)
        n = len(encoded)
        del encoded
        out = cpu_seconds() - c0, time.perf_counter() - w0, time.thread_time() - t0
        assert n == len(texts[k])
        return out

    cold_ours = ours(0)
    cold_floor = floor(0)
    # What one call costs whatever its size (cache key, statistics, `.npz`): a one-sample file, its floor
    # subtracted (medians of interleaved repeats); a chunk pays it once per chunk, a whole file once.
    one = workdir / "chunks" / "one.jsonl"
    one.write_text(files[0].read_text(encoding="utf-8").splitlines(keepends=True)[0], encoding="utf-8")
    files.append(one)
    texts.append(texts[0][:1])
    per_call = [ours(len(files) - 1)[0] - floor(len(files) - 1)[0] for _ in range(PER_CALL_REPEATS)]
    files.pop()
    texts.pop()
    load_start = load_average()
    pairs: list[dict[str, Any]] = []
    for p in range(passes):
        for k in range(len(files)):
            i = len(pairs)
            order = chunk_pair_order(i)
            load_before = load_average()
            got = {side: (ours if side == "ours" else floor)(k) for side in order}
            c1 = cpu_seconds()
            tokenizer(texts[k], add_special_tokens=False)
            pairs.append(
                {
                    "pair": i,
                    "pass": p,
                    "chunk": k,
                    "samples": len(texts[k]),
                    "order": "AB" if order[0] == "ours" else "BA",
                    "ours_cpu": got["ours"][0],
                    "ours_wall": got["ours"][1],
                    "ours_thread_cpu": got["ours"][2],
                    "floor_cpu": got["floor"][0],
                    "floor_wall": got["floor"][1],
                    "floor_thread_cpu": got["floor"][2],
                    "tokenizer_call_cpu": cpu_seconds() - c1,
                    "load_before": load_before,
                    "load_after": load_average(),
                }
            )
    multiple = summarize_ratios([q["ours_cpu"] / q["floor_cpu"] for q in pairs], reference=FLOOR_GOAL)
    ours_sum = sum(q["ours_cpu"] for q in pairs)
    floor_sum = sum(q["floor_cpu"] for q in pairs)
    return {
        "chunk_samples": chunk_samples,
        "chunks": len(files),
        "passes": passes,
        "multiple": multiple.as_dict(),
        "verdict": chunk_verdict(multiple),
        "whole": {
            "ours_cpu": ours_sum,
            "floor_cpu": floor_sum,
            "multiple": ours_sum / floor_sum,
            "other_threads_cpu": sum(
                q["ours_cpu"] - q["ours_thread_cpu"] + q["floor_cpu"] - q["floor_thread_cpu"] for q in pairs
            ),
        },
        "cold": {
            "ours_cpu": cold_ours[0],
            "floor_cpu": cold_floor[0],
            "multiple": cold_ours[0] / cold_floor[0],
        },
        "per_call_cpu": median(per_call),
        "pairs": pairs,
        "load_average": {"start": load_start, "end": load_average()},
    }


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


def _accumulate(acc: dict[str, Any], res: dict[str, Any]) -> None:
    for k, v in res.items():
        if k.endswith("_seconds") and isinstance(v, list):
            acc.setdefault(k, []).extend(v)
        else:
            acc[k] = v


def run(
    samples: int,
    repeats: int,
    workdir: Path,
    equality_samples: int = 256,
    chunk_samples: int = CHUNK_SAMPLES,
    passes: int = CHUNK_PASSES,
) -> dict[str, Any]:
    """Run the whole comparison; returns the result payload (throughput, ratios, equality proof).

    Args:
        samples: Samples in the timed JSONL.
        repeats: Interleaved pairs against instructlab-training.
        workdir: Scratch directory.
        equality_samples: Samples of the equality proof.
        chunk_samples: Samples per chunk of the comparison with the floor (:func:`floor_chunks`).
        passes: Passes over the chunks.
    """
    python = bench_python(create=True)
    assert python is not None
    model_dir = prepare_assets(workdir)
    data = write_chat_dataset(workdir / "chat.jsonl", samples, seed=1)
    shared = write_chat_dataset(workdir / "shared.jsonl", equality_samples, seed=2)

    # Equality on the shared sample (not timed).
    ours_eq, ours_ds = time_ours(shared, model_dir, workdir / "eq", repeats=1)
    ilab_eq = run_instructlab(python, shared, model_dir, workdir / "eq", repeats=1, dump_samples=True)
    equality = compare_samples(ours_ds, ilab_eq["samples"])

    # Interleaved repeats (ours, instructlab 1 proc, instructlab 2 procs, ...): load that changes during
    # the run affects every side alike; the medians are compared.
    ours: dict[str, Any] = {}
    ours_par: dict[str, Any] = {}
    ilab1: dict[str, Any] = {}
    ilab2: dict[str, Any] = {}
    tp_ds = None
    load_start = load_average()
    for r in range(repeats):
        # Alternate which side goes first (AB, BA, ...), as benchlib.interleaved_pairs does.
        sides = ["ours", "ilab1"] if r % 2 == 0 else ["ilab1", "ours"]
        for side in sides:
            if side == "ours":
                one, tp_ds = time_ours(data, model_dir, workdir / f"tp{r}", 1)
                _accumulate(ours, one)
            else:
                _accumulate(ilab1, run_instructlab(python, data, model_dir, workdir / f"tp{r}", repeats=1))
        _accumulate(ours_par, time_ours(data, model_dir, workdir / f"tpp{r}", 1, parallel=True)[0])
        _accumulate(
            ilab2, run_instructlab(python, data, model_dir, workdir / f"tp{r}", repeats=1, num_procs=2)
        )
    assert tp_ds is not None
    # Per pair: instructlab's CPU seconds / ours (both one process; instructlab's include waited-for workers).
    cpu_e2e = summarize_ratios(
        [i / o for i, o in zip(ilab1["end_to_end_cpu_seconds"], ours["end_to_end_cpu_seconds"], strict=True)]
    )
    cpu_core = summarize_ratios(
        [i / o for i, o in zip(ilab1["core_cpu_seconds"], ours["core_cpu_seconds"], strict=True)]
    )
    wall_e2e = summarize_ratios(
        [i / o for i, o in zip(ilab1["end_to_end_seconds"], ours["end_to_end_seconds"], strict=True)]
    )
    floor = floor_chunks(data, model_dir, workdir, chunk_samples, passes)

    def sps(seconds: list[float]) -> float:
        return samples / median(seconds)

    rows = {
        "ours_end_to_end": sps(ours["end_to_end_seconds"]),
        "ours_core": sps(ours["core_seconds"]),
        "ours_end_to_end_parallel": sps(ours_par["end_to_end_seconds"]),
        "ours_core_parallel": sps(ours_par["core_seconds"]),
        "instructlab_end_to_end_1proc": sps(ilab1["end_to_end_seconds"]),
        "instructlab_core_1proc": sps(ilab1["core_seconds"]),
        "instructlab_end_to_end_2proc": sps(ilab2["end_to_end_seconds"]),
        "instructlab_core_2proc": sps(ilab2["core_seconds"]),
    }
    speedup_e2e = rows["ours_end_to_end"] / rows["instructlab_end_to_end_1proc"]
    speedup_core = rows["ours_core"] / rows["instructlab_core_1proc"]
    return {
        "samples": samples,
        "repeats": repeats,
        "max_seq_len": MAX_SEQ_LEN,
        "num_tokens": int(tp_ds.lengths.sum()),
        "samples_per_second": rows,
        "speedup_end_to_end_1proc": speedup_e2e,
        "speedup_core_1proc": speedup_core,
        "speedup_end_to_end_vs_2proc": rows["ours_end_to_end"] / rows["instructlab_end_to_end_2proc"],
        "speedup_parallel_vs_2proc": {
            "end_to_end": rows["ours_end_to_end_parallel"] / rows["instructlab_end_to_end_2proc"],
            "core": rows["ours_core_parallel"] / rows["instructlab_core_2proc"],
        },
        "target_speedup": TARGET_SPEEDUP,
        "meets_target": speedup_e2e >= TARGET_SPEEDUP and speedup_core >= TARGET_SPEEDUP,
        "speedup_cpu_end_to_end": cpu_e2e.as_dict(),
        "speedup_cpu_core": cpu_core.as_dict(),
        "speedup_wall_end_to_end": wall_e2e.as_dict(),
        "instructlab_goal": INSTRUCTLAB_GOAL,
        "meets_instructlab_goal": cpu_e2e.meets(INSTRUCTLAB_GOAL, 1.0),
        "floor": floor,
        "load_average": {"start": load_start, "end": load_average()},
        "ours": ours,
        "ours_parallel": ours_par,
        "instructlab_1proc": {k: v for k, v in ilab1.items() if k != "samples"},
        "instructlab_2proc": {k: v for k, v in ilab2.items() if k != "samples"},
        "instructlab_kept_all": ilab1["num_kept"] == samples,
        "equality": {k: v for k, v in equality.items() if k != "first_difference" or v is not None},
        "equality_samples": equality_samples,
    }


def table(res: dict[str, Any]) -> str:
    """The Markdown table of a result."""
    s = res["samples_per_second"]
    base = s["ours_end_to_end"]
    rows = [
        ["ours, 1 thread", f"{s['ours_end_to_end']:.0f}", f"{s['ours_core']:.0f}", "1.00x"],
        [
            "ours, Rust encoder on all cores (default)",
            f"{s['ours_end_to_end_parallel']:.0f}",
            f"{s['ours_core_parallel']:.0f}",
            f"{s['ours_end_to_end_parallel'] / base:.2f}x",
        ],
        [
            "instructlab-training, 1 proc",
            f"{s['instructlab_end_to_end_1proc']:.0f}",
            f"{s['instructlab_core_1proc']:.0f}",
            f"{s['instructlab_end_to_end_1proc'] / base:.2f}x",
        ],
        [
            "instructlab-training, 2 procs",
            f"{s['instructlab_end_to_end_2proc']:.0f}",
            f"{s['instructlab_core_2proc']:.0f}",
            f"{s['instructlab_end_to_end_2proc'] / base:.2f}x",
        ],
    ]
    eq = res["equality"]
    fl = res["floor"]
    floor_rows = pair_rows(
        fl["pairs"],
        ["ours", "floor"],
        lambda p: [
            p["chunk"] + 1,
            f"{1000 * p['ours_cpu']:.1f}",
            f"{1000 * p['floor_cpu']:.1f}",
            f"**{p['ours_cpu'] / p['floor_cpu']:.3f}x**",
            f"{1000 * p['ours_wall']:.1f}",
            f"{1000 * p['floor_wall']:.1f}",
            f"{1000 * p['tokenizer_call_cpu']:.1f}",
        ],
    )
    ilab_rows = [
        [r + 1, f"{o:.3f}", f"{i:.3f}", f"**{i / o:.2f}x**", f"{ic / oc:.2f}x"]
        for r, (o, i, oc, ic) in enumerate(
            zip(
                res["ours"]["end_to_end_cpu_seconds"],
                res["instructlab_1proc"]["end_to_end_cpu_seconds"],
                res["ours"]["core_cpu_seconds"],
                res["instructlab_1proc"]["core_cpu_seconds"],
                strict=True,
            )
        )
    ]
    floor_sum = summarize_ratios(fl["multiple"]["per_pair"], reference=FLOOR_GOAL)
    verdict = fl["verdict"]
    band = verdict["band_p10_p90"]
    cpu_e2e = summarize_ratios(res["speedup_cpu_end_to_end"]["per_pair"])
    cpu_core = summarize_ratios(res["speedup_cpu_core"]["per_pair"])
    wall_e2e = summarize_ratios(res["speedup_wall_end_to_end"]["per_pair"])
    paired = (
        f"\n\n**Against the floor** (the Rust tokenizer's own `encode_batch_fast` of the same rendered texts, "
        f"its encodings freed; CPU seconds of the process, one core, the encoder on one thread; chunks of "
        f"{fl['chunk_samples']} samples, {fl['passes']} passes, the sides alternating which runs first; ms):\n\n"
        + format_table(
            [
                "pair",
                "order",
                "chunk",
                "ours CPU",
                "floor CPU",
                "multiple",
                "ours wall",
                "floor wall",
                "tokenizer(texts) CPU",
                "load 1 min",
            ],
            floor_rows,
        )
        + f"\n\nours / floor per chunk pair: **median {floor_sum.median:.3f}x (min {floor_sum.min:.3f}x, max "
        f"{floor_sum.max:.3f}x, {len(floor_sum.ratios)} pairs)**; 10th-90th percentile "
        f"{band[0]:.3f}x-{band[1]:.3f}x; over all chunks {fl['whole']['multiple']:.3f}x "
        f"({fl['whole']['ours_cpu']:.3f} / {fl['whole']['floor_cpu']:.3f} CPU s; other threads "
        f"{1000 * fl['whole']['other_threads_cpu']:.1f} ms); first call (cold, not in the pairs) "
        f"{fl['cold']['multiple']:.2f}x; per call, whatever its size, "
        f"{1000 * fl['per_call_cpu']:.2f} ms (a one-sample file, its floor subtracted). Goal <= {FLOOR_GOAL}x "
        f"for every chunk pair over >= {MIN_CHUNK_PAIRS}: "
        + ("**established**" if verdict["established"] else "**not established**")
        + (
            ""
            if verdict["established"]
            else f" (fewer than {MIN_CHUNK_PAIRS} pairs)"
            if not verdict["enough_pairs"]
            else f" (median {'within' if verdict['median_within_goal'] else 'above'} the goal, "
            f"10th-90th percentile band {'within' if verdict['band_within_goal'] else 'not within'} it)"
        )
        + f"; load average {fl['load_average']['start']} -> {fl['load_average']['end']}"
        + "\n\n**Against instructlab-training** (1 process each, end to end, CPU seconds):\n\n"
        + format_table(["pair", "ours CPU s", "instructlab CPU s", "speedup", "core speedup"], ilab_rows)
        + f"\n\nend to end per CPU second: **{cpu_e2e.text()}** (goal >= {INSTRUCTLAB_GOAL:.0f}x, every pair "
        f"> 1: {'met' if res['meets_instructlab_goal'] else 'NOT met'}); core {cpu_core.text()}; wall clock "
        f"{wall_e2e.text()}; load average {res['load_average']['start']} -> {res['load_average']['end']}"
    )
    return (
        format_table(["pipeline", "samples/s end to end", "samples/s core", "relative (end to end)"], rows)
        + f"\n\nspeedup vs instructlab (1 proc): end to end {res['speedup_end_to_end_1proc']:.1f}x, "
        f"core {res['speedup_core_1proc']:.1f}x (target {TARGET_SPEEDUP:.0f}x); all cores vs 2 procs: "
        f"end to end {res['speedup_parallel_vs_2proc']['end_to_end']:.1f}x, "
        f"core {res['speedup_parallel_vs_2proc']['core']:.1f}x; "
        f"{res['samples']} samples, {res['num_tokens']} tokens\n"
        f"equality on {eq['num_compared']} shared samples ({eq['num_tokens_compared']} tokens, "
        f"{eq['num_trained_tokens_compared']} trained): "
        + ("identical token ids and labels" if eq["equal"] else f"DIFFERENT ({eq})")
        + paired
    )


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write `benchmarks/results/data_pipeline.json`."""
    parser = bench_parser(__doc__, "1000 samples")
    parser.add_argument("--samples", type=int, default=None, help="Samples in the JSONL (default 4000).")
    parser.add_argument(
        "--chunk-samples",
        type=int,
        default=CHUNK_SAMPLES,
        help=f"Samples per chunk (default {CHUNK_SAMPLES}).",
    )
    parser.add_argument(
        "--passes", type=int, default=CHUNK_PASSES, help=f"Passes over the chunks (default {CHUNK_PASSES})."
    )
    args = parser.parse_args(argv)
    samples = args.samples or (1000 if args.quick else 4000)
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        res = run(
            samples, pairs_wanted(args), Path(tmp), chunk_samples=args.chunk_samples, passes=args.passes
        )
    report("data_pipeline", res, table(res), args.out_dir)
    return 0 if res["equality"]["equal"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
