"""Node objects a local kubelet registers and heartbeats, so that a real ``kube-scheduler`` can place pods.

A kubelet registers its Node (capacity, allocatable, labels, taints, a ``Ready`` condition) and then keeps
it alive two ways (Kubernetes 1.20, ``pkg/kubelet/kubelet_node_status.go`` and ``nodelease``): it renews
its ``Lease`` in the ``kube-node-lease`` namespace every 10 s (``renewInterval`` = 1/4 of the 40 s
``nodeLeaseDurationSeconds``) and posts the node status when it changes, at least every 5 minutes
(``nodeStatusReportFrequency``). :class:`NodeHeartbeat` does the same for :class:`NodeSpec` s, so the
scheduler sees nodes like those of a GPU cluster (``nvidia.com/gpu: 8`` from the NVIDIA device plugin, the
GPU feature discovery labels ``nvidia.com/gpu.product``/``nvidia.com/gpu.count``, a GPU taint) and binds
pods to them, or reports them ``Unschedulable`` with its own message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from training_hub.local.background import BackgroundLoop

#: Extended resource the NVIDIA device plugin advertises.
GPU_RESOURCE = "nvidia.com/gpu"
#: Label of NVIDIA GPU feature discovery naming the GPU model.
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
#: Namespace of the node Leases (created by the API server).
LEASE_NAMESPACE = "kube-node-lease"
#: Lease duration a 1.20 kubelet sets (``nodeLeaseDurationSeconds``).
LEASE_DURATION_SECONDS = 40
#: How often a 1.20 kubelet renews its Lease (a quarter of the duration).
LEASE_RENEW_SECONDS = 10.0
#: How often a 1.20 kubelet posts an unchanged node status (``nodeStatusReportFrequency``).
STATUS_REPORT_SECONDS = 300.0
#: The taint GPU node pools commonly carry (GKE and AKS add it; the operator tolerates it for GPU pods).
GPU_TAINT = {"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class NodeSpec:
    """A node as a kubelet registers it.

    Attributes:
        name: Node name (also its ``kubernetes.io/hostname`` label).
        cpu: CPU capacity (a quantity).
        memory: Memory capacity (a quantity).
        gpus: ``nvidia.com/gpu`` capacity (0: no GPU, the resource is not advertised).
        gpu_product: ``nvidia.com/gpu.product`` label (GPU nodes only).
        pods: Pod capacity.
        labels: Extra labels.
        taints: Taints (``key``, ``value``, ``effect``); GPU nodes get :data:`GPU_TAINT` unless given.
    """

    name: str
    cpu: str = "64"
    memory: str = "512Gi"
    gpus: int = 0
    gpu_product: str = "NVIDIA-H100-80GB-HBM3"
    pods: int = 110
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[dict[str, str], ...] | None = None

    @classmethod
    def gpu(cls, name: str, gpus: int = 8, **kwargs: Any) -> NodeSpec:
        """A GPU node: ``gpus`` x ``nvidia.com/gpu``, 96 CPUs and 1 TiB memory (a DGX-like shape)."""
        kwargs.setdefault("cpu", "96")
        kwargs.setdefault("memory", "1Ti")
        return cls(name=name, gpus=gpus, **kwargs)

    def capacity(self) -> dict[str, str]:
        """The node's capacity (allocatable is the same: nothing is reserved for system daemons)."""
        cap = {
            "cpu": self.cpu,
            "memory": self.memory,
            "pods": str(self.pods),
            "ephemeral-storage": "1Ti",
        }
        if self.gpus:
            cap[GPU_RESOURCE] = str(self.gpus)
        return cap

    def manifest(self) -> dict[str, Any]:
        """The Node object as a kubelet creates it (status included: the kubelet registers with it)."""
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            **self.labels,
        }
        if self.gpus:
            labels.setdefault(GPU_PRODUCT_LABEL, self.gpu_product)
            labels.setdefault("nvidia.com/gpu.count", str(self.gpus))
        taints = list(self.taints) if self.taints is not None else ([dict(GPU_TAINT)] if self.gpus else [])
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": labels},
            "spec": {"taints": taints} if taints else {},
            "status": {
                "capacity": self.capacity(),
                "allocatable": self.capacity(),
                "conditions": _conditions(),
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": self.name},
                ],
                "nodeInfo": {
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                    "kubeletVersion": "v1.20.2",
                    "kubeProxyVersion": "v1.20.2",
                    "containerRuntimeVersion": "local://training-hub",
                    "osImage": "local",
                    "kernelVersion": "",
                    "machineID": "",
                    "systemUUID": "",
                    "bootID": "",
                },
            },
        }


def _conditions() -> list[dict[str, str]]:
    now = _now()
    pressure = [
        ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ]
    conds = [
        {
            "type": t,
            "status": "False",
            "reason": r,
            "message": m,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        for t, r, m in pressure
    ]
    conds.append(
        {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "kubelet is posting ready status",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
    )
    return conds


class NodeHeartbeat(BackgroundLoop):
    """Registers nodes and keeps them alive (Lease renewals, periodic status) until :meth:`stop`.

    Args:
        api_client: A ``kubernetes.client.ApiClient``.
        nodes: The nodes to register (an existing Node of the same name is replaced).
        delete_on_stop: Delete the Node objects (and their Leases) at :meth:`stop`, as when a node leaves.
    """

    def __init__(self, api_client: Any, nodes: list[NodeSpec], *, delete_on_stop: bool = True) -> None:
        super().__init__()
        from kubernetes import client

        self.core = client.CoreV1Api(api_client)
        self.coordination = client.CoordinationV1Api(api_client)
        self.nodes = list(nodes)
        self.delete_on_stop = delete_on_stop
        self.errors: list[str] = []

    @property
    def names(self) -> set[str]:
        """Names of the nodes played."""
        return {n.name for n in self.nodes}

    def register(self) -> None:
        """Create (or replace) each Node and its Lease."""
        from kubernetes.client.rest import ApiException

        for node in self.nodes:
            body = node.manifest()
            try:
                self.core.create_node(body)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                self.core.delete_node(node.name)
                self.core.create_node(body)
            self._renew(node.name)

    def start(self) -> NodeHeartbeat:
        """Register the nodes, then heartbeat them from a background thread."""
        self.register()
        self._start_loop("node-heartbeat")
        return self

    def stop(self) -> None:
        """Stop heartbeating; delete the nodes when ``delete_on_stop``."""
        self._stop_loop(timeout=15)
        if self.delete_on_stop:
            for node in self.nodes:
                with contextlib.suppress(Exception):
                    self.core.delete_node(node.name)
                with contextlib.suppress(Exception):
                    self.coordination.delete_namespaced_lease(node.name, LEASE_NAMESPACE)

    def _loop(self) -> None:
        since_status = 0.0
        while not self._stop.wait(LEASE_RENEW_SECONDS):
            since_status += LEASE_RENEW_SECONDS
            for node in self.nodes:
                try:
                    self._renew(node.name)
                    if since_status >= STATUS_REPORT_SECONDS:
                        self.core.patch_node_status(node.name, {"status": {"conditions": _conditions()}})
                except Exception as exc:  # noqa: BLE001 (a missed heartbeat must not end the loop)
                    self.errors.append(f"{node.name}: {type(exc).__name__}: {exc}")
            if since_status >= STATUS_REPORT_SECONDS:
                since_status = 0.0

    def _renew(self, name: str) -> None:
        from kubernetes.client.rest import ApiException

        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": LEASE_NAMESPACE},
            "spec": {
                "holderIdentity": name,
                "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                "renewTime": _micro_now(),
            },
        }
        try:
            self.coordination.patch_namespaced_lease(name, LEASE_NAMESPACE, {"spec": body["spec"]})
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.coordination.create_namespaced_lease(LEASE_NAMESPACE, body)
