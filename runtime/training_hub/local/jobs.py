"""What the Job controller creates: the pod of a bare ``Pod`` (itself), and the pods of a batch/v1 ``Job``
(one pod, or one per index for ``completionMode: Indexed``, annotated with its completion index). The
Kubeflow workloads (:mod:`~training_hub.local.pytorchjob`, :mod:`~training_hub.local.trainjob`) reuse the
helpers here."""

from __future__ import annotations

import copy
from typing import Any

from training_hub.contracts import pod_env
from training_hub.local.pods import LocalExecutionError, LocalPod, pod_from_template

JOB_COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
#: Kubernetes' default Job backoffLimit.
DEFAULT_JOB_BACKOFF_LIMIT = 6


def object_identity(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not name:
        raise LocalExecutionError(f"a {obj.get('kind', 'object')} without metadata.name cannot be run")
    return str(name), str(meta.get("namespace") or "default")


def env_int(container: dict[str, Any], name: str) -> int | None:
    for env in container.get("env") or []:
        if env.get("name") == name and isinstance(env.get("value"), str) and env["value"].isdigit():
            return int(env["value"])
    return None


def pods_of_pod(obj: dict[str, Any], index: int = 0) -> list[LocalPod]:
    """A bare Pod runs as itself (a failed bare pod is not recreated: ``retry_limit`` 0)."""
    name, namespace = object_identity(obj)
    pod = LocalPod(
        name=name, namespace=namespace, group=f"Pod/{name}", index=index, manifest=copy.deepcopy(obj)
    )
    rank = env_int(pod.container, pod_env.PET_NODE_RANK)
    pod.index = rank if rank is not None else index
    return [pod]


def indexed_job_pods(
    template: dict[str, Any],
    *,
    job_name: str,
    namespace: str,
    group: str,
    count: int,
    retry_limit: int,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
) -> list[LocalPod]:
    """The pods of an Indexed Job: pod ``i`` is ``<job_name>-<i>``, annotated with completion index ``i``.

    As the Job controller does, a pod with a ``subdomain`` and no ``hostname`` is given its name as hostname.
    """
    pods = []
    for i in range(count):
        pod = pod_from_template(
            template,
            name=f"{job_name}-{i}",
            namespace=namespace,
            group=group,
            index=i,
            retry_limit=retry_limit,
            labels=labels,
            annotations={**(annotations or {}), JOB_COMPLETION_INDEX_ANNOTATION: str(i)},
        )
        if pod.spec.get("subdomain") and not pod.spec.get("hostname"):
            pod.spec["hostname"] = pod.name
        pods.append(pod)
    return pods


def pods_of_job(obj: dict[str, Any], index: int = 0) -> list[LocalPod]:
    """The pods of a batch/v1 Job (one per completion index for Indexed Jobs)."""
    name, namespace = object_identity(obj)
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    limit = int(spec.get("backoffLimit", DEFAULT_JOB_BACKOFF_LIMIT))
    labels = {"job-name": name, "controller-uid": str((obj.get("metadata") or {}).get("uid", "local"))}
    if spec.get("completionMode") == "Indexed":
        return indexed_job_pods(
            template,
            job_name=name,
            namespace=namespace,
            group=f"Job/{name}",
            count=int(spec.get("completions") or 1),
            retry_limit=limit,
            labels=labels,
        )
    if int(spec.get("completions") or 1) != 1 or int(spec.get("parallelism") or 1) != 1:
        raise LocalExecutionError(
            f"Job {name}: only single-pod Jobs and Indexed Jobs can run locally (completions and parallelism 1)"
        )
    pod = pod_from_template(
        template,
        name=f"{name}-0",
        namespace=namespace,
        group=f"Job/{name}",
        index=index,
        retry_limit=limit,
        labels=labels,
    )
    rank = env_int(pod.container, pod_env.PET_NODE_RANK)
    if rank is not None:
        pod.index = rank
    return [pod]
