"""What every launcher renders around its workload: the run spec (``run.json``) the pod template carries,
the metadata of its children and of the workload object, and the launch-time record of the spec.

A launcher builds its workload around :func:`training_hub_operator.launchers.training_pod.pod_spec`, whose
training container carries :func:`run_spec_json` in ``TRAINING_HUB_RUN_SPEC``. Why an environment
variable rather than a ConfigMap per run (the earlier contract) or a pod annotation read through a
``downwardAPI`` volume: it is one request fewer per launch than a ConfigMap and cannot be deleted under a
running job; and every launcher can carry it, a TrainJob included (``spec.trainer.env`` exists in every
Trainer v2 release, while the field that reaches the pod template's annotations changed between releases:
see :mod:`training_hub_operator.launchers.trainjob`), with no volume for the local kubelet to fill. Its limit
is Linux's 128 KiB per environment string (:data:`training_hub.pod.spec.MAX_RUN_SPEC_BYTES`), which
:func:`training_hub_operator.launchers.training_pod.run_spec_env` enforces while rendering, before anything
is created (``Accepted=False/RunSpecTooLarge``).

Its workload objects carry :func:`workload_metadata`;
:class:`~training_hub_operator.launchers.workload_state.SuspendField` suspends them, and a launcher whose
one child is one workload object builds on
:class:`~training_hub_operator.launchers.workload_state.OneWorkloadLauncher`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from training_hub.pod.spec import PlannedEngineSpec, PodRunSpec, RunIdentity
from training_hub.storage.uri import location_in_pod
from training_hub_operator.api.constants import (
    ANNOTATION_LAUNCHED_GENERATION,
    ANNOTATION_LAUNCHED_SPEC,
    ANNOTATION_USER_SUSPENDED,
    LABEL_COMPONENT,
)
from training_hub_operator.api.spec import TrainingRunSpec
from training_hub_operator.launchers.base import RenderContext

#: Kueue's labels on a workload: the LocalQueue it is submitted to and its WorkloadPriorityClass
#: (Kueue docs, "Workload Priority Class": the label names a WorkloadPriorityClass object).
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
KUEUE_PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"


class RenderError(ValueError):
    """The run cannot be rendered (a rule the schema could not express); the message says why."""

    #: Reason of the run's conditions.
    reason = "RenderFailed"


class RunSpecTooLarge(RenderError):
    """The run spec is longer than the training container's environment variable can carry."""

    reason = "RunSpecTooLarge"


def pod_run_spec(
    spec: TrainingRunSpec,
    hyperparameters: dict[str, Any],
    *,
    run_name: str,
    namespace: str,
    uid: str | None,
    generation: int | None,
    engine: PlannedEngineSpec | None = None,
) -> PodRunSpec:
    """The ``run.json`` of a run: algorithm keywords with locations mapped into the pod.

    ``engine`` is the backend the plan was made for (the pod runs exactly it); see
    :func:`training_hub_operator.planned_engine.pod_engine`.
    """
    params: dict[str, Any] = dict(hyperparameters)
    params.update(
        {
            "model_path": location_in_pod(spec.model.uri),
            "data_path": location_in_pod(spec.data.uri),
            "ckpt_output_dir": location_in_pod(spec.output.uri),
        }
    )
    if spec.backend != "auto":
        params["backend"] = spec.backend
    return PodRunSpec.model_validate(
        {
            "algorithm": spec.algorithm,
            "params": params,
            "run": RunIdentity(name=run_name, namespace=namespace, uid=uid, generation=generation),
            "engine": engine,
        }
    )


def metadata(ctx: RenderContext, name: str, component: str, **extra: Any) -> dict[str, Any]:
    """Metadata of a child: name, namespace, labels, controller owner reference."""
    labels = {**ctx.labels, LABEL_COMPONENT: component}
    meta: dict[str, Any] = {
        "name": name,
        "namespace": ctx.who.namespace,
        "labels": labels,
        "ownerReferences": [copy.deepcopy(ctx.owner_reference)],
    }
    meta.update(extra)
    return meta


def workload_metadata(ctx: RenderContext, name: str) -> dict[str, Any]:
    """Metadata of a workload object: launch-time annotations, the user-suspended marker, Kueue labels."""
    spec = ctx.spec
    annotations = {
        ANNOTATION_LAUNCHED_SPEC: ctx.launched_spec,
        ANNOTATION_LAUNCHED_GENERATION: str(ctx.who.generation),
    }
    if spec.suspend:
        annotations[ANNOTATION_USER_SUSPENDED] = "true"
    meta = metadata(ctx, name, "workload", annotations=annotations)
    if spec.queue_name:
        meta["labels"][KUEUE_QUEUE_LABEL] = spec.queue_name
        # Kueue reads this label as the name of a WorkloadPriorityClass (kueue.x-k8s.io/v1beta1), not a
        # PriorityClass; without it Kueue takes the priority from the pods' priorityClassName.
        if spec.runtime.workload_priority_class_name:
            meta["labels"][KUEUE_PRIORITY_LABEL] = spec.runtime.workload_priority_class_name
    return meta


def run_spec_json(ctx: RenderContext) -> str:
    """The run's ``run.json`` as compact JSON: the value of the training container's ``TRAINING_HUB_RUN_SPEC``."""
    return ctx.pod_run_spec.model_dump_json(by_alias=True)


def launched_spec_json(spec: dict[str, Any]) -> str:
    """Canonical JSON of a spec's launch-time fields (those that cannot change once the job runs)."""
    return json.dumps(
        {k: v for k, v in spec.items() if k not in MUTABLE_FIELDS}, sort_keys=True, separators=(",", ":")
    )


#: Spec fields that may change while the job runs (everything else is fixed at launch).
MUTABLE_FIELDS: frozenset[str] = frozenset({"suspend", "startDeadlineSeconds"})
