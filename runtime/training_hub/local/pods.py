"""What a local "pod" is: the part of a Kubernetes pod the local executor needs to run it as a process."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any


class LocalExecutionError(Exception):
    """The rendered objects cannot be run locally (the message says why and what to change)."""


@dataclass
class LocalPod:
    """One pod to run as a local process.

    Attributes:
        name: Pod name (as the workload's controller would name it).
        namespace: Namespace of the pod.
        group: Name of the workload the pod belongs to (``Kind/name``); pods of a group train together.
        index: Position of the pod in its group (the node rank where the launcher assigns one).
        manifest: The pod as a Kubernetes object (``metadata`` and ``spec``; the env the workload's
            controller injects is already in it).
        retry_limit: How often the pod may fail before its group fails (the workload's backoff limit).
    """

    name: str
    namespace: str
    group: str
    index: int
    manifest: dict[str, Any]
    retry_limit: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> dict[str, Any]:
        """The pod's ``spec``."""
        return self.manifest.setdefault("spec", {})  # type: ignore[no-any-return]

    @property
    def metadata(self) -> dict[str, Any]:
        """The pod's ``metadata``."""
        return self.manifest.setdefault("metadata", {})  # type: ignore[no-any-return]

    @property
    def hostname(self) -> str:
        """The pod's hostname (``spec.hostname``, else its name, as the kubelet sets it)."""
        return str(self.spec.get("hostname") or self.name)

    @property
    def subdomain(self) -> str | None:
        """``spec.subdomain`` (the headless Service giving the pod a DNS name), if any."""
        sub = self.spec.get("subdomain")
        return str(sub) if sub else None

    @property
    def container(self) -> dict[str, Any]:
        """The pod's (first) container: the trainer."""
        containers = self.spec.get("containers") or []
        if not containers:
            raise LocalExecutionError(f"pod {self.name} has no containers")
        return containers[0]  # type: ignore[no-any-return]


def pod_from_template(
    template: dict[str, Any],
    *,
    name: str,
    namespace: str,
    group: str,
    index: int,
    retry_limit: int,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> LocalPod:
    """Make a :class:`LocalPod` from a pod template (``metadata`` + ``spec``), as a controller would.

    Args:
        template: A ``PodTemplateSpec`` (copied, never modified).
        name: Pod name.
        namespace: Namespace.
        group: The workload the pod belongs to.
        index: Position within the group.
        retry_limit: Failures allowed.
        labels: Extra labels (merged over the template's).
        annotations: Extra annotations (merged over the template's).

    Returns:
        The pod.
    """
    meta = copy.deepcopy(template.get("metadata") or {})
    meta["name"] = name
    meta["namespace"] = namespace
    meta["labels"] = {**(meta.get("labels") or {}), **(labels or {})}
    meta["annotations"] = {**(meta.get("annotations") or {}), **(annotations or {})}
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }
    return LocalPod(
        name=name, namespace=namespace, group=group, index=index, manifest=manifest, retry_limit=retry_limit
    )


def upsert_env(container: dict[str, Any], env: list[dict[str, Any]]) -> None:
    """Set env vars on a container, replacing same-named ones (Kubernetes' last-one-wins made explicit)."""
    names = {e["name"] for e in env}
    container["env"] = [e for e in container.get("env") or [] if e.get("name") not in names] + env
