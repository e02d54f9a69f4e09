"""A minimal Kubernetes API client for the training pod (standard library only).

The runtime image does not ship the ``kubernetes`` package, and the pod needs two calls: a JSON merge patch
of ``trainingruns/<name>/status`` and the creation of an Event. Credentials:

* in a pod: the service account token (re-read before each call, since bound tokens rotate) and CA under
  ``/var/run/secrets/kubernetes.io/serviceaccount``, server ``KUBERNETES_SERVICE_HOST:PORT``;
* elsewhere (local execution, tests): the kubeconfig named by ``TRAINING_HUB_KUBECONFIG`` or
  ``KUBECONFIG`` (its current context; token or client certificate users).
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training_hub.contracts import pod_env
from training_hub.contracts.kinds import TRAININGRUN

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeApiError(RuntimeError):
    """A call to the API server failed; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def current_context(kubeconfig: Mapping[str, Any]) -> dict[str, Any]:
    """The ``context`` of a parsed kubeconfig's ``current-context`` (its cluster, user and namespace).

    Raises:
        StopIteration: When no context has that name.
        KeyError, TypeError: When the file is not shaped as a kubeconfig.
    """
    name = kubeconfig.get("current-context")
    return dict(next(c["context"] for c in kubeconfig.get("contexts") or [] if c.get("name") == name))


@dataclass
class KubeConnection:
    """Where and how to reach the API server.

    Attributes:
        server: ``https://host:port``.
        token: A bearer token (or None).
        token_file: A file holding the token, re-read before every call (in-cluster).
        ca_file: CA bundle to verify the server (None with ``insecure``).
        insecure: Skip TLS verification (a kubeconfig's ``insecure-skip-tls-verify``).
        cert_file: Client certificate (PEM file) for certificate users.
        key_file: Its key.
    """

    server: str
    token: str | None = None
    token_file: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    cert_file: str | None = None
    key_file: str | None = None
    timeout: float = 10.0

    # ---------------------------------------------------------------------------------------- discovery
    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KubeConnection | None:
        """In-cluster credentials, else the kubeconfig of ``TRAINING_HUB_KUBECONFIG``/``KUBECONFIG``, else None."""
        e = os.environ if env is None else env
        host, port = e.get("KUBERNETES_SERVICE_HOST"), e.get("KUBERNETES_SERVICE_PORT", "443")
        token_file = SA_DIR / "token"
        if host and token_file.exists():
            h = f"[{host}]" if ":" in host else host
            ca = SA_DIR / "ca.crt"
            return cls(
                server=f"https://{h}:{port}",
                token_file=str(token_file),
                ca_file=str(ca) if ca.exists() else None,
            )
        path = e.get(pod_env.HUB_KUBECONFIG) or (e.get(pod_env.KUBECONFIG) or "").split(os.pathsep)[0]
        if path and Path(path).is_file():
            return cls.from_kubeconfig(path)
        return None

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike[str]) -> KubeConnection:
        """The current context of a kubeconfig file.

        Raises:
            KubeApiError: If the file cannot be used.
        """
        import yaml

        try:
            cfg = yaml.safe_load(Path(path).read_text()) or {}
            ctx = current_context(cfg)
            cluster = next(c["cluster"] for c in cfg.get("clusters") or [] if c.get("name") == ctx["cluster"])
            user = next(
                (u.get("user") or {} for u in cfg.get("users") or [] if u.get("name") == ctx.get("user")), {}
            )
        except (OSError, StopIteration, KeyError, TypeError, yaml.YAMLError) as exc:
            raise KubeApiError(f"cannot use kubeconfig {path}: {exc}") from None
        base = Path(path).resolve().parent

        def file_or_data(file_key: str, data_key: str, src: Mapping[str, Any]) -> str | None:
            if src.get(file_key):
                p = Path(str(src[file_key]))
                return str(p if p.is_absolute() else base / p)
            if src.get(data_key):
                fd, name = tempfile.mkstemp(prefix="th-kube-", suffix=".pem")
                with os.fdopen(fd, "wb") as fh:
                    fh.write(base64.b64decode(src[data_key]))
                return name
            return None

        token = user.get("token")
        if not token and user.get("tokenFile"):
            token = Path(str(user["tokenFile"])).read_text().strip()
        return cls(
            server=str(cluster["server"]).rstrip("/"),
            token=token,
            ca_file=file_or_data("certificate-authority", "certificate-authority-data", cluster),
            insecure=bool(cluster.get("insecure-skip-tls-verify")),
            cert_file=file_or_data("client-certificate", "client-certificate-data", user),
            key_file=file_or_data("client-key", "client-key-data", user),
        )

    # ------------------------------------------------------------------------------------------ calls
    def _ssl(self) -> ssl.SSLContext | None:
        if not self.server.startswith("https"):
            return None
        ctx = (
            ssl.create_default_context(cafile=self.ca_file) if self.ca_file else ssl.create_default_context()
        )
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> dict[str, Any]:
        """One API call; returns the decoded JSON answer.

        Raises:
            KubeApiError: On an HTTP error (with its status) or when the server cannot be reached.
        """
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        token = self.token
        if self.token_file:
            token = Path(self.token_file).read_text().strip()
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self._ssl()) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise KubeApiError(f"{method} {path}: HTTP {exc.code}: {detail}", exc.code) from None
        except (urllib.error.URLError, OSError, ssl.SSLError) as exc:
            raise KubeApiError(f"{method} {path}: {exc}") from None
        return json.loads(raw) if raw else {}

    def patch_run_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> dict[str, Any]:
        """JSON-merge-patch ``status`` of a TrainingRun (only the keys given)."""
        path = TRAININGRUN.path(namespace, name, "status")
        return self.request("PATCH", path, {"status": dict(status)}, "application/merge-patch+json")

    def post_event(
        self,
        namespace: str,
        name: str,
        uid: str | None,
        type_: str,
        reason: str,
        message: str,
        component: str = "training-hub-runtime",
    ) -> dict[str, Any]:
        """Create a core/v1 Event about a TrainingRun."""
        from training_hub.observability.tracker import rfc3339

        now = rfc3339(time.time())
        involved: dict[str, Any] = {
            "apiVersion": TRAININGRUN.api_version,
            "kind": TRAININGRUN.kind,
            "name": name,
            "namespace": namespace,
        }
        if uid:
            involved["uid"] = uid
        host = os.environ.get("HOSTNAME", component)
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{name}.", "namespace": namespace},
            "involvedObject": involved,
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": component, "host": host},
            "reportingComponent": component,
            "reportingInstance": host,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        return self.request("POST", f"/api/v1/namespaces/{namespace}/events", event)
