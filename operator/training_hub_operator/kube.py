"""A small, generic Kubernetes REST helper on top of ``kubernetes.client.ApiClient``.

The operator creates objects of kinds it learns from the launchers (Services, Jobs, PyTorchJobs, TrainJobs,
Jobs, Services...). Rather than one typed API class per kind, every call goes through
:meth:`Kube.request` with a :class:`ResourceKind` (API version, kind, plural), so a new launcher needs no
change here.

Creates ask the API server to refuse unknown fields (``fieldValidation=Strict``, beta and on by default
since Kubernetes 1.25, GA in 1.27) where it supports that; an older server silently prunes them, so the
caller compares what it sent with what was stored (:func:`dropped_fields`). Every ``Warning`` header of a
write is returned to the caller (:func:`parse_warnings`), which logs it and reports it on the run.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import re
import threading
import time
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

# The kinds are value types of the library's contracts; re-exported here for the API client's callers.
from training_hub.contracts.kinds import (  # noqa: F401
    CONFIGMAP,
    CRD,
    EVENT,
    JOB,
    POD,
    SERVICE,
    ResourceKind,
)


class KubeError(RuntimeError):
    """An API call failed; ``status`` is the HTTP status (0 if none)."""

    def __init__(self, status: int, reason: str, body: str = "") -> None:
        self.status = status
        self.reason = reason
        self.body = body
        message = reason
        with contextlib.suppress(ValueError, AttributeError):
            message = json.loads(body).get("message", reason)
        super().__init__(f"{status}: {message}")

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


#: First Kubernetes minor version whose API server honours ``fieldValidation`` (beta, on by default).
STRICT_FIELD_VALIDATION_SINCE = (1, 25)
_WARNING = re.compile(r'^\s*\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"')


def parse_warnings(values: list[str]) -> list[str]:
    """The texts of HTTP ``Warning`` headers (RFC 7234: ``299 - "text"``; Kubernetes sends one per warning)."""
    out: list[str] = []
    for value in values:
        match = _WARNING.match(value)
        text = match.group(1).replace('\\"', '"') if match else value.strip()
        if text:
            out.append(text)
    return out


def dropped_fields(sent: Any, stored: Any, path: str = "") -> list[str]:
    """Paths (``.spec.x``) of the keys of ``sent`` that ``stored`` lacks: what the API server pruned.

    Values the server defaulted or normalised are not compared; ``status`` is not compared; a key sent with
    a zero value (``false``, ``0``, ``""``, empty list or map) may be left out of the answer by a built-in
    type's ``omitempty`` and is not counted.
    """
    out: list[str] = []
    if isinstance(sent, dict) and isinstance(stored, dict):
        for key, value in sent.items():
            if not path and key == "status":
                continue
            if key not in stored and value in (False, 0, "", None, [], {}) and not isinstance(value, float):
                continue
            if key not in stored:
                out.append(f"{path}.{key}")
            else:
                out.extend(dropped_fields(value, stored[key], f"{path}.{key}"))
    elif isinstance(sent, list) and isinstance(stored, list):
        for i, (a, b) in enumerate(zip(sent, stored, strict=False)):
            out.extend(dropped_fields(a, b, f"{path}[{i}]"))
    return out


def load_api_client() -> client.ApiClient:
    """An API client from the in-cluster service account, else from ``KUBECONFIG``/``~/.kube/config``."""
    try:
        config.load_incluster_config()
        return client.ApiClient()
    except config.ConfigException:
        return config.new_client_from_config()


#: ``(connect, read)`` seconds of one API call: a server that accepts and never answers must not hang a
#: reconcile (and the run's lock) for ever; a LIST of a 500-object page answers well within this.
REQUEST_TIMEOUT: tuple[float, float] = (10.0, 60.0)


class Kube:
    """Generic CRUD for any :class:`ResourceKind`; thread-safe (one urllib3 pool).

    Args:
        api_client: The client (default: in-cluster, else the kubeconfig).
        timeout: ``(connect, read)`` seconds of each call (:data:`REQUEST_TIMEOUT`).
    """

    def __init__(
        self, api_client: client.ApiClient | None = None, timeout: tuple[float, float] = REQUEST_TIMEOUT
    ) -> None:
        self.api = api_client or load_api_client()
        self.timeout = timeout
        self._served_cache: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()
        self._strict: bool | None = None
        self._crd_cache: dict[str, tuple[float, dict[str, Any] | None]] = {}

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        query: list[tuple[str, str]] | None = None,
        warnings: builtins.list[str] | None = None,
    ) -> Any:
        """Call the API server; return the decoded JSON body.

        Args:
            method: HTTP method.
            path: REST path.
            body: JSON body.
            content_type: Content type of the body.
            query: Query parameters.
            warnings: When given, the texts of the response's ``Warning`` headers are appended to it.

        Raises:
            KubeError: On any HTTP error.
            urllib3.exceptions.HTTPError: When the server cannot be reached or does not answer within
                :attr:`timeout` (the callers retry, as for a refused connection).
        """
        try:
            data, _, headers = self.api.call_api(
                path,
                method,
                query_params=query or [],
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
                response_type="object",
                _return_http_data_only=False,
                _preload_content=True,
                _request_timeout=self.timeout,
            )
        except ApiException as exc:
            raise KubeError(exc.status or 0, exc.reason or "error", exc.body or "") from None
        if warnings is not None and headers:
            getlist = getattr(headers, "getlist", None)
            values = (
                getlist("Warning") if getlist else [headers.get("Warning")] if headers.get("Warning") else []
            )
            warnings.extend(parse_warnings(list(values)))
        return data

    def supports_strict_field_validation(self) -> bool:
        """Whether the API server honours ``fieldValidation=Strict`` (Kubernetes 1.25+; asked once)."""
        if self._strict is None:
            try:
                version = self.request("GET", "/version")
                minor = int(re.sub(r"\D.*$", "", str(version.get("minor") or "0")) or 0)
                self._strict = (int(version.get("major") or 0), minor) >= STRICT_FIELD_VALIDATION_SINCE
            except (KubeError, ValueError):
                self._strict = False
        return self._strict

    def get(self, kind: ResourceKind, namespace: str, name: str) -> dict[str, Any] | None:
        """Get an object; None if it does not exist."""
        try:
            return self.request("GET", kind.path(namespace, name))  # type: ignore[no-any-return]
        except KubeError as exc:
            if exc.not_found:
                return None
            raise

    def list(
        self,
        kind: ResourceKind,
        namespace: str,
        label_selector: str | None = None,
        *,
        resource_version: str | None = None,
    ) -> list[dict[str, Any]]:
        """List objects in a namespace (optionally by label selector).

        ``resource_version="0"`` lets the API server answer from its watch cache (any recent state, cheap);
        without it, the list is read from etcd (every object of the kind in the namespace, filtered after).
        """
        query = [("labelSelector", label_selector)] if label_selector else []
        if resource_version is not None:
            query.append(("resourceVersion", resource_version))
        data = self.request("GET", kind.path(namespace), query=query)
        return list(data.get("items") or [])

    def create(
        self, kind: ResourceKind, obj: dict[str, Any], *, warnings: builtins.list[str] | None = None
    ) -> dict[str, Any]:
        """Create an object (its namespace from metadata).

        Unknown fields are refused (``fieldValidation=Strict``, a 4xx :class:`KubeError`) where the server
        supports it; an older server prunes them silently (compare with :func:`dropped_fields`).

        Args:
            kind: Its kind.
            obj: The object.
            warnings: When given, the API server's warnings about the create are appended to it.
        """
        ns = obj.get("metadata", {}).get("namespace")
        query = [("fieldValidation", "Strict")] if self.supports_strict_field_validation() else []
        return self.request("POST", kind.path(ns), obj, query=query, warnings=warnings)  # type: ignore[no-any-return]

    def patch(
        self,
        kind: ResourceKind,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        *,
        subresource: str | None = None,
        warnings: builtins.list[str] | None = None,
    ) -> dict[str, Any]:
        """JSON merge-patch an object (or a subresource such as ``status``); ``warnings`` as for create."""
        return self.request(  # type: ignore[no-any-return]
            "PATCH",
            kind.path(namespace, name, subresource),
            patch,
            content_type="application/merge-patch+json",
            warnings=warnings,
        )

    def delete(self, kind: ResourceKind, namespace: str, name: str) -> None:
        """Delete an object (background propagation); absent objects are fine."""
        try:
            self.request("DELETE", kind.path(namespace, name), {"propagationPolicy": "Background"})
        except KubeError as exc:
            if not exc.not_found:
                raise

    def crd(self, kind: ResourceKind, ttl: float = 30.0) -> dict[str, Any] | None:
        """The CustomResourceDefinition of a kind (cached for ``ttl`` seconds); None for core kinds, when
        absent, or when the operator may not read it."""
        if not kind.crd_name:
            return None
        now = time.monotonic()
        with self._lock:
            cached = self._crd_cache.get(kind.crd_name)
            if cached and now - cached[0] < ttl:
                return cached[1]
        try:
            found = self.get(CRD, "", kind.crd_name)
        except KubeError as exc:
            if exc.status not in (403, 404):
                raise
            found = None
        with self._lock:
            self._crd_cache[kind.crd_name] = (now, found)
        return found

    def serves(self, kind: ResourceKind, ttl: float = 30.0) -> bool:
        """Whether the API server serves a resource type (cached for ``ttl`` seconds)."""
        if not kind.group:
            return True
        key = f"{kind.api_version}/{kind.plural}"
        now = time.monotonic()
        with self._lock:
            cached = self._served_cache.get(key)
            if cached and now - cached[0] < ttl:
                return cached[1]
        try:
            data = self.request("GET", f"/apis/{kind.api_version}")
            served = any(r.get("name") == kind.plural for r in data.get("resources", []))
        except KubeError as exc:
            if exc.status not in (404, 503):
                raise
            served = False
        with self._lock:
            self._served_cache[key] = (now, served)
        return served
