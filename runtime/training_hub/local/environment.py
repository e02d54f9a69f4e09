"""A local pod's environment: Kubernetes env semantics, and its host names mapped to loopback.

Env entries are resolved as the kubelet resolves them: literal values with ``$(VAR)`` references to
earlier entries, ``fieldRef`` (name, namespace, labels, annotations, pod IP), ``configMapKeyRef``,
``secretKeyRef`` and ``envFrom``. Then :class:`LoopbackNetwork` rewrites every value naming a pod or Service
host (``node-0.svc``, ``job-master-0``, ``host:port``) to ``127.0.0.1``, and every rendezvous port to a
free local port, so that the "nodes" of one run find each other on this machine.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable, Mapping
from typing import Any

from training_hub.contracts import pod_env
from training_hub.local.pods import LocalExecutionError, LocalPod

LOOPBACK = "127.0.0.1"
#: Env variables holding the run's identity: never rewritten, even when a run shares its name with a host.
IDENTITY_ENV = frozenset({pod_env.RUN, pod_env.RUN_NAME, pod_env.RUN_NAMESPACE})
_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")
_FIELD_KEY = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def expand_refs(text: str, env: Mapping[str, str]) -> str:
    """Expand ``$(VAR)`` references as Kubernetes does (unknown ones stay as written, ``$$`` is ``$``)."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _VAR_REF.sub(sub, text)


def _field_value(pod: LocalPod, path: str) -> str:
    meta = pod.metadata
    simple = {
        "metadata.name": pod.name,
        "metadata.namespace": pod.namespace,
        "metadata.uid": str(meta.get("uid", "")),
        "spec.nodeName": "localhost",
        "spec.serviceAccountName": str(pod.spec.get("serviceAccountName", "default")),
        "status.hostIP": LOOPBACK,
        "status.podIP": LOOPBACK,
        "status.podIPs": LOOPBACK,
    }
    if path in simple:
        return simple[path]
    match = _FIELD_KEY.match(path)
    if match:
        values = meta.get(match.group(1)) or {}
        return str(values.get(match.group(2), ""))
    raise LocalExecutionError(f"pod {pod.name}: unsupported fieldRef {path!r}")


def _lookup(
    kind: str, store: Mapping[str, Mapping[str, str]], ref: Mapping[str, Any], pod: LocalPod, var: str
) -> str | None:
    name, key = str(ref.get("name", "")), str(ref.get("key", ""))
    data = store.get(name)
    if data is None or key not in data:
        if ref.get("optional"):
            return None
        raise LocalExecutionError(
            f"pod {pod.name}: env {var} needs {kind} {name!r} key {key!r}, which is not available locally"
            + (
                "; pass it to the executor (secrets are never read from the cluster)"
                if kind == "Secret"
                else ""
            )
        )
    return data[key]


def resolve_env(
    pod: LocalPod,
    container: Mapping[str, Any],
    configmaps: Mapping[str, Mapping[str, str]] | None = None,
    secrets: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, str]:
    """Resolve a container's ``envFrom`` and ``env`` into plain strings.

    Args:
        pod: The pod (for ``fieldRef``).
        container: The container.
        configmaps: ConfigMap data by name.
        secrets: Secret data by name (decoded strings).

    Returns:
        The container's environment, in Kubernetes' precedence (``env`` over ``envFrom``).

    Raises:
        LocalExecutionError: For a reference that cannot be resolved here.
    """
    cms, secs = configmaps or {}, secrets or {}
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix", ""))
        for kind, store, key in (("ConfigMap", cms, "configMapRef"), ("Secret", secs, "secretRef")):
            ref = source.get(key)
            if not ref:
                continue
            data = store.get(str(ref.get("name")))
            if data is None:
                if ref.get("optional"):
                    continue
                raise LocalExecutionError(f"pod {pod.name}: envFrom needs {kind} {ref.get('name')!r}")
            env.update({prefix + k: v for k, v in data.items()})
    for entry in container.get("env") or []:
        name = str(entry["name"])
        if "value" in entry or "valueFrom" not in entry:
            env[name] = expand_refs(str(entry.get("value", "")), env)
            continue
        source = entry["valueFrom"]
        value: str | None
        if "fieldRef" in source:
            value = _field_value(pod, str(source["fieldRef"]["fieldPath"]))
        elif "configMapKeyRef" in source:
            value = _lookup("ConfigMap", cms, source["configMapKeyRef"], pod, name)
        elif "secretKeyRef" in source:
            value = _lookup("Secret", secs, source["secretKeyRef"], pod, name)
        elif "resourceFieldRef" in source:
            value = "1"
        else:
            raise LocalExecutionError(f"pod {pod.name}: unsupported valueFrom for env {name}")
        if value is not None:
            env[name] = value
    return env


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def dns_names(host: str, subdomain: str | None, namespace: str) -> list[str]:
    """Every DNS name under which a pod host (or a Service, when ``subdomain`` is None) is reachable."""
    base = f"{host}.{subdomain}" if subdomain else host
    names = [base, f"{base}.{namespace}", f"{base}.{namespace}.svc", f"{base}.{namespace}.svc.cluster.local"]
    if subdomain:
        names.append(host)
    return names


class LoopbackNetwork:
    """Maps the host names and rendezvous ports of one run to 127.0.0.1 and free local ports.

    A run's pods all live on this machine, so every name a pod may use to reach another (pod hostnames
    with their Service subdomain, Service names, Kubeflow's per-replica names) means ``127.0.0.1``. Ports
    are remapped per original port, consistently for all pods of the run, to avoid clashes with other
    runs (or tests) on the same machine.
    """

    def __init__(self, hosts: Iterable[str] = ()) -> None:
        self.hosts: set[str] = set(hosts)
        #: Service domains: ``<pod hostname>.<domain>`` is a pod behind a (headless) Service.
        self.domains: set[str] = set()
        self.ports: dict[int, int] = {}

    def add_pods(self, pods: Iterable[LocalPod]) -> None:
        """Learn the names of pods (hostname[.subdomain][.ns.svc...] and the pod name)."""
        for pod in pods:
            self.hosts.update(dns_names(pod.hostname, pod.subdomain, pod.namespace))
            self.hosts.update(dns_names(pod.name, None, pod.namespace))

    def add_services(self, services: Iterable[dict[str, Any]]) -> None:
        """Learn the names of Services."""
        for svc in services:
            meta = svc.get("metadata") or {}
            names = dns_names(str(meta.get("name")), None, str(meta.get("namespace") or "default"))
            self.hosts.update(names)
            self.domains.update(names)

    def is_local(self, host: str) -> bool:
        """Whether ``host`` names a pod or Service of this run (a pod not started yet included)."""
        if host in self.hosts:
            return True
        _, dot, domain = host.partition(".")
        return bool(dot) and domain in self.domains

    def port(self, original: int) -> int:
        """The local port standing for ``original`` (allocated on first use)."""
        if original not in self.ports:
            self.ports[original] = free_port()
        return self.ports[original]

    def map_value(self, name: str, value: str) -> str:
        """Rewrite one env value: known hosts -> 127.0.0.1, their ports and ``*MASTER_PORT`` -> local ports."""
        if name.endswith(pod_env.MASTER_PORT) and value.strip().isdigit():
            return str(self.port(int(value)))
        if name in IDENTITY_ENV:  # names, not hosts (a run may share its name with its Service)
            return value
        if self.is_local(value):
            return LOOPBACK
        host, sep, port = value.rpartition(":")
        if sep and self.is_local(host) and port.isdigit():
            return f"{LOOPBACK}:{self.port(int(port))}"
        return value

    def map_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """Rewrite a whole environment with :meth:`map_value`."""
        return {k: self.map_value(k, v) for k, v in env.items()}
