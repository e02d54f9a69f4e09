"""Launcher for Kubeflow Trainer v2: one ``TrainJob`` (``trainer.kubeflow.org/v1alpha1``).

Rendered for the Trainer API of v2.2 and later (followed: kubeflow/trainer v2.3.0,
``pkg/apis/trainer/v1alpha1/trainjob_types.go``). The TrainJob references the ``torch-distributed``
ClusterTrainingRuntime; Trainer turns it into a JobSet whose ``node`` replicated Job runs ``numNodes``
indexed pods. Trainer's torch plugin (v2.3.0 ``pkg/runtime/framework/plugins/torch/torch.go``) injects the
rendezvous (``PET_NNODES``, ``PET_NPROC_PER_NODE``, ``PET_NODE_RANK`` from the completion index,
``PET_MASTER_ADDR`` = ``<job>-node-0-0.<job>``, ``PET_MASTER_PORT`` = 29500) and refuses those names in
``spec.trainer.env``, so the trainer env carries none of them.

* ``spec.trainer``: ``image``, ``command`` (the pod entrypoint), ``env``, ``numNodes``, ``numProcPerNode``
  (GPUs per node, 1 on CPU) and ``resourcesPerNode``;
* ``spec.runtimePatches``: one patch of manager :data:`PATCH_MANAGER` (Trainer's webhook wants a
  domain-prefixed path, v2.3.0 ``pkg/runtime/framework/plugins/jobset/jobset.go``) that Trainer merges into
  the runtime's JobSet template with a strategic merge patch (v2.3.0 ``pkg/runtime/core/trainingruntime.go``
  ``mergeRuntimePatches``): the JobSet's labels, and for the ``node`` replicated job its Job labels and the
  pod template: labels/annotations, volumes (``pvc://`` claims, ``/dev/shm``, scratch), the
  ``node`` container's mounts and security context (no env there: the webhook refuses env for ``node``),
  service account, node selector, tolerations, pull secrets, pod security context, grace period;
* ``spec.suspend`` for ``spec.suspend`` and for Kueue; ``spec.activeDeadlineSeconds`` (new in v2.2).

Not expressible through a TrainJob (``PodSpecPatch``/``ContainerPatch`` of v2.3.0 have no such fields;
they belong to the runtime): the pods' ``priorityClassName``, the container's ports (the ``metrics`` port)
and a per-run backoff limit. ``spec.podSpecOverrides`` (v2.0), ``spec.podTemplateOverrides`` (v2.1) and
``spec.labels`` were removed in v2.2. A Trainer older than v2.2 does not know ``runtimePatches``: its API
server refuses the TrainJob (``fieldValidation=Strict``, Kubernetes 1.25+) or prunes the field, which the
operator notices on create (:mod:`training_hub_operator.write_checks`): the TrainJob is deleted and the
run is ``Stalled`` with the reason, instead of running pods without their volumes and labels.

Status comes from the TrainJob's conditions (``Suspended``, ``Complete``, ``Failed``) and ``jobsStatus``.
"""

from __future__ import annotations

from typing import Any

from training_hub.contracts.kinds import CLUSTER_TRAINING_RUNTIME, GROUP, TRAINJOB, ResourceKind
from training_hub_operator.api.constants import LABEL_COMPONENT
from training_hub_operator.launchers import training_pod, workload_state
from training_hub_operator.launchers.base import RenderContext, WorkloadObservation

#: The ClusterTrainingRuntime a TrainJob runs on (Trainer ships it: ``torch-distributed``).
DEFAULT_RUNTIME = "torch-distributed"
#: Name of the runtime's trainer job and container (Trainer's ``node`` ancestor).
NODE_JOB = "node"
NODE_CONTAINER = "node"


#: Manager of the operator's runtime patch (Trainer's webhook: a domain-prefixed path).
PATCH_MANAGER = f"{GROUP}/operator"
#: Pod spec fields a ``PodSpecPatch`` carries (v2.3.0 trainjob_types.go), in the order rendered.
POD_PATCH_FIELDS: tuple[str, ...] = (
    "serviceAccountName",
    "volumes",
    "imagePullSecrets",
    "securityContext",
    "nodeSelector",
    "affinity",
    "tolerations",
    "terminationGracePeriodSeconds",
)
#: Container fields a ``ContainerPatch`` carries besides its name (env is refused for ``node``).
CONTAINER_PATCH_FIELDS: tuple[str, ...] = ("volumeMounts", "securityContext")


def runtime_patch(
    pod: dict[str, Any], pod_metadata: dict[str, Any], labels: dict[str, str]
) -> dict[str, Any]:
    """The operator's ``RuntimePatch``: JobSet and Job labels, and the ``node`` pod template.

    Args:
        pod: The pod spec of :func:`training_pod.pod_spec` (its first container is ``node``).
        pod_metadata: Labels and annotations of the pods.
        labels: The run's labels (without a component) for the JobSet and its Jobs.
    """
    container = pod["containers"][0]
    container_patch: dict[str, Any] = {"name": NODE_CONTAINER}
    for key in CONTAINER_PATCH_FIELDS:
        if container.get(key):
            container_patch[key] = container[key]
    pod_patch: dict[str, Any] = {"containers": [container_patch]}
    for key in POD_PATCH_FIELDS:
        if key in pod:
            pod_patch[key] = pod[key]
    workload_labels = {**labels, LABEL_COMPONENT: "workload"}
    return {
        "manager": PATCH_MANAGER,
        "trainingRuntimeSpec": {
            "template": {
                "metadata": {"labels": workload_labels},
                "spec": {
                    "replicatedJobs": [
                        {
                            "name": NODE_JOB,
                            "template": {
                                "metadata": {"labels": workload_labels},
                                "spec": {"template": {"metadata": pod_metadata, "spec": pod_patch}},
                            },
                        }
                    ]
                },
            }
        },
    }


def _jobs_count(workload: dict[str, Any], field: str) -> int:
    return sum(int(j.get(field) or 0) for j in (workload.get("status") or {}).get("jobsStatus") or [])


class TrainJobLauncher(workload_state.OneWorkloadLauncher):
    """Renders and observes a Kubeflow Trainer ``TrainJob`` (suspended through ``spec.suspend``)."""

    name = "trainjob"
    workload_kind = TRAINJOB
    compatibility_kind: ResourceKind | None = TRAINJOB

    def render(self, ctx: RenderContext) -> list[dict[str, Any]]:
        """The run's TrainJob."""
        spec = ctx.spec
        pod = training_pod.pod_spec(ctx, container_name=NODE_CONTAINER)
        container = pod["containers"][0]
        template = training_pod.pod_template(ctx, "worker", pod)
        trainer: dict[str, Any] = {
            "image": container["image"],
            "command": container["command"],
            "env": container["env"],
            "numNodes": ctx.plan.nodes,
            "numProcPerNode": max(ctx.plan.gpus_per_node, 1),
        }
        if container.get("resources"):
            trainer["resourcesPerNode"] = container["resources"]
        child_labels = {k: v for k, v in ctx.labels.items() if k != LABEL_COMPONENT}
        job_spec: dict[str, Any] = {
            "runtimeRef": {
                "name": DEFAULT_RUNTIME,
                "apiGroup": CLUSTER_TRAINING_RUNTIME.group,
                "kind": CLUSTER_TRAINING_RUNTIME.kind,
            },
            "trainer": trainer,
            "runtimePatches": [runtime_patch(pod, template["metadata"], child_labels)],
            "suspend": spec.suspend or bool(spec.queue_name),
        }
        if spec.active_deadline_seconds is not None:
            job_spec["activeDeadlineSeconds"] = spec.active_deadline_seconds
        return self.one_workload(ctx, job_spec)

    def compatibility(self, crd: dict[str, Any]) -> str | None:
        """Why the served TrainJob CRD is not one this launcher renders for, or None.

        Trainer v2.0/v2.1 CRDs have no ``spec.runtimePatches`` (they have ``podSpecOverrides`` /
        ``podTemplateOverrides``): a TrainJob rendered for v2.2+ would lose every pod setting there.
        A CRD without a schema for ``spec`` (one that keeps unknown fields) is taken as compatible.
        """
        for version in (crd.get("spec") or {}).get("versions") or []:
            if version.get("name") != TRAINJOB.version:
                continue
            schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
            spec = (schema.get("properties") or {}).get("spec") or {}
            fields = spec.get("properties")
            if fields is not None and "runtimePatches" not in fields:
                older = [f for f in ("podTemplateOverrides", "podSpecOverrides") if f in fields]
                return (
                    f"the served TrainJob CRD has no spec.runtimePatches"
                    f"{' (it has spec.' + older[0] + ')' if older else ''}: Kubeflow Trainer older than v2.2 "
                    "is installed; upgrade it to v2.2 or later, or set spec.launcher to pytorchjob or native"
                )
            return None
        return f"the served TrainJob CRD has no version {TRAINJOB.version}"

    def observe(self, children: list[dict[str, Any]]) -> WorkloadObservation:
        """Map the TrainJob's conditions and ``jobsStatus`` to a :class:`WorkloadObservation`."""
        job = self.workload_in(children)
        if job is None:
            return self.workload_missing()
        conds = workload_state.true_conditions(job)
        suspended = self.is_suspended(job)
        base: dict[str, Any] = {"restarts": _jobs_count(job, "failed"), "suspended": suspended}
        queue = workload_state.kueue_queue(job)

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
        if suspended and queue and not workload_state.user_suspended(job):
            return workload_state.waiting_for_admission("the job", queue, **base)
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
        return WorkloadObservation.waiting(
            "WorkloadSubmitted",
            "the TrainJob was created; waiting for Kubeflow Trainer to start its pods",
            admitted,
            **base,
        )


LAUNCHER = TrainJobLauncher()
