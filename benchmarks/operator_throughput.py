"""Operator throughput on the local control plane: N TrainingRuns created through the API to N PyTorchJobs.

For each N a fresh operator process (``python -m training_hub_operator.main``, watching one new
namespace) runs against the local Kubernetes 1.20 control plane (``tests/controlplane``, loopback only).
Its API traffic goes through a counting proxy (``benchmarks/api_proxy.py``), so requests are exactly the
operator's. The runs are created through the API directly (:func:`create_runs`: a bounded pool of
threads, optionally at a fixed rate, optionally within a time budget; a run that exists counts as
created); the benchmark watches TrainingRuns and PyTorchJobs and records, per run, when its TrainingRun
and its PyTorchJob first appeared (client-side clock, millisecond resolution).

Reported per N: time from the first create to the last job, how long the creates took, p50/p99/max
create-to-job latency (run seen -> job seen), API requests per TrainingRun (by verb and resource, until
the last job and until the traffic is quiet) and what of it is above the floor (a run needs at least its
ConfigMap, its workload and one status write), reconciles by trigger (the operator's metrics), the
operator's CPU seconds (user + sys from /proc) and its RSS when idle, at 1000, 5000 and 10,000 launched
runs and at the end. ``--tracemalloc`` runs the operator under :mod:`benchmarks.operator_probe` and diffs
its tracemalloc snapshots at those points (where the memory per run goes). Targets at the largest N
(10,000: ``--runs 10000``): p99 < 1 s, at most 4 API requests per run, RSS growth < 50 MiB from idle.

Usage: ``.venv/bin/python -m benchmarks.operator_throughput [--quick] [--sizes 100,1000] [--runs 10000]
[--rate 25] [--budget 900] [--tracemalloc]``"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.benchlib import (
    ROOT,
    format_table,
    interleaved_pairs,
    load_average,
    percentile,
    report,
    subprocess_env,
    summarize_ratios,
)
from tests.support.official_api import write_crds

TARGET_P99_S = 1.0
TARGET_N = 10_000
TARGET_REQUESTS_PER_RUN = 4.0
TARGET_RSS_GROWTH_MIB = 50.0
#: What every run needs at least: its ConfigMap, its workload and one status write.
FLOOR_REQUESTS = ("POST configmaps", "POST pytorchjobs", "PATCH trainingruns/status")
TRAININGRUN_CRD = ROOT / "crds" / "traininghub.io_trainingruns.yaml"
#: Creates per second by default: about what the operator launches here (so latency is not a backlog's age).
DEFAULT_RATE = 10.0
#: Threads creating TrainingRuns (each one request at a time).
CREATE_WORKERS = 4
#: Launched-run counts at which RSS is recorded (below N; N itself always).
CHECKPOINTS = (1000, 5000, 10_000)
#: After the last job: how long to wait for the operator's traffic to go quiet before counting.
QUIET_WAIT_SECONDS = 30.0


OPERATOR_DOCKERFILE = ROOT / "images" / "operator" / "Dockerfile"


#: Variables of the operator image's environment that change how its memory is managed.
MEMORY_ENV = ("MALLOC_ARENA_MAX", "PYTHONMALLOC")


def operator_env(root: Path = ROOT) -> dict[str, str]:
    """The environment the operator's image sets that changes how it runs (:data:`MEMORY_ENV`), read
    from its Dockerfile (the one under ``root``) so the benchmark runs the operator as it is shipped."""
    text = (root / OPERATOR_DOCKERFILE.relative_to(ROOT)).read_text()
    found = {name: re.search(rf"\b{name}=([\w.-]+)", text) for name in MEMORY_ENV}
    return {name: m.group(1) for name, m in found.items() if m}


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


class Watcher(threading.Thread):
    """Records when each object of a kind first appears in a namespace (ADDED events of a watch)."""

    def __init__(self, api_client: Any, namespace: str, group: str, version: str, plural: str) -> None:
        super().__init__(daemon=True)
        self.api_client, self.namespace = api_client, namespace
        self.group, self.version, self.plural = group, version, plural
        self.seen: dict[str, float] = {}
        self.ready = threading.Event()
        self._stop = threading.Event()

    def run(self) -> None:
        from kubernetes import client, watch

        api = client.CustomObjectsApi(self.api_client)
        rv = api.list_namespaced_custom_object(self.group, self.version, self.namespace, self.plural)[
            "metadata"
        ]["resourceVersion"]
        self.ready.set()
        while not self._stop.is_set():
            w = watch.Watch()
            try:
                for ev in w.stream(
                    api.list_namespaced_custom_object,
                    self.group,
                    self.version,
                    self.namespace,
                    self.plural,
                    resource_version=rv,
                    timeout_seconds=5,
                ):
                    now = time.time()
                    obj = ev["object"]
                    rv = obj["metadata"]["resourceVersion"]
                    if ev["type"] == "ADDED":
                        self.seen.setdefault(obj["metadata"]["name"], now)
                    if self._stop.is_set():
                        break
            except Exception:
                time.sleep(0.2)
            finally:
                w.stop()

    def stop(self) -> None:
        """Ask the thread to finish (within a watch timeout)."""
        self._stop.set()


def start_proxy(upstream: str, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start the counting proxy in a subprocess; returns it and its port."""
    port_file = workdir / "proxy.port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.api_proxy", "--upstream", upstream, "--port-file", str(port_file)],
        cwd=ROOT,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "proxy.log", "wb"),  # noqa: SIM115 (lives as long as the proxy)
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return proc, int(port_file.read_text())
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the API proxy did not start: {(workdir / 'proxy.log').read_text()[-2000:]}")


def proxy_kubeconfig(kubeconfig: Path, port: int, workdir: Path) -> Path:
    """A copy of the admin kubeconfig whose server is the proxy."""
    cfg = yaml.safe_load(kubeconfig.read_text())
    cfg["clusters"][0]["cluster"] = {"server": f"http://127.0.0.1:{port}"}
    out = workdir / "kubeconfig-proxy"
    out.write_text(yaml.safe_dump(cfg))
    return out


def _post(port: int, path: str) -> None:
    import urllib.request

    urllib.request.urlopen(
        urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST"), timeout=10
    )


def create_runs(
    api_client: Any,
    namespace: str,
    names: list[str],
    *,
    workers: int = CREATE_WORKERS,
    rate: float | None = None,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Create TrainingRuns through the API (not kubectl): a bounded pool of ``workers`` threads, at most
    ``rate`` creates per second overall (None: as fast as the pool goes), none after ``deadline``
    (``time.time()``). A run that exists already counts as created, so a second call resumes.

    Returns:
        ``created`` (names), ``errors`` (count), ``seconds`` (wall time of the creates).
    """
    from concurrent.futures import ThreadPoolExecutor

    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from tests.support.trainingruns import run_manifest

    api = client.CustomObjectsApi(api_client)
    guard = threading.Lock()
    created: list[str] = []
    errors = [0]
    t0 = time.time()
    next_slot = [t0]
    pending = iter(names)

    def worker() -> None:
        while True:
            with guard:
                name = next(pending, None)
                if name is None or (deadline is not None and time.time() >= deadline):
                    return
                slot = next_slot[0]
                if rate:
                    next_slot[0] = max(slot, time.time()) + 1.0 / rate
            wait = slot - time.time()
            if rate and wait > 0:
                time.sleep(wait)
            try:
                api.create_namespaced_custom_object(
                    "traininghub.io", "v1alpha1", namespace, "trainingruns", run_manifest(name)
                )
            except ApiException as exc:
                if exc.status != 409:
                    with guard:
                        errors[0] += 1
                    continue
            with guard:
                created.append(name)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in range(workers):
            pool.submit(worker)
    return {"created": created, "errors": errors[0], "seconds": time.time() - t0}


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


class _Probe:
    """Censuses (and, traced, tracemalloc snapshots) of the operator (:mod:`benchmarks.operator_probe`),
    taken on request."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.taken: list[tuple[str, Path]] = []
        self.snapshots: list[tuple[str, Path]] = []

    def take(self, pid: int, label: str, timeout: float = 120.0, *, trim: bool = False) -> None:
        """Signal the operator and wait for its census (``trim``: then ``malloc_trim``, :data:`SIGUSR2`)."""
        from benchmarks.operator_probe import census_path, snapshot_path

        index = len(self.taken)
        path = census_path(self.directory, index)
        os.kill(pid, signal.SIGUSR2 if trim else signal.SIGUSR1)
        deadline = time.time() + timeout
        while not path.exists() and time.time() < deadline:
            time.sleep(0.2)
        if path.exists():
            self.taken.append((label, path))
            if snapshot_path(self.directory, index).exists():
                self.snapshots.append((label, snapshot_path(self.directory, index)))

    def census(self) -> list[dict[str, Any]]:
        """Each census, summarised (:func:`census_summary`), in the order taken."""
        return [{"label": label, **census_summary(json.loads(p.read_text()))} for label, p in self.taken]

    def report(self) -> dict[str, Any]:
        """The tracemalloc part: traced MiB at each point and what grew between the first and the last."""
        from benchmarks.operator_probe import top_growth, traced_total

        if len(self.snapshots) < 2:
            return {}
        (n0, first), (n1, last) = self.snapshots[0], self.snapshots[-1]
        return {
            "traced_mib": {label: traced_total(p) / 2**20 for label, p in self.snapshots},
            "growth_sites": top_growth(first, last),
            "growth_files": top_growth(first, last, key="filename"),
            "between": [n0, n1],
        }


def census_summary(facts: dict[str, Any]) -> dict[str, Any]:
    """The figures of one census (:func:`benchmarks.memory_census.census`) that say where RSS goes, in MiB:
    resident by mapping kind, glibc's arenas (in use, free), pymalloc's arenas and blocks in use, the
    operator's per-object structures, the tracked objects by type, and what ``malloc_trim`` gave back."""
    mib = 2**20
    malloc, pymalloc, op = facts.get("malloc") or {}, facts.get("pymalloc") or {}, facts.get("operator") or {}
    out: dict[str, Any] = {
        "rss": facts["rss"] / mib,
        "rss_by_mapping": {k: v / mib for k, v in (facts.get("rss_by_mapping") or {}).items()},
        "malloc_arenas": malloc.get("arena", 0) / mib,
        "malloc_in_use": malloc.get("uordblks", 0) / mib,
        "malloc_free": malloc.get("fordblks", 0) / mib,
        "malloc_mmapped": malloc.get("hblkhd", 0) / mib,
        "pymalloc_arenas": pymalloc.get("total", 0) / mib,
        # Arenas are 1 MiB (Python 3.10+, 64-bit): the most pymalloc ever held at once, in MiB.
        "pymalloc_peak": pymalloc.get("arenas_highwater", 0)
        * pymalloc.get("total", 0)
        / max(pymalloc.get("arenas", 0), 1)
        / mib,
        "pymalloc_in_use": pymalloc.get("allocated_blocks", 0) / mib,
        "tracked_objects": (facts.get("objects") or {}).get("tracked"),
        "objects_by_type": (facts.get("objects") or {}).get("by_type") or {},
        "runner": {
            k: {"count": v["count"], "mib": None if v["bytes"] is None else v["bytes"] / mib}
            for k, v in (op.get("runner") or {}).items()
        },
        "kopf_memories": [
            {"count": m["count"], "mib": m["bytes"] / mib} for m in op.get("kopf_memories") or []
        ],
        "events_queued": op.get("events_queued"),
        "threads": op.get("threads"),
        "asyncio_tasks": op.get("asyncio_tasks"),
    }
    if "traced" in facts:
        out["traced"] = facts["traced"] / mib
    if facts.get("trim"):
        trim = facts["trim"]
        out["trim"] = {"rss_before": trim["rss_before"] / mib, "rss_after": trim["rss_after"] / mib}
        out["trim"]["ms"] = trim.get("microseconds", 0) / 1000
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
    from benchmarks.api_proxy import read_counts
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
    snapshots = _Probe(probe_dir)
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
        _post(proxy_port, "/__reset")
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


def export_tree(ref: str, into: Path) -> Path:
    """The ``operator/`` and ``runtime/`` trees and the operator image's Dockerfile (its environment,
    :func:`operator_env`) of git ``ref`` exported into ``into`` (``git archive``: no worktree or other git
    state is made), for :func:`measure`'s ``code``."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "operator", "runtime", "images/operator"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def code_path(code: Path) -> str:
    """``PYTHONPATH`` that makes the operator import ``code``'s packages before the installed (editable) ones;
    the benchmarks package (the probe) stays this tree's."""
    return os.pathsep.join([str(code / "operator"), str(code / "runtime"), str(ROOT)])


def log_problems(path: Path, keep: int = 8) -> dict[str, Any]:
    """How many warning and error lines the operator logged, and the last ``keep`` of them (the log itself
    lives in the benchmark's temporary directory)."""
    lines = [
        ln
        for ln in path.read_text(errors="replace").splitlines()
        if '"severity": "warning"' in ln or '"severity": "error"' in ln or "Traceback" in ln
    ]
    return {"count": len(lines), "last": [ln[:400] for ln in lines[-keep:]]}


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
                    paired.append({**info, "n": n, "growth_mib": [_growth_mib(base), _growth_mib(this)]})
    finally:
        if proxy is not None and proxy.poll() is None:
            proxy.terminate()
            try:
                proxy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proxy.kill()
        plane.stop()
    return summarize(sizes, rows, paired, baseline)


def summarize(
    sizes: list[int], rows: list[dict[str, Any]], paired: list[dict[str, Any]], baseline: str | None
) -> dict[str, Any]:
    """The result of :func:`run`: the rows, the targets judged on the last row (this tree's), whether RSS
    grows sublinearly with N (this tree's rows of different sizes), and the pairs against a baseline."""
    # Sublinear memory: RSS growth ~ N^k with k < 1 (the growth per launched run falls as N grows).
    # This tree's rows of different sizes only (with a baseline, the last pair's).
    own = list({r["n"]: r for r in rows if r.get("code") is None}.values())
    per_run = [r["rss_growth_per_run_bytes"] for r in own]
    sublinear, ratio, exponent = None, None, None
    if len(own) >= 2 and per_run[0] > 0:
        ratio = per_run[-1] / per_run[0]
        first, last = own[0], own[-1]
        grown = [r["rss_after_bytes"] - r["rss_idle_bytes"] for r in (first, last)]
        if grown[0] > 0 and grown[1] > 0 and last["jobs_created"] != first["jobs_created"]:
            exponent = math.log(grown[1] / grown[0]) / math.log(
                last["jobs_created"] / max(first["jobs_created"], 1)
            )
        sublinear = ratio < 1.0 and (exponent is None or exponent < 1.0)
    big = rows[-1]  # the targets are stated at the largest N (10,000 in a full run; this tree's row)
    growth_mib = _growth_mib(big)
    comparison: dict[str, Any] = {}
    if paired:
        ratios = [
            b / a for a, b in (p["growth_mib"] for p in paired if p["n"] == sizes[-1]) if a > 0 and b > 0
        ]
        comparison = {
            "baseline": baseline,
            "pairs": paired,
            "rss_growth_ratio": summarize_ratios(ratios).as_dict() if ratios else None,
        }
    return {
        "comparison": comparison,
        "sizes": sizes,
        "rows": rows,
        "target_p99_seconds": TARGET_P99_S,
        "target_n": big["runs_created"],
        "meets_p99_target": bool(big["complete"] and big["latency_p99_seconds"] < TARGET_P99_S),
        "target_requests_per_run": TARGET_REQUESTS_PER_RUN,
        "meets_requests_target": bool(
            big["complete"] and big["api_requests_per_run"] <= TARGET_REQUESTS_PER_RUN
        ),
        "rss_growth_mib": growth_mib,
        "target_rss_growth_mib": TARGET_RSS_GROWTH_MIB,
        "meets_rss_target": bool(big["complete"] and growth_mib < TARGET_RSS_GROWTH_MIB),
        "rss_growth_sublinear": sublinear,
        "rss_growth_per_run_ratio": ratio,
        "rss_growth_exponent": exponent,
    }


def _growth_mib(row: dict[str, Any]) -> float:
    return float(row["rss_after_bytes"] - row["rss_idle_bytes"]) / 2**20


def table(res: dict[str, Any]) -> str:
    """The Markdown table of a result."""
    rows = []
    for r in res["rows"]:
        launched = max(r["jobs_created"], 1)
        top = ", ".join(
            f"{k} {v / launched:.2f}" for k, v in r["api_requests_by_kind"].items() if v / launched >= 0.05
        )
        done = "" if r["complete"] else " (timeout)"
        low = "" if r["complete"] else ">= "  # runs without a job yet are not in the percentiles
        rows.append(
            [
                f"{r['n']}" + (f" (baseline {r['baseline']})" if r.get("baseline") else ""),
                f"{r['jobs_created']}/{r['runs_created']}"
                + ("" if r["runs_created"] >= r["n"] else f" ({r['n']} asked, budget)"),
                f"{r['apply_to_all_jobs_seconds']:.1f}{done}",
                f"{r['jobs_per_second']:.1f}",
                f"{r['create_seconds'] or 0:.1f}",
                f"{low}{r['latency_p50_seconds']:.2f}",
                f"{low}{r['latency_p99_seconds']:.2f}",
                f"{r['api_requests_per_run']:.1f} ({top})",
                f"{r['rss_idle_bytes'] / 2**20:.0f} -> {r['rss_after_bytes'] / 2**20:.0f}",
                f"{r['rss_growth_per_run_bytes'] / 1024:.1f}",
                ", ".join(f"{m['launched']}: {m['rss_bytes'] / 2**20:.0f}" for m in r["rss_at_launched"]),
                f"{r['operator_cpu_ms_per_run']:.1f}",
            ]
        )
    head = [
        "N",
        "jobs",
        "first create -> last job s",
        "jobs/s",
        "create s",
        "p50 s",
        "p99 s",
        "API requests / launched run",
        "RSS MiB",
        "RSS KiB / launched run",
        "RSS MiB at launched runs",
        "operator CPU ms / run",
    ]
    big = res["rows"][-1]
    above = ", ".join(
        f"{k} {v:.2f}" for k, v in big["api_requests_above_floor_per_run"].items() if v >= 0.005
    )
    return (
        format_table(head, rows)
        + (
            f"\n\nAt N={res['target_n']}: p99 {big['latency_p99_seconds']:.2f} s (target < {TARGET_P99_S} s: "
            f"{'met' if res['meets_p99_target'] else 'NOT met'}); {big['api_requests_per_run']:.2f} API requests "
            f"per run (target <= {TARGET_REQUESTS_PER_RUN:g}: {'met' if res['meets_requests_target'] else 'NOT met'}; "
            f"floor {' + '.join(FLOOR_REQUESTS)}; above it: {above or 'nothing'}); RSS growth "
            f"{res['rss_growth_mib']:.1f} MiB (target < {TARGET_RSS_GROWTH_MIB:g} MiB: "
            f"{'met' if res['meets_rss_target'] else 'NOT met'}); load average after {big['load_average_after']}. "
            f"RSS growth per launched run at the largest N / at the smallest: "
            f"{'n/a' if res['rss_growth_per_run_ratio'] is None else format(res['rss_growth_per_run_ratio'], '.2f')}"
            f"; RSS growth ~ N^k with k = "
            f"{'n/a' if res.get('rss_growth_exponent') is None else format(res['rss_growth_exponent'], '.2f')}"
            f" (sublinear: {res['rss_growth_sublinear']})"
        )
        + _comparison_text(res)
        + _probe_text(res)
    )


def _comparison_text(res: dict[str, Any]) -> str:
    """The interleaved pairs against a baseline (empty without one)."""
    comp = res.get("comparison") or {}
    if not comp:
        return ""
    lines = [f"\n\nRSS growth MiB, baseline {comp['baseline']} vs this tree, interleaved pairs:"]
    for p in comp["pairs"]:
        a, b = p["growth_mib"]
        lines.append(
            f"    pair {p['pair']} (N={p['n']}, order {p['order']}, load {p['load_before']} -> {p['load_after']}): "
            f"{a:.1f} -> {b:.1f}" + (f" ({b / a:.2f}x)" if a > 0 else "")
        )
    summary = comp.get("rss_growth_ratio")
    if summary:
        lines.append(
            f"    ratio this tree / baseline: median {summary['median']:.2f}x (min {summary['min']:.2f}x, max "
            f"{summary['max']:.2f}x, {summary['pairs']} pairs; {summary['verdict']} vs 1)"
        )
    return "\n".join(lines)


def _probe_text(res: dict[str, Any]) -> str:
    """The operator's logged problems and the tracemalloc findings of a probed run (empty otherwise)."""
    out = []
    for r in res["rows"]:
        problems = r.get("operator_log_problems") or {}
        if problems.get("count"):
            out.append(
                f"\n\nN={r['n']}: the operator logged {problems['count']} warning/error lines; the last:"
            )
            out += [f"    {line}" for line in problems["last"]]
        out += _census_text(r)
        probe = r.get("tracemalloc") or {}
        if not probe:
            continue
        traced = ", ".join(f"{k}: {v:.1f}" for k, v in probe["traced_mib"].items())
        out.append(
            f"\n\nN={r['n']}: traced Python MiB at launched runs {traced}; growth between "
            f"{probe['between'][0]} and {probe['between'][1]} (launched runs; end: once quiet), by file:"
        )
        out += [f"    {line}" for line in probe["growth_files"][:10]]
        out.append("by line:")
        out += [f"    {line}" for line in probe["growth_sites"]]
    return "\n".join(out)


def _census_text(row: dict[str, Any]) -> list[str]:
    """One line per census of a probed row (MiB), then the tracked object types that grew most."""
    points = row.get("census") or []
    if not points:
        return []
    out = [
        f"\n\nN={row['n']}: the operator's memory at launched runs (MiB; census of benchmarks/memory_census.py):"
    ]
    for p in points:
        maps = p["rss_by_mapping"]
        sized = [v["mib"] for v in p["runner"].values() if v["mib"] is not None]
        counted = max((v["count"] for v in p["runner"].values()), default=0)
        runner = f"{sum(sized):.1f}" if sized else f"{counted} runs (not sized)"
        kopf = ", ".join(f"{m['count']} objects {m['mib']:.1f}" for m in p["kopf_memories"]) or "not counted"
        trim = p.get("trim")
        out.append(
            f"    {p['label']}: RSS {p['rss']:.1f} (heap {maps.get('heap', 0):.1f}, anon {maps.get('anon', 0):.1f}, "
            f"file {maps.get('file', 0):.1f}); malloc arenas {p['malloc_arenas']:.1f} (in use "
            f"{p['malloc_in_use']:.1f}, free {p['malloc_free']:.1f}), mmapped {p['malloc_mmapped']:.1f}; "
            f"pymalloc arenas {p['pymalloc_arenas']:.1f} (blocks in use {p['pymalloc_in_use']:.1f}, peak "
            f"{p['pymalloc_peak']:.0f}); runner maps {runner}; kopf memories {kopf}; tracked objects "
            f"{p['tracked_objects']}; "
            f"threads {p['threads']}, tasks {p['asyncio_tasks']}, events queued {p['events_queued']}"
            + (f"; traced {p['traced']:.1f}" if "traced" in p else "")
            + (
                f"; malloc_trim(0): RSS {trim['rss_before']:.1f} -> {trim['rss_after']:.1f} in {trim['ms']:.1f} ms"
                if trim
                else ""
            )
        )
    counted = [p for p in points if p["objects_by_type"]]
    if counted:
        first, last = counted[0]["objects_by_type"], counted[-1]["objects_by_type"]
        base = first if len(counted) > 1 else {}
        grown = sorted(((last[k] - base.get(k, 0), k) for k in last), reverse=True)[:12]
        out.append(
            (
                "    tracked objects that grew most (first -> last full census): "
                if base
                else "    tracked objects at the end, most numerous: "
            )
            + ", ".join(f"{k} {d:+d}" if base else f"{k} {d}" for d, k in grown if d > 0)
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write `benchmarks/results/operator_throughput.json`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 20 and 100.")
    parser.add_argument("--sizes", default=None, help="Comma-separated N values (default 100,1000).")
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
    default = "20,100" if args.quick else "100,1000"
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
