"""Deterministic names and labels of a TrainingRun's children (never ``generateName``).

A restarted operator finds what it created by name, so it adopts instead of creating twice.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from training_hub.contracts.kinds import API_VERSION, KIND
from training_hub_operator.api.constants import LABEL_COMPONENT, LABEL_MANAGED_BY, LABEL_RUN, MANAGED_BY

#: Longest workload name: pods and services are ``<name>-worker-<n>`` and must stay DNS-1035 labels (63).
MAX_WORKLOAD_NAME = 48
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _hash(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def bounded_name(base: str, max_len: int, *, dns1035: bool = True) -> str:
    """``base`` if it is short and valid enough, else a sanitised prefix plus a stable hash of ``base``.

    Args:
        base: The wanted name (a TrainingRun name, which is a DNS subdomain).
        max_len: Maximum length.
        dns1035: Require a DNS-1035 label (letters first, no dots), as Kubeflow job names must be.

    Returns:
        A deterministic name: the same input always gives the same output.
    """
    if len(base) <= max_len and (not dns1035 or _DNS1035.match(base)):
        return base
    clean = re.sub(r"[^-a-z0-9]", "-", base.lower())
    if dns1035 and not clean[:1].isalpha():
        clean = "tr-" + clean
    suffix = _hash(base)
    prefix = clean[: max_len - len(suffix) - 1].rstrip("-")
    return f"{prefix}-{suffix}"


@dataclass(frozen=True)
class ChildNames:
    """Names of a run's children."""

    workload: str
    planner: str


def child_names(run_name: str) -> ChildNames:
    """The names of every child of a run: ``<run>`` (workload), ``<run>-plan``.

    Operators before the run spec moved into the pod template also created ``<run>-config`` (a ConfigMap
    owned by the run, garbage-collected with it); nothing names it any more.
    """
    workload = bounded_name(run_name, MAX_WORKLOAD_NAME)
    return ChildNames(
        workload=workload,
        planner=bounded_name(f"{run_name}-plan", 52),
    )


def child_labels(run_name: str, component: str) -> dict[str, str]:
    """Labels of every child: which run it belongs to, which part it is, who manages it."""
    return {
        LABEL_RUN: bounded_name(run_name, 63, dns1035=False),
        LABEL_COMPONENT: component,
        LABEL_MANAGED_BY: MANAGED_BY,
    }


def training_pods_selector(run_name: str | None = None) -> str:
    """Label selector of a run's training pods, its planning pod excluded (``None``: every run's)."""
    run = LABEL_RUN if run_name is None else f"{LABEL_RUN}={child_labels(run_name, 'x')[LABEL_RUN]}"
    return f"{run},{LABEL_COMPONENT}!=planner"


def owner_reference(run: dict[str, object]) -> dict[str, object]:
    """A controller owner reference to a TrainingRun body (garbage collection deletes the children)."""
    meta = run["metadata"]
    assert isinstance(meta, dict)
    return {
        "apiVersion": run.get("apiVersion", API_VERSION),
        "kind": run.get("kind", KIND),
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
