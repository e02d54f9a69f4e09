"""Run pods as local processes: one process per pod, the pod's own command and env, output prefixed.

The executor is the kubelet of local mode. For each :class:`~training_hub.local.pods.LocalPod` it
materialises the volumes (:mod:`~training_hub.local.volumes`), resolves the env and maps host names to
loopback (:mod:`~training_hub.local.environment`), resolves the command (``training-hub`` is this
environment's console script) and starts it in its own process group. A failed pod is retried up to its
workload's backoff limit unless its exit code says bad input (see :mod:`training_hub.pod.exit_codes`);
since the nodes of a run rendezvous together, a retry restarts every unfinished pod of the run (a "gang"
restart, as a JobSet's failure policy does), and training resumes from the last checkpoint.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from training_hub.contracts import pod_env
from training_hub.local.environment import LoopbackNetwork, expand_refs, resolve_env
from training_hub.local.host import host_env, resolve_command
from training_hub.local.pods import LocalExecutionError, LocalPod
from training_hub.local.process import PodProcess
from training_hub.local.volumes import VolumeMaterializer
from training_hub.pod import exit_codes
from training_hub.pod.mounts import DEFAULT_TERMINATION_LOG, MOUNT_ROOT_ENV, TERMINATION_LOG_ENV

EventHandler = Callable[[str, PodProcess], None]


@dataclass
class PodResult:
    """How a pod ended.

    Attributes:
        name: Pod name.
        index: Node rank (position in its workload).
        exit_code: Last exit code (``None`` if it never ended, negative for a signal).
        attempts: How many times it was started.
        message: Its last termination message (one line).
    """

    name: str
    index: int
    exit_code: int | None
    attempts: int
    message: str = ""


@dataclass
class ExecutionResult:
    """The outcome of a run of pods.

    Attributes:
        succeeded: Every pod exited 0.
        reason: ``Succeeded``, ``InvalidInput``, ``BackoffLimitExceeded``, ``Timeout`` ...
        message: Human-readable summary.
        pods: Per-pod results, by index.
    """

    succeeded: bool
    reason: str
    message: str
    pods: list[PodResult] = field(default_factory=list)


class LocalExecutor:
    """Runs the pods of one run on this machine.

    Args:
        root: Working directory (pod file trees, claims by default, termination logs).
        pvc_root: Where ``pvc://claim`` volumes live (``<pvc_root>/<claim>``); default ``<root>/pvc``.
        pvc_dirs: Explicit local directories for some claims.
        configmaps: ConfigMap data by name (``ConfigMap`` objects given to :meth:`from_objects` are added).
        secrets: Secret data by name (never read from a cluster; give what local pods need).
        output: Where prefixed pod output goes (``None``: keep only a tail per pod).
        extra_env: Env added to every pod (e.g. ``OMP_NUM_THREADS``); pod env wins over it.
        network: Host/port mapping shared by the pods (a new one by default).
        on_event: Called with ``("started" | "exited" | "retrying" | "stopped", process)``.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        pvc_root: Path | str | None = None,
        pvc_dirs: Mapping[str, Path] | None = None,
        configmaps: Mapping[str, Mapping[str, str]] | None = None,
        secrets: Mapping[str, Mapping[str, str]] | None = None,
        output: TextIO | None = None,
        extra_env: Mapping[str, str] | None = None,
        network: LoopbackNetwork | None = None,
        on_event: EventHandler | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.configmaps: dict[str, dict[str, str]] = {k: dict(v) for k, v in (configmaps or {}).items()}
        self.secrets: dict[str, dict[str, str]] = {k: dict(v) for k, v in (secrets or {}).items()}
        self.volumes = VolumeMaterializer(
            self.root,
            pvc_root=Path(pvc_root) if pvc_root else None,
            pvc_dirs=pvc_dirs,
            configmaps=self.configmaps,
            secrets=self.secrets,
        )
        self.output = output
        self.extra_env = dict(extra_env or {})
        self.network = network or LoopbackNetwork()
        self.on_event = on_event
        self.processes: dict[str, PodProcess] = {}

    # ------------------------------------------------------------------------------------------ inputs
    def add_objects(self, objects: Iterable[dict[str, Any]]) -> None:
        """Learn ConfigMaps, Secrets and Services among rendered objects."""
        import base64

        for obj in objects:
            kind, meta = obj.get("kind"), obj.get("metadata") or {}
            name = str(meta.get("name"))
            if kind == "ConfigMap":
                self.configmaps[name] = {str(k): str(v) for k, v in (obj.get("data") or {}).items()}
            elif kind == "Secret":
                data = {str(k): base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
                data.update({str(k): str(v) for k, v in (obj.get("stringData") or {}).items()})
                self.secrets[name] = data
            elif kind == "Service":
                self.network.add_services([obj])

    # --------------------------------------------------------------------------------------- one pod
    def prepare(self, pod: LocalPod, attempt: int = 1) -> PodProcess:
        """Build (but do not start) the process of a pod: volumes, env, command.

        Raises:
            LocalExecutionError: When the pod cannot run here.
        """
        self.network.add_pods([pod])
        container = pod.container
        fs = self.volumes.materialize(pod, container)
        resolved = resolve_env(pod, container, self.configmaps, self.secrets)
        mapped = self.network.map_env(resolved)
        termination = fs / str(container.get("terminationMessagePath") or DEFAULT_TERMINATION_LOG).lstrip("/")
        if termination.is_symlink():
            termination.unlink()
        env = host_env()
        env.update(self.extra_env)
        env.update(mapped)
        env.update(
            {
                MOUNT_ROOT_ENV: str(fs),
                TERMINATION_LOG_ENV: str(termination),
                "HOSTNAME": pod.hostname,
                pod_env.PYTHONUNBUFFERED: "1",
            }
        )
        argv = [expand_refs(a, env) for a in (container.get("command") or []) + (container.get("args") or [])]
        argv = resolve_command(argv)
        workdir = container.get("workingDir")
        cwd = fs / str(workdir).lstrip("/") if workdir else fs
        cwd.mkdir(parents=True, exist_ok=True)
        return PodProcess(pod, argv, env, cwd, termination, attempt, self.output)

    def start(self, pod: LocalPod, attempt: int = 1) -> PodProcess:
        """Prepare and start a pod; it is tracked in :attr:`processes`."""
        proc = self.prepare(pod, attempt).start()
        self.processes[pod.name] = proc
        self._event("started", proc)
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to a running pod's process group (e.g. to test recovery from a lost node)."""
        proc = self.processes.get(name)
        if proc is None:
            raise KeyError(name)
        proc.signal(sig)

    def stop_all(self, grace: float = 10.0) -> None:
        """Terminate every running pod (SIGTERM, then SIGKILL after ``grace``)."""
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.terminate(grace)
                self._event("stopped", proc)

    def _event(self, kind: str, proc: PodProcess) -> None:
        if self.on_event is not None:
            self.on_event(kind, proc)

    # --------------------------------------------------------------------------------------- a run
    def run(
        self,
        pods: list[LocalPod],
        *,
        timeout: float | None = None,
        gang_restart: bool = True,
        on_tick: Callable[[LocalExecutor], None] | None = None,
        poll_interval: float = 0.2,
    ) -> ExecutionResult:
        """Run pods to completion with retries.

        Args:
            pods: The pods of one run (see :func:`training_hub.local.workloads.expand`).
            timeout: Seconds before everything is stopped and the run fails with ``Timeout``.
            gang_restart: On a retryable failure, restart every unfinished pod (the nodes must rendezvous
                again); else restart only the failed one.
            on_tick: Called on every poll (tests use it to kill a node mid-run).
            poll_interval: Seconds between polls.

        Returns:
            The outcome. Never raises for pod failures; raises :class:`LocalExecutionError` when a pod
            cannot be started at all.
        """
        if not pods:
            raise LocalExecutionError("nothing to run: the objects hold no workload")
        self.network.add_pods(pods)
        limit = min(p.retry_limit for p in pods)
        failures = 0
        attempts = dict.fromkeys((p.name for p in pods), 0)
        results: dict[str, PodResult] = {}
        deadline = time.monotonic() + timeout if timeout else None

        def launch(pod: LocalPod) -> None:
            attempts[pod.name] += 1
            self.start(pod, attempts[pod.name])

        def finish(reason: str, message: str) -> ExecutionResult:
            self.stop_all()
            out = []
            for pod in pods:
                proc = self.processes.get(pod.name)
                res = results.get(pod.name) or PodResult(
                    pod.name,
                    pod.index,
                    proc.poll() if proc else None,
                    attempts[pod.name],
                    proc.termination_message() if proc else "",
                )
                out.append(res)
            return ExecutionResult(reason == "Succeeded", reason, message, out)

        try:
            for pod in pods:
                launch(pod)
            while True:
                if on_tick is not None:
                    on_tick(self)
                restart: list[LocalPod] = []
                for pod in pods:
                    if pod.name in results:
                        continue
                    proc = self.processes[pod.name]
                    code = proc.poll()
                    if code is None:
                        continue
                    message = proc.termination_message()
                    self._event("exited", proc)
                    ended = PodResult(pod.name, pod.index, code, attempts[pod.name], message)
                    if code == exit_codes.SUCCEEDED:
                        results[pod.name] = ended
                        continue
                    if not exit_codes.is_retryable(code):
                        results[pod.name] = ended
                        return finish(
                            exit_codes.reason_for(code),
                            f"pod {pod.name} exited with {code} (not retried): {message}",
                        )
                    if failures >= limit:
                        results[pod.name] = ended
                        return finish(
                            "BackoffLimitExceeded",
                            f"pod {pod.name} exited with {code} after {failures} retries (limit {limit}): {message}",
                        )
                    restart.append(pod)
                if restart:
                    failures += 1 if gang_restart else len(restart)
                    if gang_restart:
                        for pod in pods:
                            proc = self.processes[pod.name]
                            if pod.name not in results and proc.poll() is None:
                                proc.terminate()
                                self._event("stopped", proc)
                        restart = [p for p in pods if p.name not in results]
                    for pod in restart:
                        self._event("retrying", self.processes[pod.name])
                        launch(pod)
                if len(results) == len(pods):
                    return finish("Succeeded", f"all {len(pods)} pods exited 0")
                if deadline is not None and time.monotonic() > deadline:
                    return finish("Timeout", f"the pods did not finish within {timeout:.0f}s")
                time.sleep(poll_interval)
        except BaseException:
            self.stop_all(grace=5)
            raise
