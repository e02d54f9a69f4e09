"""What a reconcile reads from the API server: the run's children, pods, launcher choice and model config.

Every read goes through :class:`RunReads`; the runner (:mod:`~training_hub_operator.runner`) puts what it
read into a :class:`~training_hub_operator.decision.ReconcileInput`.
"""

from __future__ import annotations

import logging
from typing import Any

from training_hub.contracts.kinds import CONFIGMAP, JOB, POD, TRAININGRUN, ResourceKind
from training_hub.storage.uri import pvc_claim
from training_hub_operator import children as ch
from training_hub_operator.api.validation import SpecError, ValidatedSpec, validate_spec
from training_hub_operator.hub_config import HubConfigs
from training_hub_operator.kube import Kube, KubeError
from training_hub_operator.launchers import get_launcher
from training_hub_operator.launchers.auto import LauncherChoice, choose_launcher
from training_hub_operator.launchers.base import Launcher
from training_hub_operator.model_config_sources import (
    config_from_configmap,
    config_from_inline,
    config_from_planning_pod,
    hub_model_id,
)
from training_hub_operator.naming import ChildNames, training_pods_selector
from training_hub_operator.planning import ModelConfig, PlanningError, needs_model_config
from training_hub_operator.settings import OperatorSettings

log = logging.getLogger("training_hub_operator")

#: A model config reached (or None), the planning error that says why not, and whether a planning pod is
#: still reading it.
ModelConfigResult = tuple[ModelConfig | None, PlanningError | None, bool]


def validated(run: dict[str, Any]) -> tuple[ValidatedSpec | None, SpecError | None]:
    """The run's validated spec, or the error that says why it is invalid."""
    try:
        return validate_spec(run.get("spec") or {}), None
    except SpecError as exc:
        return None, exc


class RunReads:
    """Reads of one operator process (the Hub config cache lives as long as it).

    Args:
        kube: API helper.
        settings: Operator settings.
    """

    def __init__(self, kube: Kube, settings: OperatorSettings) -> None:
        self.kube = kube
        self.settings = settings
        self.hub = HubConfigs()

    def run(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The TrainingRun as stored (None when it does not exist)."""
        return self.kube.get(TRAININGRUN, namespace, name)

    def choice(self, run: dict[str, Any], spec: ValidatedSpec | None) -> LauncherChoice | None:
        """The launcher the run records (once launched), else the one it asks for that the cluster serves."""
        status = run.get("status") or {}
        recorded = (status.get("launcher") or {}).get("name")
        if recorded and status.get("workload"):
            launcher = get_launcher(recorded)
            if launcher is not None:
                return LauncherChoice(launcher, "Recorded", (status.get("launcher") or {}).get("reason", ""))
        requested = spec.spec.launcher if spec else (run.get("spec") or {}).get("launcher", "auto")
        return choose_launcher(str(requested), self.kube.serves, self.incompatible)

    def incompatible(self, launcher: Launcher) -> str | None:
        """Why the served CRD of a launcher's workload is one it cannot render for (e.g. TrainJob on a Trainer
        older than v2.2), else None; reads the CRD only for a launcher that inspects one."""
        kind = launcher.compatibility_kind
        if kind is None:
            return None
        crd = self.kube.crd(kind)
        return launcher.compatibility(crd) if crd is not None else None

    def children(
        self, run: dict[str, Any], choice: LauncherChoice | None, names: ChildNames
    ) -> list[dict[str, Any]]:
        """The objects at the run's child names, read by name (one GET each: cheap on any API server, where
        a LIST by label reads every object of the kind in the namespace).

        Every object at one of the run's child names is kept, whoever owns it: decide() refuses to launch
        next to someone else's (``NameConflict``) and waits for an earlier same-named run's to go.
        """
        if choice is None or choice.launcher is None:
            return []
        if not run.get("status"):
            # Never reconciled: nothing of it should exist. Creating answers 409 for what does (adopted
            # then, see writes.RunWrites.apply), which costs nothing when nothing exists, unlike a GET per
            # child.
            return []
        launcher = choice.launcher
        ns = run["metadata"]["namespace"]
        wk = launcher.workload_kind
        out: list[dict[str, Any]] = []
        workload = None
        if self.kube.serves(wk):
            workload = self.child(wk, ns, names.workload)
            if workload is not None:
                out.append(workload)
        nodes = int(((run.get("status") or {}).get("plan") or {}).get("nodes") or 1)
        for kind, child in launcher.child_refs(names, nodes, workload):
            if (kind.kind, child) == (wk.kind, names.workload) or not self.kube.serves(kind):
                continue
            obj = self.child(kind, ns, child)
            if obj is not None:
                out.append(obj)  # someone else's at one of the run's names: decide() tells
        return out

    def child(self, kind: ResourceKind, namespace: str, name: str) -> dict[str, Any] | None:
        """One object, with its kind and apiVersion set (None when absent)."""
        obj = self.kube.get(kind, namespace, name)
        return ch.with_kind(obj, kind) if obj is not None else None

    def pods(self, run: dict[str, Any]) -> list[dict[str, Any]]:
        """The run's training pods (for failure reasons); best effort: an error gives none."""
        meta = run["metadata"]
        try:
            return self.kube.list(POD, meta["namespace"], label_selector=training_pods_selector(meta["name"]))
        except KubeError as exc:
            log.warning("could not list the pods of %s/%s: %s", meta["namespace"], meta["name"], exc)
            return []

    def is_current(self, run: dict[str, Any]) -> bool:
        """Whether ``run`` (a body this reconcile did not read) is the stored version."""
        meta = run["metadata"]
        current = self.run(meta["namespace"], meta["name"])
        return current is not None and (current.get("metadata") or {}).get("resourceVersion") == meta.get(
            "resourceVersion"
        )

    def model_config(self, run: dict[str, Any], spec: ValidatedSpec, names: ChildNames) -> ModelConfigResult:
        """Reach the model's config: inline, ConfigMap, hub, or a planning pod's report."""
        s = spec.spec
        status = run.get("status") or {}
        if status.get("plan") and status.get("workload"):
            return None, None, False
        try:
            inline = config_from_inline(s)
            if inline is not None:
                return inline, None, False
            if s.model.config_map_ref is not None:
                cm = self.kube.get(CONFIGMAP, run["metadata"]["namespace"], s.model.config_map_ref.name)
                return config_from_configmap(s, cm), None, False
        except PlanningError as exc:
            return None, exc, False
        if not needs_model_config(s):
            return None, None, False
        hub_id = hub_model_id(s.model.uri)
        if hub_id and s.model.allow_config_fetch:
            config, error = self.hub.get(hub_id, allowed=self.settings.allow_config_fetch)
            return config, error, False
        if pvc_claim(s.model.uri) and self.settings.planning_pods:
            return self._planning_pod_result(run, names)
        return None, None, False

    def _planning_pod_result(self, run: dict[str, Any], names: ChildNames) -> ModelConfigResult:
        ns = run["metadata"]["namespace"]
        job = self.kube.get(JOB, ns, names.planner)
        if job is None:
            return None, None, False  # decide() asks for the pod
        for pod in self.kube.list(POD, ns, label_selector=f"job-name={names.planner}"):
            try:
                cfg = config_from_planning_pod(pod)
            except PlanningError as exc:
                return None, exc, False
            if cfg is not None:
                return cfg, None, False
        return None, None, True
