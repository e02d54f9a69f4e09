"""Runs waiting on their pods, re-checked cheaply: reconcile only those whose pods or create failures changed.

Pod changes trigger no reconcile (the operator watches workloads, not pods), so a launched run whose pods
do not run would learn why (``Unschedulable``, ``ImagePullFailed``, a refused create...) only at the full
resync. The resync thread re-checks these runs every few seconds instead, at a cost that does not grow
with them: per namespace, one LIST of the training pods and one of the Warning Events (only where a run
lacks pods), compared with what each run's last reconcile saw (:func:`signature`); only a run whose pods or
create-failure Events changed is reconciled.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from training_hub_operator import diagnosis
from training_hub_operator.api import constants as c
from training_hub_operator.naming import training_pods_selector

#: Every run's training pods, planning pods excluded.
POD_SELECTOR = training_pods_selector()

Signature = tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str, str], ...]]
#: The signature of a run with no pods and no create failures (most waiting runs): one shared tuple.
NOTHING_SEEN: Signature = ((), ())


@dataclass(frozen=True, slots=True)
class Waiting:
    """What a waiting run's last reconcile saw (one per launched run whose pods do not all run: slots, no
    per-instance ``__dict__``).

    Attributes:
        run_label: The run's ``traininghub.io/run`` label value (its pods carry it).
        workload_uid: Uid of its workload (create-failure Events name it).
        expected_pods: Pods its plan makes.
        seen: :func:`signature` of the pods and Events that reconcile decided from.
    """

    run_label: str
    workload_uid: str
    expected_pods: int
    seen: Signature


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def signature(
    pods: list[dict[str, Any]], events: list[dict[str, Any]], workload_uid: str, expected_pods: int
) -> Signature:
    """The state a waiting run's reason depends on: its pods (name, resourceVersion) and, while pods are
    missing, the create-failure Events of its workload (name, count, last time)."""
    pod_part = tuple(sorted((str(_meta(p).get("name")), str(_meta(p).get("resourceVersion"))) for p in pods))
    live = [p for p in pods if not _meta(p).get("deletionTimestamp")]
    event_part: tuple[tuple[str, str, str], ...] = ()
    if len(live) < expected_pods:
        event_part = tuple(
            sorted(
                (str(_meta(e).get("name")), str(e.get("count") or ""), str(e.get("lastTimestamp") or ""))
                for e in events
                if e.get("reason") in diagnosis.CREATE_FAILURE_REASONS
                and (e.get("involvedObject") or {}).get("uid") == workload_uid
            )
        )
    return (pod_part, event_part) if pod_part or event_part else NOTHING_SEEN


def changed(kube: Any, waiting: dict[str, Waiting]) -> list[str]:
    """The waiting runs (``namespace/name`` keys) whose pods or create failures changed since their last
    reconcile. Two LISTs per namespace at most; a failed LIST re-checks that namespace's runs."""
    from training_hub.contracts.kinds import POD
    from training_hub_operator.kube import KubeError

    by_namespace: dict[str, dict[str, Waiting]] = defaultdict(dict)
    for key, mark in waiting.items():
        by_namespace[key.partition("/")[0]][key] = mark
    out: list[str] = []
    for namespace, marks in by_namespace.items():
        try:
            pods = kube.list(POD, namespace, label_selector=POD_SELECTOR)
        except KubeError:
            out.extend(marks)
            continue
        by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for pod in pods:
            by_run[str((_meta(pod).get("labels") or {}).get(c.LABEL_RUN))].append(pod)
        lacking = any(
            len([p for p in by_run.get(m.run_label, []) if not _meta(p).get("deletionTimestamp")])
            < m.expected_pods
            for m in marks.values()
        )
        events = diagnosis.create_failures(kube, namespace) if lacking else []
        for key, mark in marks.items():
            now = signature(by_run.get(mark.run_label, []), events, mark.workload_uid, mark.expected_pods)
            if now != mark.seen:
                out.append(key)
    return out
