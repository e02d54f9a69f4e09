"""Play Kubeflow's controllers in tests: run a PyTorchJob's or TrainJob's pods locally, write its status.

There is no Kubeflow here, so the test does what its controller would: expand the workload into pods with
the env the controller injects (:mod:`training_hub.local.workloads`), run them with the local executor, and
write the workload's status as that controller writes it:

* PyTorchJob (kubeflow/training-operator v1.9, ``pkg/controller.v1/pytorch`` and ``pkg/util/status.go``):
  ``Created``/``Running``/``Succeeded``/``Failed`` conditions (older ones flipped to False) and
  ``replicaStatuses``;
* TrainJob (kubeflow/trainer v2.3.0 ``pkg/runtime/framework/plugins/jobset/jobset.go`` ``Status``): the
  JobSet's ``Completed``/``Failed`` conditions copied as ``Complete``/``Failed`` (JobSet's reasons
  ``AllJobsCompleted``/``FailedJobs``), and one ``jobsStatus`` entry per replicated job.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from training_hub.local import ExecutionResult, LocalExecutor, expand

KINDS: dict[str, tuple[str, str, str]] = {
    "PyTorchJob": ("kubeflow.org", "v1", "pytorchjobs"),
    "TrainJob": ("trainer.kubeflow.org", "v1alpha1", "trainjobs"),
}


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KubeflowEmulator:
    """Runs one Kubeflow workload of a namespace locally and reports its status like its controller.

    Args:
        api_client: ``kubernetes.client.ApiClient`` of the control plane.
        namespace: Namespace of the workload.
        kind: ``PyTorchJob`` or ``TrainJob``.
        name: Workload name.
        executor: Runs the pods.
    """

    def __init__(
        self, api_client: Any, namespace: str, kind: str, name: str, executor: LocalExecutor
    ) -> None:
        from kubernetes import client

        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.api_client = api_client
        self.namespace = namespace
        self.kind = kind
        self.name = name
        self.group, self.version, self.plural = KINDS[kind]
        self.executor = executor
        self.conditions: list[dict[str, Any]] = []

    def get(self) -> dict[str, Any] | None:
        """The workload as stored, or None."""
        from kubernetes.client.rest import ApiException

        try:
            obj = self.custom.get_namespaced_custom_object(
                self.group, self.version, self.namespace, self.plural, self.name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj  # type: ignore[no-any-return]

    def wait_created(self, timeout: float = 90.0) -> dict[str, Any]:
        """Wait until the operator created the workload."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            obj = self.get()
            if obj is not None:
                return obj
            time.sleep(0.3)
        raise TimeoutError(f"{self.kind} {self.namespace}/{self.name} was not created within {timeout}s")

    def _condition(self, type_: str, reason: str, message: str) -> None:
        now = _now()
        condition = {"type": type_, "status": "True", "reason": reason, "message": message}
        if self.kind == "PyTorchJob":
            # training-operator keeps every condition, the newest True and older ones flipped to False.
            for c in self.conditions:
                if c["type"] in ("Running", "Restarting") and type_ in ("Succeeded", "Failed", "Restarting"):
                    c["status"] = "False"
            condition["lastUpdateTime"] = now
        condition["lastTransitionTime"] = now
        self.conditions = [c for c in self.conditions if c["type"] != type_]
        self.conditions.append(condition)

    def write_status(self, extra: dict[str, Any] | None = None) -> None:
        """Patch the workload's status subresource."""
        body = {"status": {"conditions": self.conditions, **(extra or {})}}
        self.custom.patch_namespaced_custom_object_status(
            self.group, self.version, self.namespace, self.plural, self.name, body
        )

    def _replica_status(self, active: int, succeeded: int, failed: int, nodes: int) -> dict[str, Any]:
        if self.kind == "PyTorchJob":
            master = {"active": min(active, 1), "succeeded": min(succeeded, 1), "failed": 0}
            worker = {"active": max(active - 1, 0), "succeeded": max(succeeded - 1, 0), "failed": failed}
            statuses = {"Master": master}
            if nodes > 1:
                statuses["Worker"] = worker
            return {"replicaStatuses": statuses}
        job = {
            "name": "node",
            "active": active,
            "ready": active,
            "succeeded": succeeded,
            "failed": failed,
            "suspended": 0,
        }
        return {"jobsStatus": [job]}

    def run(self, timeout: float = 300.0) -> ExecutionResult:
        """Wait for the workload, run its pods to the end and write the final status."""
        obj = self.wait_created()
        runtimes: list[dict[str, Any]] = []
        if self.kind == "TrainJob":
            ref = (obj.get("spec") or {}).get("runtimeRef") or {}
            runtimes.append(
                self.custom.get_cluster_custom_object(
                    "trainer.kubeflow.org", "v1alpha1", "clustertrainingruntimes", ref.get("name")
                )
            )
        pods = expand([obj], runtimes)
        # Like the kubelet: read the ConfigMaps the pods mount.
        names = {
            v["configMap"]["name"] for p in pods for v in p.spec.get("volumes") or [] if "configMap" in v
        }
        for cm_name in sorted(names):
            cm = self.core.read_namespaced_config_map(cm_name, self.namespace)
            self.executor.add_objects([self.api_client.sanitize_for_serialization(cm)])
        nodes = len(pods)
        start = _now()
        if self.kind == "PyTorchJob":
            self._condition("Created", "PyTorchJobCreated", f"PyTorchJob {self.name} is created.")
        self.write_status({"startTime": start} if self.kind == "PyTorchJob" else None)
        reported = {"running": False}
        restarts = {"n": 0}

        def on_event(kind: str, proc: Any) -> None:
            if kind == "retrying":
                restarts["n"] += 1

        self.executor.on_event = on_event

        def on_tick(ex: LocalExecutor) -> None:
            if not reported["running"]:
                reported["running"] = True
                if self.kind == "PyTorchJob":
                    self._condition("Running", "PyTorchJobRunning", f"PyTorchJob {self.name} is running.")
                self.write_status(self._replica_status(nodes, 0, 0, nodes))

        result = self.executor.run(pods, timeout=timeout, on_tick=on_tick)
        done = _now()
        if result.succeeded:
            if self.kind == "PyTorchJob":
                self._condition(
                    "Succeeded", "PyTorchJobSucceeded", f"PyTorchJob {self.name} is successfully completed."
                )
                extra = {"completionTime": done, **self._replica_status(0, nodes, restarts["n"], nodes)}
            else:
                self._condition("Complete", "AllJobsCompleted", "jobset completed successfully")
                extra = self._replica_status(0, nodes, restarts["n"], nodes)
        else:
            reason = "PyTorchJobFailed" if self.kind == "PyTorchJob" else "FailedJobs"
            self._condition("Failed", reason, result.message)
            extra = {"completionTime": done} if self.kind == "PyTorchJob" else {}
            extra.update(self._replica_status(0, 0, restarts["n"] + 1, nodes))
        self.write_status(extra)
        return result
