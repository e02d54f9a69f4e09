"""Operator-wide settings (command-line flags and environment), passed to the pure parts."""

from __future__ import annotations

import os
from dataclasses import dataclass

from training_hub_operator.durations import parse_duration

DEFAULT_IMAGE = "quay.io/training-hub/runtime:latest"
#: Default start deadline (``TRAINING_HUB_START_DEADLINE_SECONDS``): 30 minutes for the pods to start.
DEFAULT_START_DEADLINE_SECONDS = 1800.0
#: Default period of the full resync (``TRAINING_HUB_FULL_RESYNC_SECONDS``): every unfinished run, 10 min.
DEFAULT_FULL_RESYNC_SECONDS = 600.0
#: Default planning time budget (``TRAINING_HUB_PLANNING_BUDGET_SECONDS``): a plan takes milliseconds.
DEFAULT_PLANNING_BUDGET_SECONDS = 10.0


@dataclass(frozen=True)
class OperatorSettings:
    """Settings that do not come from a TrainingRun.

    Attributes:
        default_image: Runtime image when ``spec.runtime.image`` is unset.
        default_gpu_memory: GPU memory the planner assumes when a run names neither ``gpuMemory`` nor
            ``gpuProduct`` (a quantity such as ``80Gi``; None: the run must say).
        allow_config_fetch: Whether runs may ask the operator to fetch ``config.json`` from the Hugging
            Face Hub (``spec.model.allowConfigFetch``); a cluster without internet turns it off.
        planning_pods: Whether the operator may run a short planning pod that reads ``config.json`` from
            the model's PVC when no other source is given.
        pod_fs_group: ``fsGroup`` of training pods, so PVCs are writable by the non-root user.
        resync_seconds: Period of the level-triggered resync: every unfinished TrainingRun is listed and
            those that need it are reconciled (unknown to this process, changed since its last reconcile,
            or a timer due: the start deadline, the stall timeout).
        full_resync_seconds: Period of the full resync, which also reconciles every unfinished TrainingRun
            whose children or pods changed since its last reconcile, read in bulk (the safety net for a
            missed child event, :mod:`~training_hub_operator.sweep`).
        stall_timeout_seconds: A running run with no training step for this long gets ``Stalled=True``
            (``NoProgress``); 0 disables; a run's ``traininghub.io/stall-timeout`` annotation overrides it.
        default_service_account: ServiceAccount of training pods when ``spec.runtime.serviceAccountName`` is
            unset (the chart's runtime account, whose Role lets rank 0 patch ``trainingruns/status``).
        runtime_progress: ``auto`` (training pods report ``status.progress`` when they have API credentials)
            or ``off``; passed to pods as ``TRAINING_HUB_PROGRESS``.
        runtime_progress_interval: Minimum seconds between two progress patches of a run (None: the
            runtime's default, 15); passed as ``TRAINING_HUB_PROGRESS_INTERVAL``.
        metrics_port: Port of the training pods' Prometheus endpoint (``TRAINING_HUB_METRICS_PORT`` in the
            pod, container port ``metrics``); 0: none.
        start_deadline_seconds: A launched run whose pods have not all started this long after the
            workload was created (or resumed, or admitted by Kueue) fails with ``StartDeadlineExceeded``
            (``ImagePullFailed`` when the image cannot be pulled); 0 disables; ``spec.startDeadlineSeconds``
            overrides it per run.
        planning_budget_seconds: Time budget of planning one run (the estimator's search over layouts); a
            run whose planning takes longer fails with ``Planned=False``, reason ``PlanningTimeout``, so no
            single run can hold a reconcile worker for long; 0 disables.
    """

    default_image: str = DEFAULT_IMAGE
    default_gpu_memory: str | None = None
    allow_config_fetch: bool = True
    planning_pods: bool = True
    pod_fs_group: int | None = 1000
    resync_seconds: float = 60.0
    full_resync_seconds: float = DEFAULT_FULL_RESYNC_SECONDS
    stall_timeout_seconds: float = 1800.0
    default_service_account: str | None = None
    metrics_port: int = 9400
    runtime_progress: str = "auto"
    runtime_progress_interval: float | None = None
    start_deadline_seconds: float = DEFAULT_START_DEADLINE_SECONDS
    planning_budget_seconds: float = DEFAULT_PLANNING_BUDGET_SECONDS

    @classmethod
    def from_env(cls) -> OperatorSettings:
        """Settings from ``TRAINING_HUB_*`` environment variables (defaults otherwise)."""

        def flag(name: str, default: bool) -> bool:
            v = os.environ.get(name)
            return default if v is None else v.strip().lower() in ("1", "true", "yes", "on")

        fs_group = os.environ.get("TRAINING_HUB_POD_FS_GROUP")
        interval = os.environ.get("TRAINING_HUB_RUNTIME_PROGRESS_INTERVAL", "").strip()
        return cls(
            default_image=os.environ.get("TRAINING_HUB_DEFAULT_IMAGE", DEFAULT_IMAGE),
            default_gpu_memory=os.environ.get("TRAINING_HUB_DEFAULT_GPU_MEMORY") or None,
            allow_config_fetch=flag("TRAINING_HUB_ALLOW_CONFIG_FETCH", True),
            planning_pods=flag("TRAINING_HUB_PLANNING_PODS", True),
            pod_fs_group=int(fs_group) if fs_group not in (None, "") else 1000,
            resync_seconds=float(os.environ.get("TRAINING_HUB_RESYNC_SECONDS", "60")),
            full_resync_seconds=float(
                os.environ.get("TRAINING_HUB_FULL_RESYNC_SECONDS", "").strip() or DEFAULT_FULL_RESYNC_SECONDS
            ),
            stall_timeout_seconds=parse_duration(os.environ.get("TRAINING_HUB_STALL_TIMEOUT", "30m")),
            default_service_account=os.environ.get("TRAINING_HUB_DEFAULT_SERVICE_ACCOUNT") or None,
            metrics_port=int(os.environ.get("TRAINING_HUB_RUNTIME_METRICS_PORT", "9400") or 0),
            runtime_progress=os.environ.get("TRAINING_HUB_RUNTIME_PROGRESS", "auto").strip().lower()
            or "auto",
            runtime_progress_interval=float(interval) if interval else None,
            start_deadline_seconds=parse_duration(
                os.environ.get("TRAINING_HUB_START_DEADLINE_SECONDS", "").strip()
                or DEFAULT_START_DEADLINE_SECONDS
            ),
            planning_budget_seconds=float(
                os.environ.get("TRAINING_HUB_PLANNING_BUDGET_SECONDS", "").strip()
                or DEFAULT_PLANNING_BUDGET_SECONDS
            ),
        )
