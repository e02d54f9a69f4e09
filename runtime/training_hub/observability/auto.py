"""The callbacks a training process gets without asking: configured by the environment the operator sets.

The engine calls :func:`runtime_callbacks` on rank 0. In a training pod (``TRAINING_HUB_RUN=<namespace>/<name>`` set by the operator):

* a :class:`~training_hub.observability.reporter.StatusReporter` when API credentials are available (the
  pod's service account, or ``TRAINING_HUB_KUBECONFIG``/``KUBECONFIG`` in local execution) and
  ``TRAINING_HUB_PROGRESS`` is not ``off``; interval ``TRAINING_HUB_PROGRESS_INTERVAL`` (seconds, default 15);
* a :class:`~training_hub.observability.exporter.MetricsExporter` when ``TRAINING_HUB_METRICS_PORT`` is set
  (``0``: any free port; ``off``: none).

Outside a pod (no run name) only the exporter can be asked for. A setting that cannot work (a port in use,
no credentials) is logged and skipped: observability never stops training.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from training_hub.contracts import pod_env
from training_hub.errors import InvalidInputError

log = logging.getLogger("training_hub.observability")

ENV_RUN = pod_env.RUN
ENV_RUN_NAME = pod_env.RUN_NAME
ENV_RUN_NAMESPACE = pod_env.RUN_NAMESPACE
ENV_RUN_UID = pod_env.RUN_UID
ENV_PROGRESS = pod_env.PROGRESS
ENV_PROGRESS_INTERVAL = pod_env.PROGRESS_INTERVAL
ENV_METRICS_PORT = pod_env.METRICS_PORT


def _interval(env: Mapping[str, str]) -> float:
    from training_hub.observability.reporter import DEFAULT_INTERVAL

    return pod_env.read_number(ENV_PROGRESS_INTERVAL, DEFAULT_INTERVAL, env=env, what="a number of seconds")


def metrics_port(env: Mapping[str, str]) -> int | None:
    """The exporter's port from ``TRAINING_HUB_METRICS_PORT`` (None: no exporter).

    Raises:
        InvalidInputError: For a value that is not a port.
    """
    raw = env.get(ENV_METRICS_PORT, "").strip().lower()
    if not raw or (raw in pod_env.OFF_WORDS and raw != "0"):  # "0" is a port here: any free one
        return None
    if not raw.isdigit() or int(raw) > 65535:
        raise InvalidInputError(f"{ENV_METRICS_PORT}={raw!r} is not a TCP port")
    return int(raw)


def run_identity(env: Mapping[str, str]) -> tuple[str, str]:
    """``(namespace, name)`` of the run this process trains for (``name`` empty outside a pod).

    ``TRAINING_HUB_RUN`` (``<namespace>/<name>``) wins over ``TRAINING_HUB_RUN_NAMESPACE`` /
    ``TRAINING_HUB_RUN_NAME``.
    """
    both = env.get(ENV_RUN, "").strip()
    if "/" in both:
        namespace, _, name = both.partition("/")
        if namespace and name:
            return namespace, name
    return env.get(ENV_RUN_NAMESPACE, "").strip() or "default", env.get(ENV_RUN_NAME, "").strip()


def runtime_callbacks(algorithm: str, env: Mapping[str, str] | None = None) -> list[Any]:
    """The observability callbacks for this process (call on rank 0 only).

    Raises:
        InvalidInputError: For malformed settings (before any compute).
    """
    e = os.environ if env is None else env
    out: list[Any] = []
    namespace, name = run_identity(e)
    port = metrics_port(e)
    if port is not None:
        from training_hub.observability.exporter import MetricsExporter

        try:
            exporter = MetricsExporter(
                port, namespace=namespace if name else "", run=name, algorithm=algorithm
            )
            exporter.start()
            log.info("serving Prometheus metrics on port %d (/metrics)", exporter.port)
            out.append(exporter)
        except OSError as exc:
            log.warning("metrics exporter disabled: cannot listen on port %s: %s", port, exc)
    progress = e.get(ENV_PROGRESS, "auto").strip().lower()
    interval = _interval(e)
    if name and progress not in pod_env.OFF_WORDS:
        from training_hub.observability.kubeapi import KubeApiError, KubeConnection
        from training_hub.observability.reporter import StatusReporter

        try:
            connection = KubeConnection.from_env(e)
        except KubeApiError as exc:
            connection = None
            log.warning("progress reporting disabled: %s", exc)
        if connection is None:
            log.info(
                "progress reporting disabled: no Kubernetes API credentials in this pod "
                "(see docs/observability.md: the training pods' service account)"
            )
        else:
            out.append(
                StatusReporter(namespace, name, connection, uid=e.get(ENV_RUN_UID) or None, interval=interval)
            )
            log.info("reporting progress to TrainingRun %s/%s every %gs at most", namespace, name, interval)
    return out


def worker_endpoint(algorithm: str, env: Mapping[str, str] | None = None) -> Any:
    """On local rank 0 of a node without global rank 0: a metrics endpoint with only the info series (so the
    pod's declared ``metrics`` port answers); None when no port is asked for or it cannot listen."""
    e = os.environ if env is None else env
    port = metrics_port(e)
    if port is None:
        return None
    from training_hub.observability.exporter import WorkerMetricsExporter

    namespace, name = run_identity(e)
    try:
        return WorkerMetricsExporter(
            port, namespace=namespace if name else "", run=name, algorithm=algorithm
        ).start()
    except OSError as exc:
        log.warning("metrics endpoint disabled: cannot listen on port %s: %s", port, exc)
        return None
