"""Run the operator exactly as the chart's Deployment would, but as a local process.

The container's command, args and env come from the rendered Deployment of a Helm release; the API
credentials are a token of the chart's ServiceAccount (TokenRequest), so the process has the chart's RBAC
and nothing more. Only the listen ports change (free ports on 127.0.0.1, appended so they win).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.controlplane.cluster import ControlPlane, free_port


def service_account_kubeconfig(plane: ControlPlane, namespace: str, service_account: str, path: Path) -> Path:
    """Write a kubeconfig holding a fresh token of ``service_account`` (TokenRequest API)."""
    token = plane.kubectl("create", "token", service_account, "-n", namespace, "--duration=1h").stdout.strip()
    assert token.count(".") == 2, "expected a JWT from the TokenRequest API"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "local", "cluster": {"server": plane.server, "insecure-skip-tls-verify": True}}
        ],
        "users": [{"name": service_account, "user": {"token": token}}],
        "contexts": [
            {"name": "sa", "context": {"cluster": "local", "user": service_account, "namespace": namespace}}
        ],
        "current-context": "sa",
    }
    path.write_text(yaml.safe_dump(config))
    return path


class ChartOperator:
    """The chart's operator container run locally; stopped by pid."""

    def __init__(self, deployment: dict[str, Any], kubeconfig: Path, pod_name: str) -> None:
        self.deployment = deployment
        self.kubeconfig = kubeconfig
        self.pod_name = pod_name
        self.liveness_port = free_port()
        self.metrics_port = free_port()
        self.log_path = Path(tempfile.mkstemp(prefix="th-chart-operator-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def container(self) -> dict[str, Any]:
        return self.deployment["spec"]["template"]["spec"]["containers"][0]

    def argv(self) -> list[str]:
        local = [
            "--liveness-host=127.0.0.1",
            f"--liveness-port={self.liveness_port}",
            "--metrics-host=127.0.0.1",
            f"--metrics-port={self.metrics_port}",
        ]
        return [*self.container["command"], *self.container["args"], *local]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)}
        for var in self.container.get("env", []):
            if "value" in var:
                env[var["name"]] = var["value"]
            elif var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
                env[var["name"]] = self.pod_name
            elif var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
                env[var["name"]] = self.deployment["metadata"]["namespace"]
        # The image's PATH: the operator's console script; KUBECONFIG stands in for the in-cluster token.
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["HOME"] = tempfile.gettempdir()
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self, timeout: float = 60.0) -> ChartOperator:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            self.argv(), env=self.env(), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited with {self.proc.returncode}:\n{self.log()}")
            url = f"http://127.0.0.1:{self.liveness_port}/healthz"
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"operator not live after {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self, chars: int = 8000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()
