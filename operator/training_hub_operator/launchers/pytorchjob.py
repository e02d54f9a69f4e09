"""Launcher for Kubeflow Training Operator v1: one ``PyTorchJob`` (Master 1 + Worker nodes-1).

The training operator sets the rendezvous environment (``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE``,
``RANK``, ``PET_NNODES``, ``PET_NPROC_PER_NODE``, ``PET_NODE_RANK``...) in every pod; the pod entrypoint
reads it. Status is read from the conditions the training operator writes (``Created``, ``Running``,
``Restarting``, ``Succeeded``, ``Failed``, ``Suspended``).
"""

from __future__ import annotations

from typing import Any

from training_hub.contracts.kinds import PYTORCHJOB, ResourceKind
from training_hub_operator.launchers import training_pod, workload_state
from training_hub_operator.launchers.base import RenderContext, WorkloadObservation

CONTAINER_NAME = "pytorch"
MASTER_PORT = 29500


class PyTorchJobLauncher(workload_state.OneWorkloadLauncher):
    """Renders and observes a Kubeflow ``PyTorchJob`` (``kubeflow.org/v1``)."""

    name = "pytorchjob"
    workload_kind = PYTORCHJOB
    compatibility_kind: ResourceKind | None = None  # kubeflow.org/v1 renders for every served release
    #: A PyTorchJob is suspended through ``spec.runPolicy.suspend``.
    suspend_path = ("runPolicy", "suspend")

    def render(self, ctx: RenderContext) -> list[dict[str, Any]]:
        """The run's PyTorchJob."""
        spec = ctx.spec
        nodes = ctx.plan.nodes
        pod = training_pod.pod_spec(
            ctx,
            container_name=CONTAINER_NAME,
            ports=[{"name": "pytorchjob-port", "containerPort": MASTER_PORT, "protocol": "TCP"}],
        )
        replica = {
            "restartPolicy": "OnFailure",
            "template": training_pod.pod_template(ctx, "worker", pod),
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
        job_spec: dict[str, Any] = {
            "nprocPerNode": str(max(ctx.plan.gpus_per_node, 1)),
            "runPolicy": run_policy,
            "pytorchReplicaSpecs": replicas,
        }
        return self.one_workload(ctx, job_spec)

    def compatibility(self, crd: dict[str, Any]) -> str | None:
        """None: no served PyTorchJob version is refused (``compatibility_kind`` is None)."""
        return None

    def observe(self, children: list[dict[str, Any]]) -> WorkloadObservation:
        """Map the PyTorchJob's status to a :class:`WorkloadObservation`."""
        job = self.workload_in(children)
        if job is None:
            return self.workload_missing()
        status = job.get("status") or {}
        conds = workload_state.true_conditions(job)
        suspended = self.is_suspended(job)
        queue = workload_state.kueue_queue(job)
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
        if suspended and queue is not None and not workload_state.user_suspended(job):
            return workload_state.waiting_for_admission("the job", queue, **base)
        if suspended or "Suspended" in conds:
            reason, message = msg("Suspended", "Suspended") if "Suspended" in conds else ("Suspended", "")
            return WorkloadObservation(
                phase="Suspended", reason=reason, message=message or "the job is suspended", **base
            )
        admitted = True if queue is not None else None
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
            return WorkloadObservation.waiting(reason, message or "waiting for pods", admitted, **base)
        return WorkloadObservation.waiting(
            "WorkloadSubmitted",
            "the PyTorchJob was created; waiting for the training operator",
            admitted,
            **base,
        )


LAUNCHER = PyTorchJobLauncher()
