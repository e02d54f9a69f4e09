"""The pods Kubeflow Trainer creates for a ``TrainJob`` (``trainer.kubeflow.org/v1alpha1``) through its
runtime's JobSet, with the env its torch plugin injects, and the checks of Trainer's webhook.

Followed at Trainer v2.3.0: the operator-side ``spec.runtimePatches`` are merged into the runtime's JobSet
template with a strategic merge patch (``pkg/runtime/core/trainingruntime.go`` ``mergeRuntimePatches``; list
merge keys from the ``patchMergeKey`` tags of ``k8s.io/api`` and JobSet's ``replicatedJobs``),
``spec.trainer`` fills the ``node`` container (``image``, ``command``, ``args``, ``resourcesPerNode``,
``env`` upserted), and the torch plugin (``pkg/runtime/framework/plugins/torch/torch.go``
``EnforceMLPolicy``) adds ``PET_NNODES``, ``PET_NPROC_PER_NODE`` (``numProcPerNode``, else ``auto``: the CPU
count without GPUs), ``PET_NODE_RANK`` (the Job completion index), ``PET_MASTER_ADDR=<job>-node-0-0.<job>``,
``PET_MASTER_PORT=29500`` (``pkg/constants/constants.go`` ``ContainerTrainerPort``) and that container port.
Pods are those of the JobSet's ``node`` replicated Job (Job ``<job>-node-0``, pod hostnames
``<job>-node-0-<index>``, subdomain ``<job>``, JobSet's ``jobset.sigs.k8s.io/*`` labels).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

from training_hub.contracts import pod_env
from training_hub.local.jobs import JOB_COMPLETION_INDEX_ANNOTATION, indexed_job_pods, object_identity
from training_hub.local.pods import LocalExecutionError, LocalPod, upsert_env

#: TrainJob defaults of Kubeflow Trainer v2.
TRAINJOB_NODE_JOB = "node"
TRAINJOB_NODE_CONTAINER = "node"
#: Trainer v2 ``constants.ContainerTrainerPort`` (v2.0.0 to v2.3.0).
TRAINJOB_MASTER_PORT = 29500
#: Trainer v2 ``constants.LabelTrainJobAncestor`` / ``AncestorTrainer``.
TRAINJOB_ANCESTOR_LABEL = "trainer.kubeflow.org/trainjob-ancestor-step"
TRAINJOB_ANCESTOR_TRAINER = "trainer"


def default_training_runtime(name: str = "torch-distributed") -> dict[str, Any]:
    """Kubeflow Trainer's ``torch-distributed`` ClusterTrainingRuntime as v2.3.0 ships it
    (``manifests/base/runtimes/torch_distributed.yaml``; used when none is given)."""
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "ClusterTrainingRuntime",
        "metadata": {"name": name, "labels": {"trainer.kubeflow.org/framework": "torch"}},
        "spec": {
            "mlPolicy": {"numNodes": 1, "torch": {}},
            "template": {
                "spec": {
                    "replicatedJobs": [
                        {
                            "name": TRAINJOB_NODE_JOB,
                            "template": {
                                "metadata": {"labels": {TRAINJOB_ANCESTOR_LABEL: TRAINJOB_ANCESTOR_TRAINER}},
                                "spec": {
                                    "template": {
                                        "spec": {
                                            "containers": [
                                                {
                                                    "name": TRAINJOB_NODE_CONTAINER,
                                                    "image": "pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime",
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


#: Merge keys of the lists a strategic merge patch of a JobSet spec merges (the ``patchMergeKey`` tags of
#: ``k8s.io/api/core/v1/types.go`` and JobSet's ``replicatedJobs``); every other list is replaced.
SMP_MERGE_KEYS: dict[str, str] = {
    "replicatedJobs": "name",
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "schedulingGates": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}


def strategic_merge(base: Any, patch: Any, field: str = "") -> Any:
    """A strategic merge patch as ``k8s.io/apimachinery`` applies it to the fields above: maps merge key by
    key (``null`` deletes), lists of :data:`SMP_MERGE_KEYS` merge item by key, other lists and scalars are
    replaced."""
    if isinstance(patch, dict) and isinstance(base, dict):
        out = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = strategic_merge(out.get(key), value, key)
        return out
    merge_key = SMP_MERGE_KEYS.get(field)
    if merge_key and isinstance(patch, list) and isinstance(base, list):
        merged = [copy.deepcopy(b) for b in base]
        for item in patch:
            for i, b in enumerate(merged):
                if b.get(merge_key) == item.get(merge_key):
                    merged[i] = strategic_merge(b, item)
                    break
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(patch)


def _merge_named(base: list[dict[str, Any]], extra: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Upsert by ``name`` (Trainer's ``apply.UpsertEnvVars``: a later value replaces an earlier one)."""
    out = [copy.deepcopy(b) for b in base]
    for item in extra:
        for i, b in enumerate(out):
            if b.get("name") == item.get("name"):
                out[i] = copy.deepcopy(item)
                break
        else:
            out.append(copy.deepcopy(item))
    return out


def apply_runtime_patches(template: dict[str, Any], patches: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The runtime's JobSet template with a TrainJob's ``runtimePatches`` merged in, in order.

    As Trainer v2.3.0 ``trainingruntime.go``: each patch's ``trainingRuntimeSpec.template.spec`` is merged
    into the JobSet spec (strategic merge, replicated jobs keep the runtime's order), and the labels and
    annotations of each patch's ``template.metadata`` are added to the JobSet's.
    """
    out = copy.deepcopy(template)
    order = [r.get("name") for r in (out.get("spec") or {}).get("replicatedJobs") or []]
    for patch in patches:
        tmpl = (patch.get("trainingRuntimeSpec") or {}).get("template") or {}
        meta = tmpl.get("metadata") or {}
        for key in ("labels", "annotations"):
            if meta.get(key):
                target = out.setdefault("metadata", {})
                target[key] = {**(target.get(key) or {}), **meta[key]}
        if tmpl.get("spec") is not None:
            out["spec"] = strategic_merge(out.get("spec") or {}, tmpl["spec"])
    jobs = (out.get("spec") or {}).get("replicatedJobs")
    if jobs:
        jobs.sort(key=lambda r: order.index(r.get("name")) if r.get("name") in order else len(order))
    return out


def _cpu_count(resources: dict[str, Any]) -> int:
    """Trainer's ``getNumCPUPerNode``: the CPU request (else limit) as an integer, 0 when unset."""
    for section in ("requests", "limits"):
        cpu = str((resources.get(section) or {}).get("cpu") or "")
        if cpu:
            return max(int(float(cpu[:-1]) / 1000) if cpu.endswith("m") else int(float(cpu)), 0)
    return 0


#: Trainer v2.3.0 ``constants.TorchRunReservedEnvNames``: refused in ``spec.trainer.env``.
TORCHRUN_RESERVED_ENV = frozenset(
    {
        pod_env.PET_NNODES,
        pod_env.PET_NPROC_PER_NODE,
        pod_env.PET_NODE_RANK,
        pod_env.PET_MASTER_ADDR,
        pod_env.PET_MASTER_PORT,
    }
)
#: A domain-prefixed path (``k8s.io/apimachinery`` ``validation.IsDomainPrefixedPath``).
_DOMAIN_PREFIXED = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/\S+$")


def validate_trainjob(obj: dict[str, Any], runtime: dict[str, Any]) -> list[str]:
    """What Trainer's admission webhook refuses in a TrainJob on a torch runtime (v2.3.0
    ``pkg/runtime/framework/plugins/torch/torch.go`` ``Validate`` and
    ``pkg/runtime/framework/plugins/jobset/jobset.go`` ``Validate``): reserved ``PET_*`` names in
    ``spec.trainer.env``; a runtime patch manager that is not a domain-prefixed path; a patched replicated
    job or container the runtime does not have; env in a patch of the ``node`` container."""
    spec = obj.get("spec") or {}
    errors: list[str] = []
    reserved = sorted(
        e.get("name")
        for e in (spec.get("trainer") or {}).get("env") or []
        if e.get("name") in TORCHRUN_RESERVED_ENV
    )
    if reserved:
        errors.append(f"spec.trainer.env: must not have reserved envs, invalid envs configured: {reserved}")
    jobs = (((runtime.get("spec") or {}).get("template") or {}).get("spec") or {}).get("replicatedJobs") or []
    containers_of = {
        r.get("name"): {
            c.get("name")
            for kind in ("containers", "initContainers")
            for c in (
                (((r.get("template") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
            ).get(kind)
            or []
        }
        for r in jobs
    }
    for patch in spec.get("runtimePatches") or []:
        if not _DOMAIN_PREFIXED.match(str(patch.get("manager") or "")):
            errors.append(
                f"spec.runtimePatches.manager: {patch.get('manager')!r} is not a domain-prefixed path"
            )
        tmpl_spec = ((patch.get("trainingRuntimeSpec") or {}).get("template") or {}).get("spec") or {}
        for rjob in tmpl_spec.get("replicatedJobs") or []:
            known = containers_of.get(rjob.get("name"))
            if known is None:
                errors.append(
                    "spec.runtimePatches: must not have replicated job that doesn't exist in the runtime"
                )
                continue
            pod = (((rjob.get("template") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
            for kind in ("containers", "initContainers"):
                for container in pod.get(kind) or []:
                    if container.get("name") not in known:
                        errors.append(
                            f"spec.runtimePatches: {kind} {container.get('name')!r} not in the runtime"
                        )
                    elif container.get("env") and container.get("name") == TRAINJOB_NODE_CONTAINER:
                        errors.append("spec.runtimePatches: must not have envs for the node container")
    return errors


def pods_of_trainjob(obj: dict[str, Any], runtime: dict[str, Any] | None = None) -> list[LocalPod]:
    """The pods Kubeflow Trainer creates for a TrainJob through its runtime's JobSet, with the torch env.

    Args:
        obj: The TrainJob.
        runtime: The referenced (Cluster)TrainingRuntime; default: :func:`default_training_runtime`.
    """
    name, namespace = object_identity(obj)
    spec = obj.get("spec") or {}
    runtime = runtime or default_training_runtime(str((spec.get("runtimeRef") or {}).get("name", "")))
    refused = validate_trainjob(obj, runtime)
    if refused:
        raise LocalExecutionError(f"TrainJob {name} is refused by Trainer's webhook: {'; '.join(refused)}")
    rspec = runtime.get("spec") or {}
    ml_policy = rspec.get("mlPolicy") or {}
    if ml_policy.get("torch") is None:
        raise LocalExecutionError(
            f"TrainJob {name}: runtime {object_identity(runtime)[0]} has no torch mlPolicy"
        )
    jobset = apply_runtime_patches(rspec.get("template") or {}, spec.get("runtimePatches") or [])
    replicated = (jobset.get("spec") or {}).get("replicatedJobs") or []
    node_job = next(
        (
            r
            for r in replicated
            if ((r.get("template") or {}).get("metadata") or {})
            .get("labels", {})
            .get(TRAINJOB_ANCESTOR_LABEL)
            == TRAINJOB_ANCESTOR_TRAINER
        ),
        None,
    )
    if node_job is None:
        raise LocalExecutionError(
            f"TrainJob {name}: runtime has no replicated job labelled "
            f"{TRAINJOB_ANCESTOR_LABEL}={TRAINJOB_ANCESTOR_TRAINER}"
        )
    job_template = node_job.get("template") or {}
    job_spec = job_template.get("spec") or {}
    template = copy.deepcopy(job_spec.get("template") or {})
    trainer = spec.get("trainer") or {}
    nnodes = int(trainer.get("numNodes") or ml_policy.get("numNodes") or 1)
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
        node["resources"] = strategic_merge(node.get("resources") or {}, trainer["resourcesPerNode"])
    resources = node.get("resources") or {}
    if trainer.get("numProcPerNode") is not None:
        nproc = str(trainer["numProcPerNode"])
    elif any("gpu" in k for s in resources.values() for k in (s or {})):
        nproc = "auto"
    else:
        nproc = str(max(1, _cpu_count(resources)))
    if trainer.get("env"):
        node["env"] = _merge_named(node.get("env") or [], trainer["env"])
    upsert_env(
        node,
        [
            {"name": pod_env.PET_NNODES, "value": str(nnodes)},
            {"name": pod_env.PET_NPROC_PER_NODE, "value": nproc},
            {
                "name": pod_env.PET_NODE_RANK,
                "valueFrom": {
                    "fieldRef": {"fieldPath": f"metadata.annotations['{JOB_COMPLETION_INDEX_ANNOTATION}']"}
                },
            },
            {"name": pod_env.PET_MASTER_ADDR, "value": f"{name}-{TRAINJOB_NODE_JOB}-0-0.{name}"},
            {"name": pod_env.PET_MASTER_PORT, "value": str(TRAINJOB_MASTER_PORT)},
        ],
    )
    ports = node.setdefault("ports", [])
    if not any(p.get("containerPort") == TRAINJOB_MASTER_PORT for p in ports):
        ports.append({"containerPort": TRAINJOB_MASTER_PORT})
    # JobSet (enableDNSHostnames): the pods are hosts of its headless Service, subdomain = JobSet name.
    template["spec"]["subdomain"] = name
    template["spec"].pop("hostname", None)
    limit = int(job_spec.get("backoffLimit", 0))
    failure_policy = (jobset.get("spec") or {}).get("failurePolicy") or {}
    limit = max(limit, int(failure_policy.get("maxRestarts", 0)))
    rjob = str(node_job.get("name"))
    job_name = f"{name}-{rjob}-0"
    # JobSet's pod labels (sigs.k8s.io/jobset api/jobset/v1alpha2 constants), over the template's own.
    labels = {
        "jobset.sigs.k8s.io/jobset-name": name,
        "jobset.sigs.k8s.io/replicatedjob-name": rjob,
        "jobset.sigs.k8s.io/replicatedjob-replicas": "1",
        "jobset.sigs.k8s.io/job-index": "0",
        "jobset.sigs.k8s.io/restart-attempt": "0",
        "job-name": job_name,
    }
    return indexed_job_pods(
        template,
        job_name=job_name,
        namespace=namespace,
        group=f"TrainJob/{name}",
        count=nnodes,
        retry_limit=limit,
        labels=labels,
    )
