"""Play the kubelet for a real API server: run its pods locally and report their phases back.

The local control plane of the tests has no kubelet, so pods are created (by the Job controller of
kube-controller-manager, or by a test playing a Kubeflow controller) but never run. :class:`LocalKubelet`
fills that gap: it polls the pods of a namespace, runs each new one with the
:class:`~training_hub.local.executor.LocalExecutor` (ConfigMaps and Secrets read from the API as the kubelet
reads them), and writes the pod status a kubelet writes (``Running`` with a container state, then
``Succeeded``/``Failed`` with the exit code, reason and termination message). The real controllers do the
rest: the Job controller counts completions and failures, recreates failed pods within ``backoffLimit``
and fails the Job beyond it. A pod deleted from the API is stopped, as a kubelet would stop it.

With ``nodes``, it is the kubelet of those nodes: it registers and heartbeats their Node objects
(:class:`~training_hub.local.nodes.NodeHeartbeat`) and runs only the pods a scheduler bound to them
(``spec.nodeName``). Without, it runs every pod of its namespace (for planes without a scheduler). Before starting a container it
resolves the env references as the kubelet does (``pkg/kubelet/kubelet_pods.go``,
``makeEnvironmentVariables``, 1.20): a missing Secret or ConfigMap, or a missing key, leaves the container
waiting with reason ``CreateContainerConfigError`` and the kubelet's message. With ``images``, the node has
only those images (:class:`~training_hub.local.images.ImageStore`): a pod naming another waits with
``ErrImagePull`` then ``ImagePullBackOff`` and the kubelet's messages, checked first as the kubelet pulls
before it configures the container.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from training_hub.contracts import pod_env
from training_hub.local.background import BackgroundLoop
from training_hub.local.executor import LocalExecutor
from training_hub.local.images import ImageStore
from training_hub.local.jobs import JOB_COMPLETION_INDEX_ANNOTATION
from training_hub.local.nodes import NodeHeartbeat, NodeSpec
from training_hub.local.pods import LocalExecutionError, LocalPod
from training_hub.local.process import PodProcess
from training_hub.pod import exit_codes


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_pod_from_api(obj: dict[str, Any]) -> LocalPod:
    """Wrap a pod read from the API (as a plain dict) for the executor."""
    meta = obj.get("metadata") or {}
    owners = meta.get("ownerReferences") or []
    group = f"{owners[0]['kind']}/{owners[0]['name']}" if owners else f"Pod/{meta.get('name')}"
    pod = LocalPod(
        name=str(meta["name"]),
        namespace=str(meta.get("namespace") or "default"),
        group=group,
        index=0,
        manifest=obj,
    )
    index = (meta.get("annotations") or {}).get(JOB_COMPLETION_INDEX_ANNOTATION)
    for env in pod.container.get("env") or []:
        if env.get("name") == pod_env.PET_NODE_RANK and str(env.get("value", "")).isdigit():
            index = env["value"]
    pod.index = int(index) if index is not None and str(index).isdigit() else 0
    return pod


class LocalKubelet(BackgroundLoop):
    """Runs the pods of a namespace that the API server holds, as local processes.

    Args:
        api_client: A ``kubernetes.client.ApiClient`` for the cluster.
        namespace: Namespace to serve.
        executor: Runs the pods (its root holds their file trees; its ``pvc_root`` the claims).
        label_selector: Only pods matching it (e.g. ``traininghub.io/run=my-run``).
        poll_interval: Seconds between polls of the API.
        on_exit: Called with each pod process that ended (after its status was written).
        nodes: Nodes this kubelet registers, heartbeats and serves (None: run every pod, bound or not).
        images: Images the node has (None: every image is present); pods naming another never start.
    """

    def __init__(
        self,
        api_client: Any,
        namespace: str,
        executor: LocalExecutor,
        *,
        label_selector: str | None = None,
        poll_interval: float = 0.3,
        on_exit: Callable[[PodProcess], None] | None = None,
        nodes: list[NodeSpec] | None = None,
        images: list[str] | None = None,
    ) -> None:
        super().__init__()
        from kubernetes import client

        self.api = client.CoreV1Api(api_client)
        self.api_client = api_client
        self.namespace = namespace
        self.executor = executor
        self.label_selector = label_selector
        self.poll_interval = poll_interval
        self.on_exit = on_exit
        self.running: dict[str, PodProcess] = {}
        self.finished: dict[str, int] = {}
        self.errors: list[str] = []
        self._uids: dict[str, str] = {}
        self.heartbeat = NodeHeartbeat(api_client, nodes) if nodes else None
        self.config_errors: dict[str, str] = {}
        self.images = ImageStore.of(images) if images is not None else None

    # ------------------------------------------------------------------------------------ lifecycle
    def start(self) -> LocalKubelet:
        """Register the nodes (if any), then serve in a background thread until :meth:`stop`."""
        if self.heartbeat is not None:
            self.heartbeat.start()
        self._start_loop("local-kubelet")
        return self

    def stop(self) -> None:
        """Stop serving and terminate every pod still running."""
        self._stop_loop(timeout=30)
        for proc in list(self.running.values()):
            proc.terminate(grace=5)
        self.running.clear()
        if self.heartbeat is not None:
            self.heartbeat.stop()

    def serves(self, obj: dict[str, Any]) -> bool:
        """Whether this kubelet runs a pod: with ``nodes``, only a pod bound to one of them; without, any
        pod (a plane without a scheduler binds none)."""
        if self.heartbeat is None:
            return True
        return (obj.get("spec") or {}).get("nodeName") in self.heartbeat.names

    def __enter__(self) -> LocalKubelet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync_once()
            except Exception as exc:  # noqa: BLE001 (a flaky poll must not end the kubelet)
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(self.poll_interval)

    # ----------------------------------------------------------------------------------------- sync
    def _list(self) -> list[dict[str, Any]]:
        kwargs = {"label_selector": self.label_selector} if self.label_selector else {}
        items = self.api.list_namespaced_pod(self.namespace, **kwargs).items
        return [self.api_client.sanitize_for_serialization(p) for p in items]

    def _config_error(self, pod: LocalPod) -> str | None:
        """The kubelet's error for an env reference it cannot resolve (None when all resolve).

        Messages as 1.20's ``makeEnvironmentVariables``: ``secret "x" not found``, ``couldn't find key k in
        Secret ns/x`` (the same for ConfigMaps); optional references are skipped.
        """
        from kubernetes.client.rest import ApiException

        for container in pod.spec.get("containers") or []:
            refs: list[tuple[str, dict[str, Any], bool]] = []
            for env in container.get("env") or []:
                src = env.get("valueFrom") or {}
                for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                    if key in src:
                        refs.append((kind, src[key], True))
            for env_from in container.get("envFrom") or []:
                for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                    if key in env_from:
                        refs.append((kind, env_from[key], False))
            for kind, ref, keyed in refs:
                if ref.get("optional"):
                    continue
                name = str(ref.get("name"))
                try:
                    if kind == "Secret":
                        data = self.api.read_namespaced_secret(name, self.namespace).data or {}
                    else:
                        data = self.api.read_namespaced_config_map(name, self.namespace).data or {}
                except ApiException as exc:
                    if exc.status == 404:
                        return f'{kind.lower()} "{name}" not found'
                    raise
                if keyed and str(ref.get("key")) not in data:
                    return f"couldn't find key {ref.get('key')} in {kind} {self.namespace}/{name}"
        return None

    def _load_references(self, pod: LocalPod) -> None:
        names_cm: set[str] = set()
        names_secret: set[str] = set()
        for vol in pod.spec.get("volumes") or []:
            if "configMap" in vol:
                names_cm.add(str(vol["configMap"]["name"]))
            if "secret" in vol:
                names_secret.add(str(vol["secret"]["secretName"]))
        for container in pod.spec.get("containers") or []:
            for env in container.get("env") or []:
                src = env.get("valueFrom") or {}
                if "configMapKeyRef" in src:
                    names_cm.add(str(src["configMapKeyRef"]["name"]))
                if "secretKeyRef" in src:
                    names_secret.add(str(src["secretKeyRef"]["name"]))
            for env_from in container.get("envFrom") or []:
                if "configMapRef" in env_from:
                    names_cm.add(str(env_from["configMapRef"]["name"]))
                if "secretRef" in env_from:
                    names_secret.add(str(env_from["secretRef"]["name"]))
        for name in names_cm:
            with contextlib.suppress(Exception):
                cm = self.api.read_namespaced_config_map(name, self.namespace)
                self.executor.configmaps[name] = dict(cm.data or {})
        for name in names_secret:
            with contextlib.suppress(Exception):
                sec = self.api.read_namespaced_secret(name, self.namespace)
                self.executor.secrets[name] = {
                    k: base64.b64decode(v).decode() for k, v in (sec.data or {}).items()
                }
        services = self.api.list_namespaced_service(self.namespace).items
        self.executor.network.add_services([self.api_client.sanitize_for_serialization(s) for s in services])

    def sync_once(self) -> None:
        """One pass: start new pods, report ended ones, stop deleted ones."""
        pods = self._list()
        # Every pod's name is known before any starts: a node may start before the pod it connects to.
        self.executor.network.add_pods([local_pod_from_api(p) for p in pods])
        present = {}
        for obj in pods:
            meta = obj.get("metadata") or {}
            name = str(meta["name"])
            present[name] = str(meta.get("uid"))
            phase = (obj.get("status") or {}).get("phase", "Pending")
            if name in self.running or name in self.finished or meta.get("deletionTimestamp"):
                continue
            if phase != "Pending" or not self.serves(obj):
                continue
            self._start(obj)
        for name, proc in list(self.running.items()):
            gone = name not in present or present[name] != self._uids.get(name)
            if gone:
                proc.terminate(grace=5)
                del self.running[name]
                code = proc.poll()
                self.finished[name] = code if code is not None else exit_codes.TERMINATED
                continue
            code = proc.poll()
            if code is None:
                continue
            del self.running[name]
            self.finished[name] = code
            self._report_exit(proc, code)
            if self.on_exit is not None:
                self.on_exit(proc)

    def _start(self, obj: dict[str, Any]) -> None:
        pod = local_pod_from_api(obj)
        self._uids[pod.name] = str(pod.metadata.get("uid"))
        if self.images is not None:
            container = pod.container
            pull = self.images.ensure(
                str(pod.metadata.get("uid")), str(container.get("image")), container.get("imagePullPolicy")
            )
            if pull is not None:
                if self.config_errors.get(pod.name) != pull.message:
                    self.config_errors[pod.name] = pull.message
                    self._patch(pod.name, self._waiting_status(pod, pull.reason, pull.message))
                return
        error = self._config_error(pod)
        if error is not None:
            # The kubelet retries with back-off; the container waits until the reference resolves.
            if self.config_errors.get(pod.name) != error:
                self.config_errors[pod.name] = error
                self._patch(pod.name, self._waiting_status(pod, "CreateContainerConfigError", error))
            return
        self.config_errors.pop(pod.name, None)
        try:
            self._load_references(pod)
            proc = self.executor.start(pod)
        except LocalExecutionError as exc:
            self.finished[pod.name] = 127
            self._patch(pod.name, self._terminated_status(pod, 127, "ContainerCannotRun", str(exc), _now()))
            return
        self.running[pod.name] = proc
        self._patch(
            pod.name,
            _pod_status(
                pod,
                "Running",
                [
                    _condition("Initialized", True),
                    _condition("Ready", True),
                    _condition("ContainersReady", True),
                    _condition("PodScheduled", True),
                ],
                {"running": {"startedAt": proc.started_at}},
                ready=True,
                startTime=proc.started_at,
            ),
        )

    def _waiting_status(self, pod: LocalPod, reason: str, message: str) -> dict[str, Any]:
        name = pod.container.get("name", "main")
        unready = f"containers with unready status: [{name}]"
        return _pod_status(
            pod,
            "Pending",
            [_condition("Initialized", True), _condition("Ready", False, "ContainersNotReady", unready)],
            {"waiting": {"reason": reason, "message": message}},
        )

    def _terminated_status(
        self, pod: LocalPod, code: int, reason: str, message: str, started: str
    ) -> dict[str, Any]:
        terminated = {
            "exitCode": code,
            "reason": reason,
            "message": message,
            "startedAt": started,
            "finishedAt": _now(),
        }
        return _pod_status(
            pod,
            "Succeeded" if code == 0 else "Failed",
            [
                _condition("Ready", False, "PodCompleted"),
                _condition("ContainersReady", False, "PodCompleted"),
            ],
            {"terminated": terminated},
        )

    def _report_exit(self, proc: PodProcess, code: int) -> None:
        if code < 0:  # killed by a signal: a container runtime reports 128 + signal
            code = 128 - code
        reason = "Completed" if code == 0 else "Error"
        status = self._terminated_status(proc.pod, code, reason, proc.termination_message(), proc.started_at)
        self._patch(proc.name, status)

    def _patch(self, name: str, status: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            self.api.patch_namespaced_pod_status(name, self.namespace, {"status": status})

    def wait_for(self, predicate: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
        """Wait until ``predicate()`` holds (``False`` on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(interval)
        return predicate()


def _condition(kind: str, status: bool, reason: str = "", message: str = "") -> dict[str, Any]:
    """One pod condition as the kubelet reports it."""
    condition: dict[str, Any] = {"type": kind, "status": "True" if status else "False"}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    condition["lastTransitionTime"] = _now()
    return condition


def _pod_status(
    pod: LocalPod,
    phase: str,
    conditions: list[dict[str, Any]],
    state: dict[str, Any],
    *,
    ready: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """A pod status with its one container in ``state`` (shape of kubelet 1.20's ``v1.PodStatus``)."""
    container = pod.container
    return {
        "phase": phase,
        "hostIP": "127.0.0.1",
        "podIP": "127.0.0.1",
        **extra,
        "conditions": conditions,
        "containerStatuses": [
            {
                "name": container.get("name", "main"),
                "image": container.get("image", "local"),
                "imageID": "",
                "ready": ready,
                "restartCount": 0,
                "started": ready,
                "state": state,
            }
        ],
    }
