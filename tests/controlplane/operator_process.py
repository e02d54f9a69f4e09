"""Run the Training Hub operator as a separate process against a kubeconfig (for integration tests).

A subprocess, not kopf's in-thread runner: handler registrations live in module state and would leak
between tests, and killing a process is the honest way to test restarts.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tests.controlplane.cluster import free_port


class OperatorProcess:
    """``python -m training_hub_operator.main`` in a subprocess, stopped by its pid.

    Attributes:
        kubeconfig: The kubeconfig the operator uses.
        namespaces: Namespaces to watch (empty: all namespaces).
        liveness_port: Port of kopf's liveness endpoint (``/healthz``) on 127.0.0.1.
        metrics_port: Port of the Prometheus endpoint (``/metrics``) on 127.0.0.1.
        log_path: File receiving the operator's stdout and stderr.
    """

    def __init__(
        self,
        kubeconfig: Path | str,
        *,
        namespaces: Sequence[str] = (),
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        module: str = "training_hub_operator.main",
        log_path: Path | str | None = None,
    ) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.namespaces = list(namespaces)
        self.extra_args = list(extra_args)
        self.env_extra = dict(env or {})
        self.module = module
        self.liveness_port = free_port()
        self.metrics_port = free_port()
        self.log_path = (
            Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="th-operator-", suffix=".log")[1])
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_fh: object | None = None

    @property
    def pid(self) -> int | None:
        """Pid of the running operator, or None."""
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def liveness_url(self) -> str:
        return f"http://127.0.0.1:{self.liveness_port}/healthz"

    def argv(self) -> list[str]:
        """The command line of the operator."""
        ns_args = [f"--namespace={n}" for n in self.namespaces] or ["--all-namespaces"]
        return [
            sys.executable,
            "-m",
            self.module,
            *ns_args,
            "--liveness-host=127.0.0.1",
            f"--liveness-port={self.liveness_port}",
            "--metrics-host=127.0.0.1",
            f"--metrics-port={self.metrics_port}",
            *self.extra_args,
        ]

    def start(self, timeout: float = 60.0) -> OperatorProcess:
        """Start the operator and wait until its liveness endpoint answers.

        Raises:
            RuntimeError: If it exits or is not live within ``timeout`` (the message holds its log tail).
        """
        env = dict(os.environ)
        env.update({"KUBECONFIG": str(self.kubeconfig), "PYTHONUNBUFFERED": "1"})
        env.update(self.env_extra)
        fh = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop())
        self._log_fh = fh
        self.proc = subprocess.Popen(
            self.argv(), stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.liveness_url, timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"operator not live after {timeout}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the operator (simulates a crash: nothing is cleaned up)."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the operator by pid, SIGKILL it after ``timeout``."""
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log_fh is not None:
            with contextlib.suppress(Exception):
                self._log_fh.close()  # type: ignore[attr-defined]
            self._log_fh = None

    def log_tail(self, chars: int = 6000) -> str:
        """The end of the operator's log."""
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def metrics(self) -> str:
        """The text of ``/metrics``."""
        with urllib.request.urlopen(self.metrics_url, timeout=5) as resp:
            return resp.read().decode()

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        """Wait until the operator's log contains ``text``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_tail(200_000):
                return
            if self.proc and self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not in the operator log:\n{self.log_tail()}")
