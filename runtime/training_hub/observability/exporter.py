"""Prometheus metrics of a training process (rank 0), served on ``/metrics`` of a port.

prometheus-client is imported only when the exporter is created. The metrics live in their own registry
(no process/platform collectors mixed with other libraries'), labelled with the run (``namespace``, ``run``)
so that a PodMonitor's scrape needs no relabelling to tell runs apart:

=============================================================  =======  ====================================
name                                                           type     meaning
=============================================================  =======  ====================================
``traininghub_training_step``                                  gauge    optimizer steps done
``traininghub_training_total_steps``                           gauge    optimizer steps planned
``traininghub_training_epoch``                                 gauge    epochs done (fractional)
``traininghub_training_loss``                                  gauge    latest training loss
``traininghub_training_learning_rate``                         gauge    learning rate of the latest step
``traininghub_training_grad_norm``                             gauge    gradient norm before clipping
``traininghub_training_tokens_per_second``                     gauge    throughput of the latest step
``traininghub_training_samples_total``                         counter  samples consumed (across resumes)
``traininghub_training_tokens_total``                          counter  tokens processed by this process
``traininghub_training_checkpoints_total``                     counter  checkpoints written, by ``kind``
``traininghub_training_last_checkpoint_timestamp_seconds``     gauge    when the latest checkpoint completed
``traininghub_training_last_step_timestamp_seconds``           gauge    when the latest step finished
``traininghub_training_eta_timestamp_seconds``                 gauge    estimated end of training
``traininghub_training_info``                                  gauge    1, with ``algorithm``, ``pod``, ``role``
=============================================================  =======  ====================================

Checkpoint age is ``time() - traininghub_training_last_checkpoint_timestamp_seconds`` in PromQL (a
timestamp, not an age, is the Prometheus convention: it needs no update to stay true).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Self

from training_hub.observability.tracker import ProgressTracker

DEFAULT_PORT = 9400
PREFIX = "traininghub_training"


class _MetricsEndpoint:
    """A registry of its own, labelled with the run, served on ``/metrics`` of a port.

    Args:
        port: TCP port (0: any free port; see :attr:`port` after :meth:`start`).
        host: Address to bind (``0.0.0.0`` in a pod).
        namespace: Label value ``namespace``.
        run: Label value ``run``.
        algorithm: For ``traininghub_training_info``.
        clock: Wall clock.
    """

    #: The ``role`` label of ``traininghub_training_info``.
    role = "worker"

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        host: str = "0.0.0.0",
        *,
        namespace: str = "",
        run: str = "",
        algorithm: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        from prometheus_client import CollectorRegistry

        self.requested_port = port
        self.host = host
        self.port: int | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        self.labels = {"namespace": namespace, "run": run}
        self._server: Any = None
        self.clock = clock
        self.info = self._info(algorithm, self.role)
        self._register()

    def _register(self) -> None:
        """Register the series this endpoint exports besides the info gauge (none here)."""

    def _info(self, algorithm: str, role: str) -> Any:
        """Register ``traininghub_training_info`` (always 1) with this process's labels."""
        from prometheus_client import Gauge

        info = Gauge(
            f"{PREFIX}_info",
            "Always 1; labels describe the training process.",
            [*self.labels, "algorithm", "pod", "role"],
            registry=self.registry,
        )
        pod = os.environ.get("HOSTNAME", "")
        info.labels(**self.labels, algorithm=algorithm, pod=pod, role=role).set(1)
        return info

    def start(self) -> Self:
        """Serve ``/metrics`` in a daemon thread (idempotent)."""
        if self._server is None:
            from prometheus_client import start_http_server

            server, _thread = start_http_server(self.requested_port, addr=self.host, registry=self.registry)
            self._server = server
            self.port = int(server.server_address[1])
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def text(self) -> str:
        """The exposition text (what ``/metrics`` serves)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()


class WorkerMetricsExporter(_MetricsEndpoint):
    """The endpoint of a node whose processes do not hold global rank 0 (a multi-node run's other pods).

    Every training pod declares the ``metrics`` port; on nodes other than node 0 it serves only
    ``traininghub_training_info{role="worker"}``, so that scrape targets are up without exporting
    misleading zeros (the training series come from rank 0 alone).
    """

    role = "worker"


class MetricsExporter(_MetricsEndpoint):
    """Training callback exposing the run's metrics for Prometheus (rank 0's endpoint).

    Takes the endpoint's arguments (port, host, namespace, run, algorithm, clock: see the base class).
    """

    role = "rank0"

    def _register(self) -> None:
        from prometheus_client import Counter, Gauge

        names = list(self.labels)
        r = self.registry

        def gauge(name: str, doc: str) -> Any:
            return Gauge(f"{PREFIX}_{name}", doc, names, registry=r).labels(**self.labels)

        self.step = gauge("step", "Optimizer steps done.")
        self.total_steps = gauge("total_steps", "Optimizer steps planned.")
        self.epoch = gauge("epoch", "Epochs done (fractional).")
        self.loss = gauge("loss", "Training loss of the latest step (token mean over the global batch).")
        self.learning_rate = gauge("learning_rate", "Learning rate used by the latest step.")
        self.grad_norm = gauge("grad_norm", "Gradient norm of the latest step, before clipping.")
        self.tokens_per_second = gauge("tokens_per_second", "Tokens per second of the latest step.")
        self.last_step = gauge("last_step_timestamp_seconds", "When the latest step finished (UNIX time).")
        self.last_checkpoint = gauge(
            "last_checkpoint_timestamp_seconds", "When the latest checkpoint completed (UNIX time)."
        )
        self.eta = gauge("eta_timestamp_seconds", "Estimated end of training (UNIX time).")
        self.samples = Counter(
            f"{PREFIX}_samples", "Training samples consumed (continued across resumes).", names, registry=r
        ).labels(**self.labels)
        self.tokens = Counter(
            f"{PREFIX}_tokens", "Tokens processed by this process.", names, registry=r
        ).labels(**self.labels)
        self.checkpoints = Counter(
            f"{PREFIX}_checkpoints",
            "Checkpoints written, by kind (hf, full_state, final).",
            [*names, "kind"],
            registry=r,
        )
        self.tracker = ProgressTracker()
        self._samples_seen = 0

    # ------------------------------------------------------------------------------------ callbacks
    def on_step(self, metrics: Mapping[str, Any]) -> None:
        """Update the gauges and counters from a metrics row."""
        self.start()
        now = self.clock()
        progress = self.tracker.on_step(metrics, now)
        self.step.set(progress["step"])
        if "totalSteps" in progress:
            self.total_steps.set(progress["totalSteps"])
        self.epoch.set(progress["epoch"])
        for gauge, key in ((self.loss, "loss"), (self.learning_rate, "lr"), (self.grad_norm, "grad_norm")):
            value = metrics.get(key)
            if isinstance(value, int | float):
                gauge.set(float(value))
        tps = metrics.get("tokens_per_second")
        if isinstance(tps, int | float):
            self.tokens_per_second.set(float(tps))
        seen = int(metrics.get("samples_seen") or 0)
        if seen > self._samples_seen:
            self.samples.inc(seen - self._samples_seen)
            self._samples_seen = seen
        tokens = metrics.get("tokens")
        if isinstance(tokens, int | float) and tokens > 0:
            self.tokens.inc(float(tokens))
        self.last_step.set(now)
        if self.tracker.predicted_seconds is not None or "eta" in progress:
            eta = self._eta_seconds(progress)
            if eta is not None:
                self.eta.set(eta)

    def _eta_seconds(self, progress: Mapping[str, Any]) -> float | None:
        from datetime import datetime

        eta = progress.get("eta")
        if not eta:
            return None
        return datetime.fromisoformat(str(eta).replace("Z", "+00:00")).timestamp()

    def on_checkpoint(self, path: str, kind: str) -> None:
        """Count the checkpoint and record its time."""
        self.start()
        self.checkpoints.labels(**self.labels, kind=kind).inc()
        self.last_checkpoint.set(self.clock())

    def on_train_end(self, summary: Mapping[str, Any]) -> None:
        """Record the final step and loss (the server keeps serving until the process exits)."""
        if summary.get("steps") is not None:
            self.step.set(int(summary["steps"]))
        loss = summary.get("final_loss")
        if isinstance(loss, int | float):
            self.loss.set(float(loss))
