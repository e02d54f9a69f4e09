"""One measurement of the operator benchmark (:func:`measure`): a fresh operator watching a new
namespace, N TrainingRuns created, their PyTorchJobs watched for; latency, API requests (and what of them
is above the floor), reconciles by trigger, CPU and RSS of the operator at checkpoints."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.api_proxy import read_counts, reset_counts
from benchmarks.benchlib import ROOT, load_average, percentile
from benchmarks.operator_census import Probe
from benchmarks.operator_code import code_path, operator_env
from benchmarks.operator_workload import CREATE_WORKERS, Watcher, create_runs

#: What every run needs at least: its workload and one status write (the run spec travels in the workload's
#: pod template: no ConfigMap per run). The one folded Event of a launch (``POST events``, kept for
#: ``kubectl describe``) is reported as the request above it.
FLOOR_REQUESTS = ("POST pytorchjobs", "PATCH trainingruns/status")
#: Launched-run counts at which RSS is recorded (below N; N itself always).
CHECKPOINTS = (1000, 5000, 10_000)
#: After the last job: how long to wait for the operator's traffic to go quiet before counting.
QUIET_WAIT_SECONDS = 30.0


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU seconds of another process so far, from /proc (``utime + stime``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (bytes), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def checkpoints_for(n: int) -> list[int]:
    """Launched-run counts at which the operator's RSS is recorded (and, probed, a snapshot taken)."""
    return sorted({k for k in CHECKPOINTS if k < n} | {n})


def reconciles_by_trigger(metrics_text: str) -> dict[str, float]:
    """``traininghub_reconcile_total`` summed per trigger, from the operator's /metrics text."""
    out: dict[str, float] = {}
    for line in metrics_text.splitlines():
        if line.startswith("traininghub_reconcile_total{"):
            labels, _, value = line.rpartition(" ")
            trigger = labels.split('trigger="', 1)[1].split('"', 1)[0]
            out[trigger] = out.get(trigger, 0.0) + float(value)
    return out


def measure(
    plane: Any,
    proxy_port: int,
    kubeconfig: Path,
    n: int,
    workdir: Path,
    timeout: float,
    *,
    rate: float | None = None,
    budget: float | None = None,
    probe: bool = False,
    trace: bool = True,
    extra_args: tuple[str, ...] = (),
    code: Path | None = None,
) -> dict[str, Any]:
    """Create `n` TrainingRuns in a new namespace with a fresh operator; returns the measurements.

    Args:
        plane: The control plane.
        proxy_port: Port of the counting proxy the operator talks through.
        kubeconfig: The operator's kubeconfig (the proxy).
        n: Runs to create.
        workdir: Scratch directory (operator log, probe snapshots).
        timeout: Seconds to wait for the last job after the last create.
        rate: Creates per second (None: as fast as the pool goes).
        budget: Seconds for creating runs at most; runs not created by then are not (the row says how
            many were).
        probe: Run the operator under :mod:`benchmarks.operator_probe`: a census of its memory at each
            checkpoint and at the end (then ``malloc_trim``).
        trace: With ``probe``: tracemalloc on, its snapshots diffed (the tracing inflates RSS).
        extra_args: More operator flags.
        code: A source tree whose ``operator/`` and ``runtime/`` packages the operator runs (e.g. an earlier
            commit's, :func:`export_tree`), instead of this tree's.
    """
    from benchmarks.operator_probe import PROBE_DIR_ENV, TRACEMALLOC_ENV
    from tests.controlplane.operator_process import OperatorProcess

    ns = plane.create_namespace(f"bench-{n}-{int(time.time())}")
    probe_dir = workdir / f"probe-{n}-{time.time_ns()}"
    op = OperatorProcess(
        kubeconfig,
        namespaces=[ns],
        extra_args=extra_args,
        env={
            **operator_env(code or ROOT),
            **({PROBE_DIR_ENV: str(probe_dir), TRACEMALLOC_ENV: "1" if trace else "0"} if probe else {}),
            **({"PYTHONPATH": code_path(code)} if code is not None else {}),
        },
        module="benchmarks.operator_probe" if probe else "training_hub_operator.main",
        log_path=workdir / f"operator-{n}.log",
    )
    op.start()
    snapshots = Probe(probe_dir)
    row: dict[str, Any] | None = None
    try:
        time.sleep(2.0)  # let the operator settle after its initial list/watch
        pid = op.pid
        assert pid is not None
        rss_idle = rss_bytes(pid)
        cpu_idle = cpu_seconds_of(pid)
        if probe:
            snapshots.take(pid, "0")
        api_client = plane.api_client()
        api_client.configuration.connection_pool_maxsize = CREATE_WORKERS + 2
        runs = Watcher(api_client, ns, "traininghub.io", "v1alpha1", "trainingruns")
        jobs = Watcher(api_client, ns, "kubeflow.org", "v1", "pytorchjobs")
        for w in (runs, jobs):
            w.start()
            w.ready.wait(30)
        creator_client = plane.api_client()
        creator_client.configuration.connection_pool_maxsize = CREATE_WORKERS + 2
        reset_counts(proxy_port)
        t0 = time.time()
        creation: dict[str, Any] = {}
        creating = threading.Thread(
            target=lambda: creation.update(
                create_runs(
                    creator_client,
                    ns,
                    [f"run-{i:05d}" for i in range(n)],
                    rate=rate,
                    deadline=None if budget is None else t0 + budget,
                )
            ),
            daemon=True,
        )
        creating.start()
        marks = checkpoints_for(n)
        at_marks: list[dict[str, Any]] = [{"launched": 0, "seconds": 0.0, "rss_bytes": rss_idle}]
        rss_peak = rss_idle
        counts_at_last_job: dict[str, Any] | None = None
        deadline = None
        while True:
            launched = len(jobs.seen)
            rss_peak = max(rss_peak, rss_bytes(pid))
            while marks and launched >= marks[0]:
                at_marks.append(
                    {"launched": launched, "seconds": time.time() - t0, "rss_bytes": rss_bytes(pid)}
                )
                if probe:
                    snapshots.take(pid, str(launched))
                marks.pop(0)
            if deadline is None and not creating.is_alive():
                deadline = time.time() + timeout
                target = len(creation.get("created") or [])
            if deadline is not None and (launched >= target or time.time() >= deadline):
                break
            time.sleep(0.25)
        t_done = max(jobs.seen.values()) if jobs.seen else time.time()
        # Complete: every run created has its job (with a --budget, fewer than n may have been created).
        created = len(creation.get("created") or [])
        complete = created > 0 and len(jobs.seen) >= created
        counts_at_last_job = read_counts(proxy_port)
        # Count requests until the operator's traffic is quiet (status writes, events after the jobs);
        # with many runs a periodic resync may keep it busy: then up to QUIET_WAIT_SECONDS.
        last, quiet_since, give_up = -1, time.time(), time.time() + QUIET_WAIT_SECONDS
        while time.time() - quiet_since < 3.0 and time.time() < give_up:
            total = read_counts(proxy_port)["total"]
            if total != last:
                last, quiet_since = total, time.time()
            rss_peak = max(rss_peak, rss_bytes(pid))
            time.sleep(0.5)
        counts = read_counts(proxy_port)
        rss_after = rss_bytes(pid)
        cpu_used = cpu_seconds_of(pid) - cpu_idle
        if probe:  # once the traffic is quiet: what stays (the checkpoints may hold a backlog of events)
            snapshots.take(pid, "end", trim=True)
        try:
            reconciles = reconciles_by_trigger(op.metrics())
        except OSError:
            reconciles = {}
        for w in (runs, jobs):
            w.stop()
        latencies = sorted(jobs.seen[k] - runs.seen[k] for k in jobs.seen if k in runs.seen)
        by_kind = dict(sorted(counts["by_kind"].items(), key=lambda kv: -kv[1]))
        launch_kinds = dict(sorted(counts_at_last_job["by_kind"].items(), key=lambda kv: -kv[1]))
        launched = max(len(jobs.seen), 1)
        row = {
            "n": n,
            "code": str(code) if code is not None else None,
            "rate_per_second": rate,
            "runs_created": len(creation.get("created") or []),
            "create_errors": creation.get("errors", 0),
            "create_seconds": creation.get("seconds"),
            "complete": complete,
            "jobs_created": len(jobs.seen),
            "apply_to_all_jobs_seconds": t_done - t0,
            "wall_seconds": time.time() - t0,
            "jobs_per_second": len(jobs.seen) / max(t_done - t0, 1e-9),
            "latency_p50_seconds": percentile(latencies, 50),
            "latency_p99_seconds": percentile(latencies, 99),
            "latency_max_seconds": latencies[-1] if latencies else None,
            "api_requests": counts["total"],
            # Per run launched (with its job): the requests of runs still waiting are few (their watch
            # events and resync), so this is close to the per-run cost when the run is incomplete.
            "api_requests_per_run": counts["total"] / launched,
            "api_requests_by_kind": by_kind,
            "api_requests_per_run_by_kind": {k: v / launched for k, v in by_kind.items()},
            "api_requests_above_floor_per_run": {
                k: v / launched for k, v in by_kind.items() if k not in FLOOR_REQUESTS
            },
            # Until the last job appeared: the launch itself (a resync that ran meanwhile included).
            "launch_requests_per_run": counts_at_last_job["total"] / launched,
            "launch_requests_per_run_by_kind": {k: v / launched for k, v in launch_kinds.items()},
            "reconciles_by_trigger": reconciles,
            "operator_cpu_seconds": cpu_used,
            "operator_cpu_ms_per_run": 1000 * cpu_used / launched,
            "load_average_after": load_average(),
            "rss_idle_bytes": rss_idle,
            "rss_after_bytes": rss_after,
            "rss_peak_bytes": rss_peak,
            "rss_at_launched": at_marks,
            "rss_growth_per_run_bytes": (rss_after - rss_idle) / launched,
            "tracemalloc": snapshots.report() if probe else {},
            "census": snapshots.census() if probe else [],
        }
        return row
    finally:
        op.stop()
        plane.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        if row is not None:
            row["operator_log_problems"] = log_problems(op.log_path)


def log_problems(path: Path, keep: int = 8) -> dict[str, Any]:
    """How many warning and error lines the operator logged, and the last ``keep`` of them (the log itself
    lives in the benchmark's temporary directory)."""
    lines = [
        ln
        for ln in path.read_text(errors="replace").splitlines()
        if '"severity": "warning"' in ln or '"severity": "error"' in ln or "Traceback" in ln
    ]
    return {"count": len(lines), "last": [ln[:400] for ln in lines[-keep:]]}
