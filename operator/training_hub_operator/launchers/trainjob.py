"""Launcher for Kubeflow Trainer v2: one ``TrainJob`` (``trainer.kubeflow.org/v1alpha1``).

The TrainJob references the ``torch-distributed`` ClusterTrainingRuntime; Trainer turns it into a JobSet
whose ``node`` replicated Job runs ``numNodes`` indexed pods. Trainer's torch plugin injects the rendezvous
(``PET_NNODES``, ``PET_NPROC_PER_NODE``, ``PET_NODE_RANK`` from the completion index, ``PET_MASTER_ADDR`` =
``<job>-node-0-0.<job>``, ``PET_MASTER_PORT``), so the trainer env carries none of it (Trainer's webhook
refuses reserved ``PET_*`` names there).

Rendering follows the Trainer API:

* ``spec.trainer``: ``image``, ``command`` (the pod entrypoint), ``env``, ``numNodes``, ``numProcPerNode``
  (GPUs per node, 1 on CPU) and ``resourcesPerNode`` (``nvidia.com/gpu`` from the plan);
* ``spec.podTemplateOverrides`` targeting the ``node`` job: volumes (run ConfigMap, ``pvc://`` claims, a
  memory-backed ``/dev/shm``) with their mounts in the ``node`` container, service account, node selector,
  tolerations, image pull secrets, pod labels and annotations;
* ``spec.suspend`` for ``spec.suspend`` and for Kueue (with ``spec.queueName`` the Kueue labels are set and
  the job is created suspended so that Kueue admits it);
* ``spec.labels`` / ``spec.annotations`` reach the JobSet and its Jobs.

Status comes from the TrainJob's conditions (``Suspended``, ``Complete``, ``Failed``) and ``jobsStatus``.
Not expressible in a TrainJob (they belong to the runtime): the pods' ``priorityClassName``, pod security
context and a per-run backoff limit (the runtime's JobSet failure policy applies).
"""

from __future__ import annotations

from typing import Any

from training_hub_operator.api.constants import LABEL_COMPONENT
from training_hub_operator.kube import CONFIGMAP, ResourceKind
from training_hub_operator.launchers import common
from training_hub_operator.launchers.base import RenderContext, WorkloadObservation

TRAINJOB = ResourceKind("trainer.kubeflow.org/v1alpha1", "TrainJob", "trainjobs")
CLUSTER_TRAINING_RUNTIME = ResourceKind(
    "trainer.kubeflow.org/v1alpha1", "ClusterTrainingRuntime", "clustertrainingruntimes", namespaced=False
)
#: The ClusterTrainingRuntime a TrainJob runs on (Trainer ships it: ``torch-distributed``).
DEFAULT_RUNTIME = "torch-distributed"
#: Name of the runtime's trainer job and container (Trainer's ``node`` ancestor).
NODE_JOB = "node"
NODE_CONTAINER = "node"


def _jobs_count(workload: dict[str, Any], field: str) -> int:
    return sum(int(j.get(field) or 0) for j in (workload.get("status") or {}).get("jobsStatus") or [])


class TrainJobLauncher(common.ConfigAndWorkloadLauncher):
    """Renders and observes a Kubeflow Trainer ``TrainJob`` (suspended through ``spec.suspend``)."""

    name = "trainjob"
    api_version = TRAINJOB.api_version
    kind = TRAINJOB.kind
    workload_kind = TRAINJOB
    child_kinds: tuple[ResourceKind, ...] = (CONFIGMAP, TRAINJOB)
    required_kinds: tuple[ResourceKind, ...] = (TRAINJOB,)

    def render(self, ctx: RenderContext) -> list[dict[str, Any]]:
        """The run's ConfigMap and TrainJob."""
        spec = ctx.spec
        pod = common.pod_spec(ctx, container_name=NODE_CONTAINER)
        container = pod["containers"][0]
        template = common.pod_template(ctx, "worker", pod)
        trainer: dict[str, Any] = {
            "image": container["image"],
            "command": container["command"],
            "env": container["env"],
            "numNodes": ctx.plan.nodes,
            "numProcPerNode": max(ctx.plan.gpus_per_node, 1),
        }
        if container.get("resources"):
            trainer["resourcesPerNode"] = container["resources"]
        override_spec: dict[str, Any] = {
            "volumes": pod["volumes"],
            "containers": [{"name": NODE_CONTAINER, "volumeMounts": container["volumeMounts"]}],
        }
        for key in ("serviceAccountName", "nodeSelector", "tolerations", "imagePullSecrets"):
            if key in pod:
                override_spec[key] = pod[key]
        override: dict[str, Any] = {
            "targetJobs": [{"name": NODE_JOB}],
            "metadata": template["metadata"],
            "spec": override_spec,
        }
        child_labels = {k: v for k, v in ctx.labels.items() if k != LABEL_COMPONENT}
        job_spec: dict[str, Any] = {
            "runtimeRef": {
                "name": DEFAULT_RUNTIME,
                "apiGroup": CLUSTER_TRAINING_RUNTIME.group,
                "kind": CLUSTER_TRAINING_RUNTIME.kind,
            },
            "trainer": trainer,
            "podTemplateOverrides": [override],
            "labels": {**child_labels, LABEL_COMPONENT: "workload"},
            "suspend": spec.suspend or bool(spec.queue_name),
        }
        if spec.active_deadline_seconds is not None:
            job_spec["activeDeadlineSeconds"] = spec.active_deadline_seconds
        return self.config_and_workload(ctx, job_spec)

    def observe(self, children: list[dict[str, Any]]) -> WorkloadObservation:
        """Map the TrainJob's conditions and ``jobsStatus`` to a :class:`WorkloadObservation`."""
        job = self.workload_in(children)
        if job is None:
            return self.workload_missing()
        conds = common.true_conditions(job)
        suspended = self.is_suspended(job)
        base: dict[str, Any] = {"restarts": _jobs_count(job, "failed"), "suspended": suspended}
        queue = common.kueue_queue(job)

        def reason_message(kind: str, default: str) -> tuple[str, str]:
            cond = conds[kind]
            return str(cond.get("reason") or default), str(cond.get("message") or "")

        if "Complete" in conds:
            reason, message = reason_message("Complete", "TrainJobComplete")
            return WorkloadObservation(
                phase="Succeeded",
                reason=reason,
                message=message or "every node finished",
                completion_time=conds["Complete"].get("lastTransitionTime"),
                **base,
            )
        if "Failed" in conds:
            reason, message = reason_message("Failed", "TrainJobFailed")
            return WorkloadObservation(
                phase="Failed",
                reason=reason,
                message=message,
                completion_time=conds["Failed"].get("lastTransitionTime"),
                **base,
            )
        if suspended and queue and not common.user_suspended(job):
            return common.waiting_for_admission("the job", queue, **base)
        if suspended:
            return WorkloadObservation(
                phase="Suspended", reason="Suspended", message="the TrainJob is suspended", **base
            )
        admitted = True if queue else None
        active = _jobs_count(job, "active") + _jobs_count(job, "ready")
        if active > 0:
            return WorkloadObservation(
                phase="Running",
                reason="TrainJobRunning",
                message=f"{active} node job(s) active",
                admitted=admitted,
                **base,
            )
        return WorkloadObservation(
            phase="Queued",
            reason="WorkloadSubmitted",
            message="the TrainJob was created; waiting for Kubeflow Trainer to start its pods",
            admitted=admitted,
            **base,
        )


LAUNCHER = TrainJobLauncher()
