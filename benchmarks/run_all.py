"""Run every benchmark, print their tables, write `benchmarks/results/*.json` and `docs/benchmarks.md`.

Usage: ``.venv/bin/python benchmarks/run_all.py [--quick] [--only a,b] [--skip a,b] [--no-docs]``
(``make bench`` runs it). Each benchmark runs in its own process, one after the other. A full run takes
about 40 minutes on 2 cores (the training benchmark 10-15: 11 rounds of three 40-step runs; the operator's
N = 10,000 about 17),
``--quick`` about 5; a full run (without ``--only``/``--skip``) rewrites the results section of
``docs/benchmarks.md`` with the tables and the machine they came from. A full run first keeps the results of
the full run before it (``<out-dir>/previous/``) and ends by comparing the two, figure by figure
(:mod:`benchmarks.compare_runs`): running ``make bench`` twice shows whether the second run reproduces the
first; the comparison goes into the results section and ``summary.json``.
Exit code 1 if a benchmark failed or missed its equality proof.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import compare_runs  # noqa: E402
from benchmarks.benchlib import RESULTS_DIR, machine_info, subprocess_env  # noqa: E402

#: (name, command after the interpreter, title) in the order they run; the operator benchmark is last.
BENCHMARKS: list[tuple[str, list[str], str]] = [
    ("data_pipeline", ["-m", "benchmarks.data_pipeline"], "Data pipeline: messages JSONL to tokens"),
    ("training_throughput", ["-m", "benchmarks.training_throughput"], "Training throughput on CPU"),
    ("startup", ["-m", "benchmarks.startup"], "Startup: process start to first optimizer step"),
    ("estimator_accuracy", ["benchmarks/estimator_accuracy.py"], "Memory estimator accuracy"),
    ("operator_throughput", ["-m", "benchmarks.operator_throughput"], "Operator throughput"),
]
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- results:begin (written by benchmarks/run_all.py) -->", "<!-- results:end -->"


def run_one(name: str, cmd: list[str], quick: bool, out_dir: Path) -> dict[str, object]:
    """Run one benchmark process; returns its status, seconds and printed table."""
    args = [sys.executable, *cmd]
    if quick:
        args.append("--quick")
    if name == "estimator_accuracy":
        args += ["--out", str(out_dir / "estimator_accuracy.json")]
    else:
        args += ["--out-dir", str(out_dir)]
    print(f"\n==> {name}: {' '.join(args[1:])}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if not ln.startswith("wrote ")]
    output = "\n".join(lines).strip()
    print(output, flush=True)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr, flush=True)
    print(f"({name}: exit {proc.returncode}, {seconds:.0f} s)", flush=True)
    return {"name": name, "returncode": proc.returncode, "seconds": round(seconds, 1), "output": output}


def keep_previous(out_dir: Path) -> Path | None:
    """Copy the results of the last full run (``summary.json`` says: every benchmark, not ``--quick``) to
    ``<out_dir>/previous/`` before a full run overwrites them; None (and nothing copied) if there is none."""
    summary = out_dir / "summary.json"
    if not summary.is_file():
        return None
    last = json.loads(summary.read_text(encoding="utf-8"))
    ran = {str(b["name"]) for b in last.get("benchmarks", [])}
    if last.get("quick", True) or ran != {name for name, _, _ in BENCHMARKS}:
        return None
    previous = out_dir / "previous"
    shutil.rmtree(previous, ignore_errors=True)
    previous.mkdir(parents=True)
    # That run's files only (each benchmark's `<name>.json` and the summary), not others kept beside them.
    for name in [*ran, "summary"]:
        if (out_dir / f"{name}.json").is_file():
            shutil.copy2(out_dir / f"{name}.json", previous / f"{name}.json")
    return previous


def reproduction(previous: Path | None, out_dir: Path) -> tuple[str, list[dict[str, object]]] | None:
    """The comparison of this run with the one kept in ``previous`` (its Markdown and rows), or None."""
    if previous is None:
        return None
    try:
        first, second = compare_runs.load(previous), compare_runs.load(out_dir)
    except FileNotFoundError:
        return None
    rows = compare_runs.compare(first, second)
    return compare_runs.table(rows, first, second), rows


def _estimator_summary(output: str) -> str:
    """The estimator's table is long: keep its last lines (the verdict) and point at the JSON."""
    tail = [ln for ln in output.splitlines() if ln.strip()][-1:]
    return "\n".join(tail) + (
        "\n\nThe per-row table is in `docs/estimator.md` and `benchmarks/results/estimator_accuracy.json`."
    )


def render_doc_section(results: list[dict[str, object]], quick: bool, compared: str | None = None) -> str:
    """The Markdown of the results section: machine facts, each benchmark's table, and the comparison with
    the previous full run (``compared``) where there is one."""
    m = machine_info()
    parts = [
        BEGIN,
        f"Latest run: {m['date']}{' (--quick)' if quick else ''}. Machine: {m['cpu_model']}, {m['cpus']} cores, "
        f"{m['memory_gib']} GiB, {m['platform']}; Python {m['python']}, torch {m['torch']}, "
        f"transformers {m['transformers']}, tokenizers {m['tokenizers']}; load average at the end "
        f"{m['load_average']}.",
        "",
    ]
    titles = {name: title for name, _, title in BENCHMARKS}
    for r in results:
        name = str(r["name"])
        parts.append(f"### {titles.get(name, name)}")
        parts.append("")
        body = str(r["output"])
        if name == "estimator_accuracy" and r["returncode"] == 0:
            body = _estimator_summary(body)
        parts.append(body if r["returncode"] == 0 else f"FAILED (exit {r['returncode']})\n\n{body}")
        parts.append("")
        parts.append(f"_{r['seconds']} s_")
        parts.append("")
    if compared is not None:
        parts.append("### This run against the previous full run")
        parts.append("")
        parts.append(
            "Each headline figure of the previous `make bench` (first) and of this one (second), by "
            "`benchmarks/compare_runs.py`: a figure measured in pairs is reproduced when the second run's "
            "median lies within the first run's min-max and both meet its target; a figure measured once a "
            "run, when both runs meet its target."
        )
        parts.append("")
        parts.append(compared)
        parts.append("")
    parts.append(END)
    return "\n".join(parts)


def update_doc(section: str) -> None:
    """Replace the results section of `docs/benchmarks.md` (appended if the markers are missing)."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + section + tail
    else:
        text = text.rstrip() + "\n\n## Latest results\n\n" + section + "\n"
    DOC.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks in order; exit 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Small sizes (a few minutes in all).")
    parser.add_argument("--only", default="", help="Comma-separated benchmark names to run.")
    parser.add_argument("--skip", default="", help="Comma-separated benchmark names to skip.")
    parser.add_argument("--no-docs", action="store_true", help="Do not rewrite docs/benchmarks.md.")
    parser.add_argument("--out-dir", default=str(RESULTS_DIR))
    args = parser.parse_args(argv)
    names = [n for n, _, _ in BENCHMARKS]
    only = [n for n in args.only.split(",") if n]
    skip = [n for n in args.skip.split(",") if n]
    unknown = sorted(set(only + skip) - set(names))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {names}")
    selected = [b for b in BENCHMARKS if (not only or b[0] in only) and b[0] not in skip]
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    full = not only and not skip and not args.quick
    previous = keep_previous(out_dir) if full else None
    t0 = time.perf_counter()
    results = [run_one(name, cmd, args.quick, out_dir) for name, cmd, _ in selected]
    total = time.perf_counter() - t0
    compared = reproduction(previous, out_dir) if all(r["returncode"] == 0 for r in results) else None
    summary = {
        "machine": machine_info(),
        "quick": args.quick,
        "seconds": round(total, 1),
        "benchmarks": [{k: v for k, v in r.items() if k != "output"} for r in results],
    }
    if compared is not None:
        summary["reproduction"] = compared[1]
        print("\n==> against the previous full run\n" + compared[0])
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"\n==> {len(results)} benchmarks in {total:.0f} s; results in {out_dir}")
    for r in results:
        print(f"  {r['name']:<22} exit {r['returncode']}  {r['seconds']:>6} s")
    if not args.no_docs and not only and not skip:
        update_doc(render_doc_section(results, args.quick, compared[0] if compared else None))
        print(f"updated {DOC.relative_to(ROOT)}")
    return 0 if all(r["returncode"] == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
