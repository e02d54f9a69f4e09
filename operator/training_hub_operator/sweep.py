"""The full resync's bulk read: which runs' children or pods changed since their last reconcile.

The full resync (every ``full_resync_seconds``) is the safety net for a child event the operator missed. It
reads the children in bulk, not per run: per namespace (or cluster-wide), paged LISTs by label selector of
each child kind the runs have (their workloads: ``managed-by`` label) and of the training pods,
so its cost is O(N/page) requests, not O(N). Each listed object is compared, as it streams by, with what the
run's last reconcile decided from (:attr:`Runner.seen`: every child's ``resourceVersion``; a fingerprint of
its pods, :func:`fingerprint`). Only a run with a child changed, gone or new, or pods that differ, is
reconciled; memory stays one page of bodies plus a counter per run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from training_hub.contracts.kinds import JOB, POD, SERVICE, ResourceKind
from training_hub_operator.api import constants as c
from training_hub_operator.kube import Kube
from training_hub_operator.launchers import available_launchers
from training_hub_operator.naming import child_labels
from training_hub_operator.waiting import POD_SELECTOR

#: Objects per page of a list (kopf's listing at start, the resyncs'): at 10,000 runs one list is tens of
#: MiB of JSON; the operator never holds more than a page of bodies.
LIST_PAGE_SIZE = 500
#: Every run's children (the planning Job is not one).
CHILD_SELECTOR = f"{c.LABEL_MANAGED_BY}={c.MANAGED_BY},{c.LABEL_COMPONENT}!=planner"
_MASK = (1 << 64) - 1


def fingerprint(pods: list[dict[str, Any]]) -> int:
    """An order-independent fingerprint of pods' ``(name, resourceVersion)``: equal when they are the same
    pods at the same versions (within this process)."""
    total = 0
    for pod in pods:
        meta = pod.get("metadata") or {}
        total += hash((str(meta.get("name")), str(meta.get("resourceVersion"))))
    return total & _MASK


def paged(
    kube: Kube, path: str, query: list[tuple[str, str]], page_size: int = LIST_PAGE_SIZE
) -> Iterator[Any]:
    """The items of a collection, read in pages of ``page_size`` (``limit``/``continue``); one page is held
    at a time. (``resourceVersion=0``, the watch cache, would ignore ``limit`` on Kubernetes < 1.27, so the
    pages are read from etcd.)"""
    token = ""
    while True:
        data = kube.request(
            "GET", path, query=[*query, ("limit", str(page_size))] + ([("continue", token)] if token else [])
        )
        yield from data.get("items") or []
        token = str((data.get("metadata") or {}).get("continue") or "")
        del data
        if not token:
            return


def child_kinds() -> dict[str, ResourceKind]:
    """Every kind a launcher creates as a run's child, by its ``kind`` name."""
    kinds = [
        SERVICE,
        JOB,
        *(launcher.workload_kind for launcher in available_launchers().values()),
    ]
    return {kind.kind: kind for kind in kinds}


def changed_runs(
    kube: Kube,
    namespaces: list[str],
    seen: Mapping[str, tuple[tuple[str, str, str], ...]],
    pods_seen: Mapping[str, int],
    page_size: int = LIST_PAGE_SIZE,
) -> set[str]:
    """The runs (``namespace/name``) of ``seen`` whose children or pods differ from what their last reconcile
    decided from.

    Args:
        kube: API helper.
        namespaces: The operator's namespaces (empty: every namespace, listed cluster-wide).
        seen: Per run, ``(kind, name, resourceVersion)`` of each child its last reconcile decided from.
        pods_seen: Per run, the :func:`fingerprint` of the pods it decided from (absent: none).
        page_size: Objects per page.
    """
    by_label: dict[tuple[str, str], str] = {}
    for key in seen:
        namespace, _, name = key.partition("/")
        by_label[(namespace, child_labels(name, "x")[c.LABEL_RUN])] = key
    kinds = child_kinds()
    listed = {kinds[k] for children in seen.values() for k, _, _ in children if k in kinds}
    matched: Counter[str] = Counter()
    pods: dict[str, int] = {}
    out: set[str] = set()
    scopes: list[str | None] = [*namespaces] or [None]

    def owner(obj: dict[str, Any], scope: str | None) -> str | None:
        meta = obj.get("metadata") or {}
        label = (meta.get("labels") or {}).get(c.LABEL_RUN)
        return by_label.get((str(scope or meta.get("namespace")), str(label)))

    for kind in sorted(listed, key=lambda k: k.kind):
        if not kube.serves(kind):
            continue  # its children are gone: their runs do not match below
        for scope in scopes:
            for obj in paged(kube, kind.path(scope), [("labelSelector", CHILD_SELECTOR)], page_size):
                run = owner(obj, scope)
                if run is None:
                    continue
                meta = obj["metadata"]
                if (kind.kind, str(meta.get("name")), str(meta.get("resourceVersion"))) in seen[run]:
                    matched[run] += 1
                else:
                    out.add(run)  # changed, or new since
    for scope in scopes:
        for pod in paged(kube, POD.path(scope), [("labelSelector", POD_SELECTOR)], page_size):
            run = owner(pod, scope)
            if run is not None:
                pods[run] = (pods.get(run, 0) + fingerprint([pod])) & _MASK
    for key, children in seen.items():
        if matched[key] != len(children) or pods.get(key, 0) != pods_seen.get(key, 0):
            out.add(key)  # a child gone, or pods changed
    return out
