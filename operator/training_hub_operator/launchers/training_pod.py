"""The training pod every launcher runs: its spec (one training container running
:data:`training_hub.pod.spec.POD_COMMAND`), volumes and mounts (PVCs, /dev/shm, scratch),
resources, env (the run spec, the user's, the observability settings, the object store's credentials),
security context and template."""

from __future__ import annotations

import copy
from typing import Any

from training_hub.contracts import pod_env
from training_hub.pod.spec import (
    MAX_RUN_SPEC_BYTES,
    POD_COMMAND,
    PVC_MOUNT_ROOT,
    SCRATCH_DIR_ENV,
    SCRATCH_MOUNT_PATH,
    TERMINATION_GRACE_ENV,
    TERMINATION_GRACE_SECONDS,
)
from training_hub.storage.uri import pvc_claim
from training_hub_operator.api.constants import LABEL_COMPONENT, is_reserved_env
from training_hub_operator.api.spec import pvc_claims, uses_object_store
from training_hub_operator.launchers.base import RenderContext
from training_hub_operator.launchers.common import RenderError, RunSpecTooLarge, run_spec_json
from training_hub_operator.naming import bounded_name

SHM_VOLUME = "dshm"
#: The emptyDir where ``s3://`` locations are staged and an ``s3://`` output is trained into.
SCRATCH_VOLUME = "scratch"
#: Keys of the ``spec.storage.secretRef`` Secret (the standard AWS variable names); the last is optional.
STORAGE_SECRET_KEYS = pod_env.STORAGE_SECRET_KEYS
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
#: Name of the training container's Prometheus port (the chart's PodMonitor selects it).
METRICS_PORT_NAME = "metrics"


def _volume_name(claim: str) -> str:
    return bounded_name(f"pvc-{claim}", 63)


def volumes_and_mounts(ctx: RenderContext) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Volumes of the pod and mounts of the training container.

    Every ``pvc://`` claim is mounted at ``/mnt/pvc/<claim>`` (read-only unless the output is on it); the
    memory-backed ``/dev/shm``; a scratch emptyDir when a location is on an object store.
    """
    spec = ctx.spec
    out_claim = pvc_claim(spec.output.uri)
    writable = {out_claim} if out_claim else set()
    volumes: list[dict[str, Any]] = [
        {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": spec.resources.shm_size}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": SHM_VOLUME, "mountPath": "/dev/shm"},
    ]
    for claim in pvc_claims(spec):
        vol = _volume_name(claim)
        ro = claim not in writable
        volumes.append({"name": vol, "persistentVolumeClaim": {"claimName": claim, "readOnly": ro}})
        mounts.append({"name": vol, "mountPath": f"{PVC_MOUNT_ROOT}/{claim}", "readOnly": ro})
    if uses_object_store(spec):
        volumes.append({"name": SCRATCH_VOLUME, "emptyDir": {}})
        mounts.append({"name": SCRATCH_VOLUME, "mountPath": SCRATCH_MOUNT_PATH})
    return volumes, mounts


def storage_env(ctx: RenderContext) -> list[dict[str, Any]]:
    """Object-store variables of the training container: credentials from ``spec.storage.secretRef``, the
    endpoint and region, and the scratch directory ``s3://`` locations are staged into.

    Every pod trains into its own scratch volume; rank 0 mirrors the checkpoints, and on a restart the first
    rank of every node restores the newest complete one from the bucket.
    """
    spec = ctx.spec
    if not uses_object_store(spec):
        return []
    out: list[dict[str, Any]] = [{"name": SCRATCH_DIR_ENV, "value": SCRATCH_MOUNT_PATH}]
    storage = spec.storage
    if storage is None:
        return out
    if storage.secret_ref is not None:
        for key in STORAGE_SECRET_KEYS:
            ref: dict[str, Any] = {"name": storage.secret_ref.name, "key": key}
            if key == pod_env.AWS_SESSION_TOKEN:
                ref["optional"] = True
            out.append({"name": key, "valueFrom": {"secretKeyRef": ref}})
    if storage.endpoint:
        out.append({"name": pod_env.AWS_ENDPOINT_URL_S3, "value": storage.endpoint})
    if storage.region:
        out.append({"name": pod_env.AWS_DEFAULT_REGION, "value": storage.region})
    return out


def resources(ctx: RenderContext) -> dict[str, Any]:
    """Requests and limits of the training container (GPUs from the plan)."""
    r = ctx.spec.resources
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    if ctx.plan.gpus_per_node > 0:
        limits[GPU_RESOURCE] = str(ctx.plan.gpus_per_node)
        requests[GPU_RESOURCE] = str(ctx.plan.gpus_per_node)
    if r.cpu:
        limits["cpu"] = requests["cpu"] = r.cpu
    if r.memory:
        limits["memory"] = requests["memory"] = r.memory
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def run_spec_env(ctx: RenderContext) -> dict[str, Any]:
    """The ``TRAINING_HUB_RUN_SPEC`` variable carrying the run's ``run.json``.

    The kubelet expands ``$(VAR)`` in env values and reads ``$$`` as ``$`` (``third_party/forked/golang/
    expansion``), so every ``$`` of the JSON is doubled: the process gets the JSON exactly, whatever user
    strings (paths, hyperparameters) it holds.

    Raises:
        RunSpecTooLarge: If the spec is longer than an environment string may be (Linux's ``MAX_ARG_STRLEN``),
            so that the run fails before anything is created instead of pods failing to start.
    """
    value = run_spec_json(ctx)
    size = len(value.encode("utf-8"))
    if size > MAX_RUN_SPEC_BYTES:
        raise RunSpecTooLarge(
            f"the run spec the pods receive (run.json: algorithm, hyperparameters, locations) is {size} bytes as "
            f"JSON, more than the {MAX_RUN_SPEC_BYTES} bytes the environment variable {pod_env.RUN_SPEC} can "
            "carry (Linux limits one environment string to 128 KiB): shorten spec.hyperparameters (move long "
            "values such as chat templates into the model or data location)"
        )
    return {"name": pod_env.RUN_SPEC, "value": value.replace("$", "$$")}


def env(ctx: RenderContext) -> list[dict[str, Any]]:
    """Environment of the training container (run spec and identity, user variables, HF token).

    Raises:
        RenderError: If a reserved name (``PET_*``, ``MASTER_*``, ``WORLD_SIZE``, ``RANK``,
            ``TRAINING_HUB_RUN_SPEC``...) is set, or the run spec is too long (:func:`run_spec_env`).
    """
    rt = ctx.spec.runtime
    out: list[dict[str, Any]] = [
        run_spec_env(ctx),
        {"name": pod_env.RUN_NAME, "value": ctx.who.name},
        {"name": pod_env.RUN_NAMESPACE, "value": ctx.who.namespace},
        {"name": pod_env.PYTHONUNBUFFERED, "value": "1"},
        # the launcher in the pod waits this long (less a margin) before killing the ranks after SIGTERM
        {"name": TERMINATION_GRACE_ENV, "value": str(TERMINATION_GRACE_SECONDS)},
    ]
    # Observability (docs/observability.md): rank 0 reports progress to this run and serves metrics.
    # TRAINING_HUB_RUN is "<namespace>/<name>": a value no host-name rewriting can mistake for a host.
    out.append({"name": pod_env.RUN, "value": f"{ctx.who.namespace}/{ctx.who.name}"})
    if ctx.who.uid:
        out.append({"name": pod_env.RUN_UID, "value": ctx.who.uid})
    if ctx.settings.metrics_port:
        out.append({"name": pod_env.METRICS_PORT, "value": str(ctx.settings.metrics_port)})
    if ctx.settings.runtime_progress != "auto":
        out.append({"name": pod_env.PROGRESS, "value": ctx.settings.runtime_progress})
    if ctx.settings.runtime_progress_interval is not None:
        out.append(
            {"name": pod_env.PROGRESS_INTERVAL, "value": f"{ctx.settings.runtime_progress_interval:g}"}
        )
    if ctx.plan.gpus_per_node == 0:
        out.append({"name": pod_env.OMP_NUM_THREADS, "value": "1"})
    if rt.hf_token_secret_ref is not None:
        ref = rt.hf_token_secret_ref
        out.append(
            {"name": pod_env.HF_TOKEN, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}
        )
    out.extend(storage_env(ctx))
    for var in rt.env:
        if is_reserved_env(var.name):
            raise RenderError(f"environment variable {var.name} is reserved for the launcher")
        out = [e for e in out if e["name"] != var.name]
        out.append(var.model_dump(by_alias=True, exclude_none=True))
    return out


def container_security_context() -> dict[str, Any]:
    """Restricted security context of the training container."""
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_spec(
    ctx: RenderContext,
    *,
    container_name: str,
    restart_policy: str | None = None,
    extra_env: list[dict[str, Any]] | None = None,
    ports: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A pod spec running the training entrypoint.

    Args:
        ctx: The render context.
        container_name: Name of the training container (``pytorch`` for PyTorchJob).
        restart_policy: The pod's restartPolicy, if the launcher sets it there.
        extra_env: Launcher-owned variables (rendezvous); reserved names are allowed here only.
        ports: Container ports.

    Returns:
        The ``spec`` of a pod template.
    """
    rt = ctx.spec.runtime
    volumes, mounts = volumes_and_mounts(ctx)
    container: dict[str, Any] = {
        "name": container_name,
        "image": rt.image or ctx.settings.default_image,
        "command": list(POD_COMMAND),
        "env": env(ctx) + list(extra_env or []),
        "resources": resources(ctx),
        "volumeMounts": mounts,
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if rt.image_pull_policy:
        container["imagePullPolicy"] = rt.image_pull_policy
    if rt.env_from_secrets:
        container["envFrom"] = [{"secretRef": {"name": s.name}} for s in rt.env_from_secrets]
    all_ports = list(ports or [])
    if ctx.settings.metrics_port and not any(p.get("name") == METRICS_PORT_NAME for p in all_ports):
        all_ports.append(
            {"name": METRICS_PORT_NAME, "containerPort": ctx.settings.metrics_port, "protocol": "TCP"}
        )
    if all_ports:
        container["ports"] = all_ports
    pod_security: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if ctx.settings.pod_fs_group is not None:
        pod_security["fsGroup"] = ctx.settings.pod_fs_group
        pod_security["fsGroupChangePolicy"] = "OnRootMismatch"
    spec: dict[str, Any] = {
        "containers": [container],
        "volumes": volumes,
        "securityContext": pod_security,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
    }
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    if rt.service_account_name or ctx.settings.default_service_account:
        spec["serviceAccountName"] = rt.service_account_name or ctx.settings.default_service_account
    node_selector = dict(rt.node_selector)
    if ctx.spec.resources.gpu_product and ctx.plan.gpus_per_node > 0:
        node_selector.setdefault(GPU_PRODUCT_LABEL, ctx.spec.resources.gpu_product)
    if node_selector:
        spec["nodeSelector"] = node_selector
    tolerations = [copy.deepcopy(t) for t in rt.tolerations]
    if ctx.plan.gpus_per_node > 0 and not any(t.get("key") == GPU_RESOURCE for t in tolerations):
        tolerations.append({"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"})
    if tolerations:
        spec["tolerations"] = tolerations
    if rt.priority_class_name:
        spec["priorityClassName"] = rt.priority_class_name
    if rt.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s.name} for s in rt.image_pull_secrets]
    return spec


def pod_template(ctx: RenderContext, component: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A pod template with the run's labels (plus ``spec.runtime.labels``/``annotations``)."""
    labels = {**ctx.spec.runtime.labels, **ctx.labels, LABEL_COMPONENT: component}
    meta: dict[str, Any] = {"labels": labels}
    if ctx.spec.runtime.annotations:
        meta["annotations"] = dict(ctx.spec.runtime.annotations)
    return {"metadata": meta, "spec": spec}
