"""The pods Kubeflow's training-operator creates for a ``PyTorchJob`` (``kubeflow.org/v1``), with the env it
injects.

As kubeflow/training-operator v1.9 (``pkg/controller.v1/pytorch/envvar.go`` ``setPodEnv`` and
``master.go``/``elastic.go``; pods ``<job>-<replica type>-<index>`` with the ``training.kubeflow.org/*``
labels): ``PYTHONUNBUFFERED``, ``MASTER_ADDR=<job>-master-0``, ``MASTER_PORT`` (the ``pytorchjob-port``
container port, default 23456), ``PET_MASTER_ADDR``, ``PET_MASTER_PORT``, ``WORLD_SIZE`` (replicas x
nprocPerNode), ``RANK`` and ``PET_NODE_RANK`` (master 0, worker ``i`` -> ``i + 1``), ``PET_NPROC_PER_NODE``,
``PET_NNODES``.
"""

from __future__ import annotations

from typing import Any

from training_hub.contracts import pod_env
from training_hub.local.jobs import DEFAULT_JOB_BACKOFF_LIMIT, object_identity
from training_hub.local.pods import LocalExecutionError, LocalPod, pod_from_template, upsert_env

#: PyTorchJob defaults of Kubeflow's training-operator.
PYTORCHJOB_CONTAINER = "pytorch"
PYTORCHJOB_PORT_NAME = "pytorchjob-port"
PYTORCHJOB_DEFAULT_PORT = 23456


def _pytorchjob_port(template: dict[str, Any]) -> int:
    for container in (template.get("spec") or {}).get("containers") or []:
        if container.get("name") == PYTORCHJOB_CONTAINER:
            for port in container.get("ports") or []:
                if port.get("name") == PYTORCHJOB_PORT_NAME:
                    return int(port["containerPort"])
    return PYTORCHJOB_DEFAULT_PORT


def pods_of_pytorchjob(obj: dict[str, Any]) -> list[LocalPod]:
    """The pods Kubeflow's training-operator creates for a PyTorchJob, with the env it injects."""
    name, namespace = object_identity(obj)
    spec = obj.get("spec") or {}
    replica_specs = spec.get("pytorchReplicaSpecs") or {}
    master = replica_specs.get("Master")
    if not master:
        raise LocalExecutionError(f"PyTorchJob {name} has no Master replica; local execution needs one")
    # As training-operator v1.9's webhook (pkg/webhooks/pytorchjob_webhook.go): one Master, and every
    # replica's pod template has a container named "pytorch" with an image.
    if int(master.get("replicas", 1)) != 1:
        raise LocalExecutionError(f"PyTorchJob {name}: the Master replica must have 1 replica")
    for rtype, rspec in replica_specs.items():
        containers = ((rspec.get("template") or {}).get("spec") or {}).get("containers") or []
        if not any(c.get("name") == PYTORCHJOB_CONTAINER and c.get("image") for c in containers):
            raise LocalExecutionError(
                f"PyTorchJob {name}: {rtype} has no container {PYTORCHJOB_CONTAINER!r} with an image"
            )
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
                {"name": pod_env.PYTHONUNBUFFERED, "value": "0"},
                {"name": pod_env.MASTER_PORT, "value": str(port)},
                {"name": pod_env.PET_MASTER_PORT, "value": str(port)},
                {"name": pod_env.MASTER_ADDR, "value": master_addr},
                {"name": pod_env.PET_MASTER_ADDR, "value": master_addr},
                {"name": pod_env.WORLD_SIZE, "value": str(total * nproc_int)},
                {"name": pod_env.RANK, "value": str(rank)},
                {"name": pod_env.PET_NPROC_PER_NODE, "value": nproc},
                {"name": pod_env.PET_NODE_RANK, "value": str(rank)},
                {"name": pod_env.PET_NNODES, "value": str(total)},
            ]
            for container in pod.spec.get("containers") or []:
                upsert_env(container, env)
            pods.append(pod)
    return pods
