"""Expand rendered workloads into the pods their controllers would create.

Supported kinds: ``Pod`` and ``Job`` (:mod:`~training_hub.local.jobs`), Kubeflow's ``PyTorchJob``
(:mod:`~training_hub.local.pytorchjob`) and Kubeflow Trainer's ``TrainJob``
(:mod:`~training_hub.local.trainjob`); for the Kubeflow kinds the env their controllers inject is added
exactly as they add it.

``ConfigMap``, ``Secret`` and ``Service`` objects are not workloads: the executor uses them for volumes,
env references and host names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from training_hub.local.jobs import pods_of_job, pods_of_pod
from training_hub.local.pods import LocalExecutionError, LocalPod
from training_hub.local.pytorchjob import pods_of_pytorchjob
from training_hub.local.trainjob import pods_of_trainjob

NON_WORKLOAD_KINDS = frozenset({"ConfigMap", "Secret", "Service", "ServiceAccount", "PersistentVolumeClaim"})


def expand(objects: Iterable[dict[str, Any]], runtimes: Iterable[dict[str, Any]] = ()) -> list[LocalPod]:
    """The pods of every workload among ``objects``, ordered by index (node rank).

    Args:
        objects: Rendered Kubernetes objects (dicts).
        runtimes: (Cluster)TrainingRuntimes that TrainJobs may reference.

    Returns:
        The pods, workloads in the given order, pods within a workload by index.

    Raises:
        LocalExecutionError: For a workload kind this executor cannot run.
    """
    by_name = {str((r.get("metadata") or {}).get("name")): r for r in runtimes}
    pods: list[LocalPod] = []
    position = 0
    for obj in objects:
        kind = obj.get("kind")
        if kind in NON_WORKLOAD_KINDS:
            continue
        if kind == "Pod":
            found = pods_of_pod(obj, position)
        elif kind == "Job":
            found = pods_of_job(obj, position)
        elif kind == "PyTorchJob":
            found = pods_of_pytorchjob(obj)
        elif kind == "TrainJob":
            ref = str(((obj.get("spec") or {}).get("runtimeRef") or {}).get("name", ""))
            found = pods_of_trainjob(obj, by_name.get(ref))
        else:
            raise LocalExecutionError(f"cannot run a {obj.get('apiVersion')}/{kind} locally")
        pods.extend(found)
        position += len(found)
    return sorted(pods, key=lambda p: p.index)
