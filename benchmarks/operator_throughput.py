"""Operator throughput on the local control plane: N TrainingRuns created through the API to N PyTorchJobs.

For each N a fresh operator process (``python -m training_hub_operator.main``, watching one new
namespace) runs against the local Kubernetes 1.20 control plane (``tests/controlplane``, loopback only).
Its API traffic goes through a counting proxy (``benchmarks/api_proxy.py``), so requests are exactly the
operator's. The runs are created through the API directly
(:func:`benchmarks.operator_workload.create_runs`: a bounded pool of threads, optionally at a fixed rate,
optionally within a time budget; a run that exists counts as created); the benchmark watches TrainingRuns
and PyTorchJobs and records, per run, when its TrainingRun and its PyTorchJob first appeared (client-side
clock, millisecond resolution).

Reported per N: time from the first create to the last job, how long the creates took, p50/p99/max
create-to-job latency (run seen -> job seen), API requests per TrainingRun (by verb and resource, until
the last job and until the traffic is quiet) and what of it is above the floor (a run needs at least its
workload and one status write; its one launch Event is the first request above it), reconciles by trigger (the operator's metrics), the
operator's CPU seconds (user + sys from /proc) and its RSS when idle, at 1000, 5000 and 10,000 launched
runs and at the end. ``--tracemalloc`` runs the operator under :mod:`benchmarks.operator_probe` and diffs
its tracemalloc snapshots at those points (where the memory per run goes). Targets at the largest N
(10,000: ``--runs 10000``): p99 < 1 s, at most 4 API requests per run, RSS growth < 50 MiB from idle.

The pieces: the workload (:mod:`benchmarks.operator_workload`), one measurement
(:mod:`benchmarks.operator_measure`), the operator's code and environment (:mod:`benchmarks.operator_code`),
its memory censuses (:mod:`benchmarks.operator_census`), the result and its targets
(:mod:`benchmarks.operator_summary`), the table (:mod:`benchmarks.operator_report`); this module starts the
control plane and the proxy and runs the sizes (and the pairs against a baseline).

Without ``--sizes``/``--runs`` a full run measures N = 100, 1000 and 10,000 (``make bench``; the 10,000 takes
about 17 minutes at 10 creates/s).

Usage: ``.venv/bin/python -m benchmarks.operator_throughput [--quick] [--sizes 100,1000] [--runs 10000]
[--rate 25] [--budget 900] [--tracemalloc]``"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.api_proxy import proxy_kubeconfig, start_proxy
from benchmarks.benchlib import ROOT, interleaved_pairs, report
from benchmarks.operator_code import export_tree
from benchmarks.operator_measure import measure
from benchmarks.operator_report import table
from benchmarks.operator_summary import rss_growth_mib, summarize
from tests.support.official_api import write_crds

TRAININGRUN_CRD = ROOT / "crds" / "traininghub.io_trainingruns.yaml"
#: Creates per second by default: about what the operator launches here (so latency is not a backlog's age).
DEFAULT_RATE = 10.0


def run(
    sizes: list[int],
    workdir: Path,
    timeout: float = 600.0,
    *,
    rate: float | None = None,
    budget: float | None = None,
    probe: bool = False,
    trace: bool = True,
    resync_seconds: float | None = None,
    baseline: str | None = None,
    pairs: int = 2,
) -> dict[str, Any]:
    """Start a control plane and the proxy, measure every size, stop everything (by pid).

    With ``baseline`` (a git ref), each size is measured in ``pairs`` interleaved pairs (baseline, this
    tree; the order alternates: :func:`benchmarks.benchlib.interleaved_pairs`), each side a fresh operator
    on the same control plane, and the result has the per-pair ratios of the RSS growth (this tree /
    baseline); the targets are judged on this tree's last row.
    """
    from tests.controlplane.cluster import ControlPlane, find_binaries

    plane = ControlPlane(find_binaries(build_if_missing=True), with_controller_manager=False)
    plane.start()
    proxy: subprocess.Popen[bytes] | None = None
    try:
        # PyTorchJob's CRD with the structural schema of the official kubeflow-training model (as the tests).
        pytorchjob_crd = write_crds(workdir / "crds", "PyTorchJob")
        plane.install_crds(TRAININGRUN_CRD, *pytorchjob_crd, restart_controller_manager=False)
        proxy, port = start_proxy(plane.server, workdir)
        kubeconfig = proxy_kubeconfig(plane.kubeconfig, port, workdir)
        extra = ("--resync-seconds", str(resync_seconds)) if resync_seconds else ()

        def one(n: int, code: Path | None = None) -> dict[str, Any]:
            return measure(
                plane,
                port,
                kubeconfig,
                n,
                workdir,
                timeout,
                rate=rate,
                budget=budget,
                probe=probe,
                trace=trace,
                extra_args=extra,
                code=code,
            )

        rows: list[dict[str, Any]] = []
        paired: list[dict[str, Any]] = []
        if baseline is None:
            rows = [one(n) for n in sizes]
        else:
            base_code = export_tree(baseline, workdir / "baseline")
            for n in sizes:
                for base, this, info in interleaved_pairs(
                    lambda n=n: one(n, base_code),  # type: ignore[misc]
                    lambda n=n: one(n),  # type: ignore[misc]
                    pairs,
                ):
                    base["baseline"] = baseline
                    rows += [base, this]
                    paired.append(
                        {**info, "n": n, "growth_mib": [rss_growth_mib(base), rss_growth_mib(this)]}
                    )
    finally:
        if proxy is not None and proxy.poll() is None:
            proxy.terminate()
            try:
                proxy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proxy.kill()
        plane.stop()
    return summarize(sizes, rows, paired, baseline)


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write `benchmarks/results/operator_throughput.json`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 20 and 100.")
    parser.add_argument("--sizes", default=None, help="Comma-separated N values (default 100,1000,10000).")
    parser.add_argument(
        "--runs", type=int, default=None, help="One N (e.g. 10000): RSS at 1000, 5000 and N launched runs."
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE,
        help=f"Creates per second (default {DEFAULT_RATE:g}, about what the operator launches on a loaded 2-core "
        "machine; 0: as fast as 4 threads go, a backlog builds and the latency is its age).",
    )
    parser.add_argument(
        "--budget", type=float, default=None, help="Seconds of creating runs at most per N (default: none)."
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="A census of the operator's memory at each checkpoint and at the end (mappings, malloc, "
        "pymalloc, objects, its per-object structures; then malloc_trim).",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="--probe with tracemalloc on, its snapshots diffed (slower; inflates RSS).",
    )
    parser.add_argument("--resync-seconds", type=float, default=None, help="The operator's full resync.")
    parser.add_argument(
        "--baseline",
        default=None,
        help="A git ref: measure its operator and this tree's in interleaved pairs (RSS growth ratio per pair).",
    )
    parser.add_argument("--pairs", type=int, default=2, help="Pairs with --baseline (default 2).")
    parser.add_argument(
        "--timeout", type=float, default=240.0, help="Seconds to wait for all jobs per N after the creates."
    )
    parser.add_argument("--out-dir", default=None)
    args = parser.parse_args(argv)
    default = "20,100" if args.quick else "100,1000,10000"
    sizes = [args.runs] if args.runs else [int(x) for x in (args.sizes or default).split(",")]
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    import urllib3

    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    with tempfile.TemporaryDirectory(prefix="bench-operator-") as tmp:
        res = run(
            sizes,
            Path(tmp),
            args.timeout,
            rate=args.rate or None,
            budget=args.budget,
            probe=args.probe or args.tracemalloc,
            trace=args.tracemalloc,
            resync_seconds=args.resync_seconds,
            baseline=args.baseline,
            pairs=args.pairs,
        )
    report("operator_throughput", res, table(res), args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
