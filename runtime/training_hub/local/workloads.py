"""Expand rendered workloads into the pods their controllers would create.

Supported kinds: ``Pod``, ``Job`` (one pod, or one per index for ``completionMode: Indexed``), Kubeflow's
``PyTorchJob`` (``kubeflow.org/v1``) and Kubeflow Trainer's ``TrainJob`` (``trainer.kubeflow.org/v1alpha1``).
For the Kubeflow kinds the env their controllers inject is added exactly as they add it:

* PyTorchJob (training-operator ``setPodEnv``): ``PYTHONUNBUFFERED``, ``MASTER_ADDR=<job>-master-0``,
  ``MASTER_PORT`` (the ``pytorchjob-port`` container port, default 23456), ``PET_MASTER_ADDR``,
  ``PET_MASTER_PORT``, ``WORLD_SIZE`` (replicas x nprocPerNode), ``RANK`` and ``PET_NODE_RANK`` (master 0,
  worker ``i`` -> ``i + 1``), ``PET_NPROC_PER_NODE``, ``PET_NNODES``.
* TrainJob (Trainer's torch plugin): ``PET_NNODES``, ``PET_NPROC_PER_NODE``, ``PET_NODE_RANK`` (the Job
  completion index), ``PET_MASTER_ADDR=<job>-node-0-0.<job>``, ``PET_MASTER_PORT=29400``; pods are those of
  the JobSet's ``node`` replicated Job (``<job>-node-0-<index>``, subdomain ``<job>``).

``ConfigMap``, ``Secret`` and ``Service`` objects are not workloads: the executor uses them for volumes,
env references and host names.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from training_hub.local.pods import LocalExecutionError, LocalPod, pod_from_template, upsert_env

#: PyTorchJob defaults of Kubeflow's training-operator.
PYTORCHJOB_CONTAINER = "pytorch"
PYTORCHJOB_PORT_NAME = "pytorchjob-port"
PYTORCHJOB_DEFAULT_PORT = 23456
#: TrainJob defaults of Kubeflow Trainer v2.
TRAINJOB_NODE_JOB = "node"
TRAINJOB_NODE_CONTAINER = "node"
TRAINJOB_MASTER_PORT = 29400
JOB_COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
#: Kubernetes' default Job backoffLimit.
DEFAULT_JOB_BACKOFF_LIMIT = 6

NON_WORKLOAD_KINDS = frozenset({"ConfigMap", "Secret", "Service", "ServiceAccount", "PersistentVolumeClaim"})


def _meta(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not name:
        raise LocalExecutionError(f"a {obj.get('kind', 'object')} without metadata.name cannot be run")
    return str(name), str(meta.get("namespace") or "default")


def _env_int(container: dict[str, Any], name: str) -> int | None:
    for env in container.get("env") or []:
        if env.get("name") == name and isinstance(env.get("value"), str) and env["value"].isdigit():
            return int(env["value"])
    return None


def pods_of_pod(obj: dict[str, Any], index: int = 0) -> list[LocalPod]:
    """A bare Pod runs as itself (a failed bare pod is not recreated: ``retry_limit`` 0)."""
    name, namespace = _meta(obj)
    pod = LocalPod(
        name=name, namespace=namespace, group=f"Pod/{name}", index=index, manifest=copy.deepcopy(obj)
    )
    rank = _env_int(pod.container, "PET_NODE_RANK")
    pod.index = rank if rank is not None else index
    return [pod]


def _indexed_job_pods(
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
    name, namespace = _meta(obj)
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    limit = int(spec.get("backoffLimit", DEFAULT_JOB_BACKOFF_LIMIT))
    labels = {"job-name": name, "controller-uid": str((obj.get("metadata") or {}).get("uid", "local"))}
    if spec.get("completionMode") == "Indexed":
        return _indexed_job_pods(
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
    rank = _env_int(pod.container, "PET_NODE_RANK")
    if rank is not None:
        pod.index = rank
    return [pod]


def _pytorchjob_port(template: dict[str, Any]) -> int:
    for container in (template.get("spec") or {}).get("containers") or []:
        if container.get("name") == PYTORCHJOB_CONTAINER:
            for port in container.get("ports") or []:
                if port.get("name") == PYTORCHJOB_PORT_NAME:
                    return int(port["containerPort"])
    return PYTORCHJOB_DEFAULT_PORT


def pods_of_pytorchjob(obj: dict[str, Any]) -> list[LocalPod]:
    """The pods Kubeflow's training-operator creates for a PyTorchJob, with the env it injects."""
    name, namespace = _meta(obj)
    spec = obj.get("spec") or {}
    replica_specs = spec.get("pytorchReplicaSpecs") or {}
    master = replica_specs.get("Master")
    if not master:
        raise LocalExecutionError(f"PyTorchJob {name} has no Master replica; local execution needs one")
    workers = replica_specs.get("Worker") or {}
    n_master = int(master.get("replicas", 1))
    n_workers = int(workers.get("replicas", 0)) if workers else 0
    total = n_master + n_workers
    nproc = str(spec.get("nprocPerNode") or (spec.get("elasticPolicy") or {}).get("nProcPerNode") or "1")
    nproc_int = int(nproc) if nproc.isdigit() else 1
    port = _pytorchjob_port(master.get("template") or {})
    master_addr = f"{name}-master-0"
    limit = int((spec.get("runPolicy") or {}).get("backoffLimit", DEFAULT_JOB_BACKOFF_LIMIT))
    pods: list[LocalPod] = []
    for rtype, rspec, count, offset in (("master", master, n_master, 0), ("worker", workers, n_workers, 1)):
        for i in range(count):
            rank = i + offset
            pod = pod_from_template(
                rspec.get("template") or {},
                name=f"{name}-{rtype}-{i}",
                namespace=namespace,
                group=f"PyTorchJob/{name}",
                index=rank,
                retry_limit=limit,
                labels={
                    "training.kubeflow.org/job-name": name,
                    "training.kubeflow.org/replica-type": rtype,
                    "training.kubeflow.org/replica-index": str(i),
                    "training.kubeflow.org/operator-name": "pytorchjob-controller",
                },
            )
            env = [
                {"name": "PYTHONUNBUFFERED", "value": "0"},
                {"name": "MASTER_PORT", "value": str(port)},
                {"name": "PET_MASTER_PORT", "value": str(port)},
                {"name": "MASTER_ADDR", "value": master_addr},
                {"name": "PET_MASTER_ADDR", "value": master_addr},
                {"name": "WORLD_SIZE", "value": str(total * nproc_int)},
                {"name": "RANK", "value": str(rank)},
                {"name": "PET_NPROC_PER_NODE", "value": nproc},
                {"name": "PET_NODE_RANK", "value": str(rank)},
                {"name": "PET_NNODES", "value": str(total)},
            ]
            for container in pod.spec.get("containers") or []:
                upsert_env(container, env)
            pods.append(pod)
    return pods


def default_training_runtime(name: str = "torch-distributed") -> dict[str, Any]:
    """The shape of Kubeflow Trainer's ``torch-distributed`` ClusterTrainingRuntime (used when none is given)."""
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "ClusterTrainingRuntime",
        "metadata": {"name": name},
        "spec": {
            "mlPolicy": {"numNodes": 1, "torch": {"numProcPerNode": "auto"}},
            "template": {
                "spec": {
                    "replicatedJobs": [
                        {
                            "name": TRAINJOB_NODE_JOB,
                            "template": {
                                "metadata": {
                                    "labels": {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}
                                },
                                "spec": {
                                    "template": {
                                        "spec": {
                                            "containers": [
                                                {
                                                    "name": TRAINJOB_NODE_CONTAINER,
                                                    "image": "pytorch/pytorch:latest",
                                                    "command": ["/bin/bash", "-c", "echo no command; exit 1"],
                                                }
                                            ]
                                        }
                                    }
                                },
                            },
                        }
                    ]
                }
            },
        },
    }


def _merge_named(base: list[dict[str, Any]], extra: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [copy.deepcopy(b) for b in base]
    for item in extra:
        for i, b in enumerate(out):
            if b.get("name") == item.get("name"):
                out[i] = copy.deepcopy(item)
                break
        else:
            out.append(copy.deepcopy(item))
    return out


def _apply_pod_overrides(template: dict[str, Any], overrides: list[dict[str, Any]], job_name: str) -> None:
    """Apply TrainJob ``podTemplateOverrides`` (or the older ``podSpecOverrides``) targeting ``job_name``."""
    for override in overrides:
        targets = [t.get("name") for t in override.get("targetJobs") or []]
        if job_name not in targets:
            continue
        meta_over = override.get("metadata") or {}
        meta = template.setdefault("metadata", {})
        for key in ("labels", "annotations"):
            if meta_over.get(key):
                meta[key] = {**(meta.get(key) or {}), **meta_over[key]}
        spec_over = override.get("spec") or override  # podSpecOverrides has the fields at the top level
        pod_spec = template.setdefault("spec", {})
        for key in (
            "serviceAccountName",
            "nodeSelector",
            "affinity",
            "tolerations",
            "schedulingGates",
            "imagePullSecrets",
            "securityContext",
        ):
            if key in spec_over:
                pod_spec[key] = copy.deepcopy(spec_over[key])
        if spec_over.get("volumes"):
            pod_spec["volumes"] = _merge_named(pod_spec.get("volumes") or [], spec_over["volumes"])
        for kind in ("containers", "initContainers"):
            for c_over in spec_over.get(kind) or []:
                for container in pod_spec.get(kind) or []:
                    if container.get("name") == c_over.get("name"):
                        if c_over.get("env"):
                            container["env"] = _merge_named(container.get("env") or [], c_over["env"])
                        if c_over.get("volumeMounts"):
                            container["volumeMounts"] = _merge_named(
                                container.get("volumeMounts") or [], c_over["volumeMounts"]
                            )


def pods_of_trainjob(obj: dict[str, Any], runtime: dict[str, Any] | None = None) -> list[LocalPod]:
    """The pods Kubeflow Trainer creates for a TrainJob through its runtime's JobSet, with the torch env.

    Args:
        obj: The TrainJob.
        runtime: The referenced (Cluster)TrainingRuntime; default: :func:`default_training_runtime`.
    """
    name, namespace = _meta(obj)
    spec = obj.get("spec") or {}
    runtime = runtime or default_training_runtime(str((spec.get("runtimeRef") or {}).get("name", "")))
    rspec = runtime.get("spec") or {}
    torch_policy = (rspec.get("mlPolicy") or {}).get("torch")
    if torch_policy is None:
        raise LocalExecutionError(f"TrainJob {name}: runtime {_meta(runtime)[0]} has no torch mlPolicy")
    replicated = ((rspec.get("template") or {}).get("spec") or {}).get("replicatedJobs") or []
    node_job = next((r for r in replicated if r.get("name") == TRAINJOB_NODE_JOB), None)
    if node_job is None:
        raise LocalExecutionError(f"TrainJob {name}: runtime has no replicated job {TRAINJOB_NODE_JOB!r}")
    job_spec = (node_job.get("template") or {}).get("spec") or {}
    template = copy.deepcopy(job_spec.get("template") or {})
    trainer = spec.get("trainer") or {}
    nnodes = int(trainer.get("numNodes") or (rspec.get("mlPolicy") or {}).get("numNodes") or 1)
    nproc = trainer.get("numProcPerNode", torch_policy.get("numProcPerNode", "auto"))
    if str(nproc) in ("auto", "cpu"):
        nproc = 1  # no GPUs here: the torch plugin falls back to the CPU count, one process on this machine
    containers = (template.setdefault("spec", {})).get("containers") or []
    node = next((c for c in containers if c.get("name") == TRAINJOB_NODE_CONTAINER), None)
    if node is None:
        raise LocalExecutionError(
            f"TrainJob {name}: runtime pod template has no container {TRAINJOB_NODE_CONTAINER!r}"
        )
    for key in ("image", "command", "args"):
        if trainer.get(key) is not None:
            node[key] = copy.deepcopy(trainer[key])
    if trainer.get("resourcesPerNode"):
        node["resources"] = copy.deepcopy(trainer["resourcesPerNode"])
    if trainer.get("env"):
        node["env"] = _merge_named(node.get("env") or [], trainer["env"])
    _apply_pod_overrides(
        template, spec.get("podTemplateOverrides") or spec.get("podSpecOverrides") or [], TRAINJOB_NODE_JOB
    )
    master_addr = f"{name}-{TRAINJOB_NODE_JOB}-0-0.{name}"
    upsert_env(
        node,
        [
            {"name": "PET_NNODES", "value": str(nnodes)},
            {"name": "PET_NPROC_PER_NODE", "value": str(nproc)},
            {
                "name": "PET_NODE_RANK",
                "valueFrom": {
                    "fieldRef": {"fieldPath": f"metadata.annotations['{JOB_COMPLETION_INDEX_ANNOTATION}']"}
                },
            },
            {"name": "PET_MASTER_ADDR", "value": master_addr},
            {"name": "PET_MASTER_PORT", "value": str(TRAINJOB_MASTER_PORT)},
        ],
    )
    # The JobSet's pods are hosts of its headless Service, each with its pod name as hostname.
    template["spec"]["subdomain"] = name
    template["spec"].pop("hostname", None)
    limit = int(job_spec.get("backoffLimit", 0))
    failure_policy = ((rspec.get("template") or {}).get("spec") or {}).get("failurePolicy") or {}
    limit = max(limit, int(failure_policy.get("maxRestarts", 0)))
    job_name = f"{name}-{TRAINJOB_NODE_JOB}-0"
    labels = {
        **(spec.get("labels") or {}),
        "jobset.sigs.k8s.io/jobset-name": name,
        "jobset.sigs.k8s.io/replicatedjob-name": TRAINJOB_NODE_JOB,
        "trainer.kubeflow.org/trainjob-ancestor-step": "trainer",
    }
    return _indexed_job_pods(
        template,
        job_name=job_name,
        namespace=namespace,
        group=f"TrainJob/{name}",
        count=nnodes,
        retry_limit=limit,
        labels=labels,
        annotations=spec.get("annotations"),
    )


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
