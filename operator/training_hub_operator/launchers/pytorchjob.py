"""Launcher for Kubeflow Training Operator v1: one ``PyTorchJob`` (Master 1 + Worker nodes-1).

The training operator sets the rendezvous environment (``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE``,
``RANK``, ``PET_NNODES``, ``PET_NPROC_PER_NODE``, ``PET_NODE_RANK``...) in every pod; the pod entrypoint
reads it. Status is read from the conditions the training operator writes (``Created``, ``Running``,
``Restarting``, ``Succeeded``, ``Failed``, ``Suspended``).
"""

from __future__ import annotations

from typing import Any

from training_hub_operator.api.constants import (
    ANNOTATION_LAUNCHED_GENERATION,
    ANNOTATION_LAUNCHED_SPEC,
    ANNOTATION_USER_SUSPENDED,
)
from training_hub_operator.kube import CONFIGMAP, ResourceKind
from training_hub_operator.launchers import common
from training_hub_operator.launchers.base import RenderContext, WorkloadObservation
from training_hub_operator.naming import ChildNames

PYTORCHJOB = ResourceKind("kubeflow.org/v1", "PyTorchJob", "pytorchjobs")
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
KUEUE_PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
CONTAINER_NAME = "pytorch"
MASTER_PORT = 29500


def _true_conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type", ""): c for c in status.get("conditions") or [] if c.get("status") == "True"}


class PyTorchJobLauncher:
    """Renders and observes a Kubeflow ``PyTorchJob`` (``kubeflow.org/v1``)."""

    name = "pytorchjob"
    api_version = PYTORCHJOB.api_version
    kind = PYTORCHJOB.kind
    workload_kind = PYTORCHJOB
    child_kinds: tuple[ResourceKind, ...] = (CONFIGMAP, PYTORCHJOB)
    required_kinds: tuple[ResourceKind, ...] = (PYTORCHJOB,)

    def child_refs(
        self, names: ChildNames, nodes: int, workload: dict[str, Any] | None
    ) -> list[tuple[ResourceKind, str]]:
        """Kind and name of every child :meth:`render` makes: the ConfigMap and the workload."""
        return common.config_and_workload_refs(names, self.workload_kind)

    def render(self, ctx: RenderContext) -> list[dict[str, Any]]:
        """The run's ConfigMap and PyTorchJob."""
        spec = ctx.spec
        nodes = ctx.plan.nodes
        pod = common.pod_spec(
            ctx,
            container_name=CONTAINER_NAME,
            ports=[{"name": "pytorchjob-port", "containerPort": MASTER_PORT, "protocol": "TCP"}],
        )
        replica = {
            "restartPolicy": "OnFailure",
            "template": common.pod_template(ctx, "worker", pod),
        }
        replicas: dict[str, Any] = {"Master": {"replicas": 1, **replica}}
        if nodes > 1:
            replicas["Worker"] = {"replicas": nodes - 1, **replica}
        suspend = spec.suspend or bool(spec.queue_name)
        run_policy: dict[str, Any] = {
            "cleanPodPolicy": "Running",  # the pods still running when the job ends are deleted
            "backoffLimit": spec.backoff_limit,
            "suspend": suspend,
        }
        if spec.ttl_seconds_after_finished is not None:
            run_policy["ttlSecondsAfterFinished"] = spec.ttl_seconds_after_finished
        if spec.active_deadline_seconds is not None:
            run_policy["activeDeadlineSeconds"] = spec.active_deadline_seconds
        labels: dict[str, str] = {}
        if spec.queue_name:
            labels[KUEUE_QUEUE_LABEL] = spec.queue_name
            if spec.runtime.priority_class_name:
                labels[KUEUE_PRIORITY_LABEL] = spec.runtime.priority_class_name
        annotations = {
            ANNOTATION_LAUNCHED_SPEC: ctx.launched_spec,
            ANNOTATION_LAUNCHED_GENERATION: str(ctx.generation),
        }
        if spec.suspend:
            annotations[ANNOTATION_USER_SUSPENDED] = "true"
        meta = common.metadata(ctx, ctx.names.workload, "workload", annotations=annotations)
        meta["labels"].update(labels)
        job = {
            "apiVersion": PYTORCHJOB.api_version,
            "kind": PYTORCHJOB.kind,
            "metadata": meta,
            "spec": {
                "nprocPerNode": str(max(ctx.plan.gpus_per_node, 1)),
                "runPolicy": run_policy,
                "pytorchReplicaSpecs": replicas,
            },
        }
        return [common.config_map(ctx), job]

    def observe(self, children: list[dict[str, Any]]) -> WorkloadObservation:
        """Map the PyTorchJob's status to a :class:`WorkloadObservation`."""
        job = next((c for c in children if c.get("kind") == PYTORCHJOB.kind), None)
        if job is None:
            return WorkloadObservation(
                phase="Queued", reason="WorkloadMissing", message="the PyTorchJob is missing"
            )
        status = job.get("status") or {}
        conds = _true_conditions(status)
        suspended = self.is_suspended(job)
        labels = (job.get("metadata") or {}).get("labels") or {}
        annotations = (job.get("metadata") or {}).get("annotations") or {}
        user_suspended = annotations.get(ANNOTATION_USER_SUSPENDED) == "true"
        restarts = sum(
            int((rs or {}).get("failed") or 0) for rs in (status.get("replicaStatuses") or {}).values()
        )
        base: dict[str, Any] = {
            "start_time": status.get("startTime"),
            "completion_time": status.get("completionTime"),
            "restarts": restarts,
            "suspended": suspended,
        }

        def msg(t: str, default: str) -> tuple[str, str]:
            c = conds[t]
            return c.get("reason") or default, c.get("message") or ""

        if "Succeeded" in conds:
            reason, message = msg("Succeeded", "PyTorchJobSucceeded")
            done = base["completion_time"] or conds["Succeeded"].get("lastTransitionTime")
            return WorkloadObservation(
                phase="Succeeded", reason=reason, message=message, **{**base, "completion_time": done}
            )
        if "Failed" in conds:
            reason, message = msg("Failed", "PyTorchJobFailed")
            done = base["completion_time"] or conds["Failed"].get("lastTransitionTime")
            return WorkloadObservation(
                phase="Failed", reason=reason, message=message, **{**base, "completion_time": done}
            )
        queued_by_kueue = suspended and KUEUE_QUEUE_LABEL in labels and not user_suspended
        if queued_by_kueue:
            return WorkloadObservation(
                phase="Queued",
                reason="WaitingForAdmission",
                message=f"waiting for Kueue to admit the job from queue {labels[KUEUE_QUEUE_LABEL]}",
                queued=True,
                admitted=False,
                **base,
            )
        if suspended or "Suspended" in conds:
            reason, message = msg("Suspended", "Suspended") if "Suspended" in conds else ("Suspended", "")
            return WorkloadObservation(
                phase="Suspended", reason=reason, message=message or "the job is suspended", **base
            )
        admitted = True if KUEUE_QUEUE_LABEL in labels else None
        if "Restarting" in conds:
            reason, message = msg("Restarting", "PyTorchJobRestarting")
            return WorkloadObservation(
                phase="Running", reason=reason, message=message, admitted=admitted, **base
            )
        if "Running" in conds:
            reason, message = msg("Running", "PyTorchJobRunning")
            return WorkloadObservation(
                phase="Running", reason=reason, message=message, admitted=admitted, **base
            )
        if "Created" in conds:
            reason, message = msg("Created", "PyTorchJobCreated")
            return WorkloadObservation(
                phase="Queued",
                reason=reason,
                message=message or "waiting for pods",
                admitted=admitted,
                **base,
            )
        return WorkloadObservation(
            phase="Queued",
            reason="WorkloadSubmitted",
            message="the PyTorchJob was created; waiting for the training operator",
            admitted=admitted,
            **base,
        )

    def suspend_patch(self, suspend: bool) -> dict[str, Any]:
        """Merge patch of ``spec.runPolicy.suspend`` (and the user-suspended marker)."""
        return common.suspend_patch_at(("runPolicy", "suspend"), suspend)

    def is_suspended(self, workload: dict[str, Any]) -> bool:
        """``spec.runPolicy.suspend`` of the PyTorchJob."""
        return common.suspended_at(workload, ("runPolicy", "suspend"))


LAUNCHER = PyTorchJobLauncher()
