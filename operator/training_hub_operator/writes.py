"""What a reconcile writes to the API server: children created and patched, the status, Events, and the
patches and deletes that stop an ended run (:class:`RunWrites`)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

from training_hub.contracts.kinds import JOB, TRAININGRUN, ResourceKind
from training_hub_operator import children as ch
from training_hub_operator import faults, metrics, objectcheck
from training_hub_operator.api.validation import ValidatedSpec
from training_hub_operator.decision import Decision
from training_hub_operator.events import fold_events
from training_hub_operator.kube import Kube, KubeError
from training_hub_operator.model_config_sources import planning_job
from training_hub_operator.naming import ChildNames, child_labels, owner_reference
from training_hub_operator.settings import OperatorSettings
from training_hub_operator.write_checks import WriteReport

log = logging.getLogger("training_hub_operator")

#: ``(run, type, reason, message)``: posts an Event on the run.
EventPoster = Callable[[dict[str, Any], str, str, str], None]


def status_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The merge patch the operator writes for ``status``, leaving ``progress`` to the training pod.

    The pod patches ``status.progress`` concurrently; writing back the operator's (older) copy would move the
    progress backwards. ``progress`` is therefore only written when the operator itself changed it
    (:func:`~training_hub_operator.progress.final_progress`), and removed keys are set to null.
    """
    patch = {k: v for k, v in new.items() if k != "progress" or v != old.get("progress")}
    for k in old:
        if k not in new:
            patch[k] = None
    return patch


class RunWrites:
    """Writes of the operator.

    Args:
        kube: API helper.
        post_event: Posts an Event on a run.
    """

    def __init__(self, kube: Kube, post_event: EventPoster) -> None:
        self.kube = kube
        self.post_event = post_event

    def apply(
        self, run: dict[str, Any], decision: Decision, report: WriteReport | None = None
    ) -> tuple[list[dict[str, Any]], set[tuple[str, str]]]:
        """Create and patch children; return them as the API server answered (an object that already
        existed is read back: adopted if it is the run's, else nothing more is created), and the
        ``(kind, name)`` of those created now. ``report`` collects what the API server said about the
        creates (warnings, pruned fields, refusals: see :mod:`training_hub_operator.write_checks`).

        Raises:
            CreateRefused: When the API server refused a create that retrying cannot fix.
        """
        ns = run["metadata"]["namespace"]
        uid = run["metadata"].get("uid")
        report = report if report is not None else WriteReport()
        out: list[dict[str, Any]] = []
        created: set[tuple[str, str]] = set()
        made_now: list[tuple[ResourceKind, str]] = []
        for kind, obj in decision.creates:
            name = obj["metadata"]["name"]
            try:
                warnings: list[str] = []
                made = self.kube.create(kind, obj, warnings=warnings)
                made_now.append((kind, name))
                log.info("created %s %s/%s", kind.kind, ns, name, extra={"run": run["metadata"]["name"]})
                for text in warnings:
                    log.warning("API server warning on creating %s %s/%s: %s", kind.kind, ns, name, text)
                report.warnings(kind, name, warnings)
                metrics.CHILDREN_CREATED.labels(kind=kind.kind).inc()
                if isinstance(made, dict) and made.get("metadata"):
                    report.created(kind, obj, made)
                    if report.delete:
                        log.warning("%s %s/%s lost fields on create: deleting it", kind.kind, ns, name)
                        break
                    out.append({"kind": kind.kind, "apiVersion": kind.api_version, **made})
                    created.add((kind.kind, name))
            except KubeError as exc:
                if exc.status in objectcheck.PERMANENT_CREATE_STATUSES:
                    log.warning("the API server refused %s %s/%s: %s", kind.kind, ns, name, exc)
                    raise objectcheck.CreateRefused(kind.kind, name, str(exc), made_now) from None
                if not exc.conflict:
                    raise
                existing = self.kube.get(kind, ns, name)
                if existing is not None:
                    out.append(ch.with_kind(existing, kind))
                    if not ch.has_owner(existing, uid):
                        # Someone else's (or an earlier run's) object at this name: create nothing more
                        # (a job must never use it); reconcile.settle reports why.
                        log.info("%s %s/%s exists and is not this run's: not launching", kind.kind, ns, name)
                        break
                    log.info("%s %s/%s already exists: adopting", kind.kind, ns, name)
            faults.checkpoint(f"created-{kind.kind.lower()}")
        for kind, name, patch in decision.patches:
            warnings = []
            patched = self.kube.patch(kind, ns, name, patch, warnings=warnings)
            log.info("patched %s %s/%s: %s", kind.kind, ns, name, patch)
            for text in warnings:
                log.warning("API server warning on patching %s %s/%s: %s", kind.kind, ns, name, text)
            report.warnings(kind, name, warnings)
            if isinstance(patched, dict) and patched.get("metadata"):
                out.append({"kind": kind.kind, "apiVersion": kind.api_version, **patched})
        return out, created

    def delete(self, run: dict[str, Any], kind: ResourceKind, name: str) -> None:
        """Delete one child of the run."""
        self.kube.delete(kind, run["metadata"]["namespace"], name)

    def status(self, run: dict[str, Any], decision: Decision) -> str | None:
        """Write the status if it changed and post the events; return the ``resourceVersion`` the write
        stored (None when nothing was written)."""
        old = run.get("status") or {}
        new = decision.status
        stored: str | None = None
        if new != old:
            # status.progress belongs to the training pod (it patches it concurrently): never write back
            # an older copy of it (see status_patch).
            patch: dict[str, Any] = copy.deepcopy(status_patch(old, new))
            faults.checkpoint("before-status")
            body: dict[str, Any] = {"status": patch}
            rv = run["metadata"].get("resourceVersion")
            if rv:  # optimistic concurrency: 409 Conflict if the run changed since it was read
                body["metadata"] = {"resourceVersion": rv}
            written = self.kube.patch(
                TRAININGRUN, run["metadata"]["namespace"], run["metadata"]["name"], body, subresource="status"
            )
            metrics.STATUS_WRITES.inc()
            meta = written.get("metadata") if isinstance(written, dict) else None
            stored = str(meta["resourceVersion"]) if meta and meta.get("resourceVersion") else None
        # One Normal Event per reconcile for the transitions it made, a Warning each (events.fold_events).
        reasons = {str(c.get("reason")) for c in decision.status.get("conditions") or []}
        for type_, reason, message in fold_events(decision.events, reasons):
            try:
                self.post_event(run, type_, reason, message)
            except KubeError as exc:  # events are best effort
                log.warning("could not post event %s: %s", reason, exc)
        return stored

    def stop(self, run: dict[str, Any], decision: Decision) -> None:
        """Apply the patches (suspend) and deletes that stop an ended run's workload."""
        ns = run["metadata"]["namespace"]
        for kind, name, patch in decision.patches:
            try:
                self.kube.patch(kind, ns, name, patch)
            except KubeError as exc:
                if not exc.not_found:  # gone already: nothing runs
                    raise
                continue
            log.info("stopped %s %s/%s: %s", kind.kind, ns, name, patch)
        for kind, name in decision.deletes:
            self.kube.delete(kind, ns, name)
            log.info("deleted %s %s/%s (the run ended)", kind.kind, ns, name)

    def start_planning_pod(
        self, run: dict[str, Any], spec: ValidatedSpec | None, names: ChildNames, settings: OperatorSettings
    ) -> None:
        """Create the run's planning Job (it reads the model's config.json from its PVC)."""
        if spec is None:
            return
        meta = run["metadata"]
        job = planning_job(
            name=names.planner,
            namespace=meta["namespace"],
            owner=owner_reference(run),
            labels=child_labels(meta["name"], "planner"),
            spec=spec.spec,
            settings=settings,
        )
        try:
            self.kube.create(JOB, job)
            log.info("started planning job %s/%s", meta["namespace"], names.planner)
        except KubeError as exc:
            if not exc.conflict:
                raise

    def delete_planning_job(self, run: dict[str, Any], names: ChildNames) -> None:
        """Delete the run's planning Job once the run launched (when it exists)."""
        ns = run["metadata"]["namespace"]
        if self.kube.get(JOB, ns, names.planner) is not None:
            self.kube.delete(JOB, ns, names.planner)
