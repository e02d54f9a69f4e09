"""Object stores through fsspec: one filesystem factory, an access check, and errors a user can act on.

Any fsspec URI works (``s3://``, ``gs://``, ``file://``, ``memory://``...); ``s3://`` uses s3fs (botocore
underneath), so credentials come from the standard AWS sources: ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` in the environment (the operator sets them from the Secret
named in ``spec.storage``), a profile, or an instance role. S3-compatible stores (MinIO, Ceph, ODF...) are
reached through an endpoint override: ``AWS_ENDPOINT_URL_S3`` (or ``AWS_ENDPOINT_URL``).

A store's refusal becomes a :class:`StorageError` whose ``reason`` says what to fix
(:data:`STORAGE_REASONS`) and whose message quotes the store's own words. Bad credentials, a missing
bucket and a refused permission are permanent (exit code 3: retrying cannot help); an unreachable
endpoint is an infrastructure failure (exit code 4: retried).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from training_hub.contracts import pod_env
from training_hub.errors import InfrastructureError, InvalidInputError, TrainingHubError
from training_hub.storage.uri import split_uri

#: Environment variables naming an S3 endpoint override, in order of precedence (botocore's names first).
ENDPOINT_ENVS = pod_env.S3_ENDPOINT_ENVS

#: Reasons of :class:`StorageError`, with what the user should check.
STORAGE_REASONS: dict[str, str] = {
    "StorageCredentialsInvalid": "check the access key and secret in the credentials Secret (spec.storage)",
    "StorageBucketNotFound": "create the bucket or fix its name in the URI",
    "StorageAccessDenied": "grant the credentials read/write access to the bucket and prefix",
    "StorageObjectNotFound": "check the URI: nothing is stored there",
    "StorageUnavailable": "check spec.storage.endpoint and that the store is reachable from the pod",
    "StorageError": "see the store's message",
}

_CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "InvalidClientTokenId"}
)


class StorageError(TrainingHubError):
    """An object store refused a request, or cannot be reached.

    Attributes:
        reason: One of :data:`STORAGE_REASONS`.
        uri: The location concerned.
    """

    def __init__(self, reason: str, uri: str, detail: str) -> None:
        self.reason = reason
        self.uri = uri
        self.detail = detail
        hint = STORAGE_REASONS.get(reason, "")
        super().__init__(f"{reason}: {uri}: {detail}" + (f" ({hint})" if hint else ""))
        self.exit_code = (
            InfrastructureError.exit_code if reason == "StorageUnavailable" else InvalidInputError.exit_code
        )


def endpoint_url(env: dict[str, str] | None = None) -> str | None:
    """The S3 endpoint override from the environment, if any."""
    environ = os.environ if env is None else env
    for name in ENDPOINT_ENVS:
        value = (environ.get(name) or "").strip()
        if value:
            return value
    return None


def filesystem(uri: str) -> Any:
    """An fsspec filesystem rooted at ``uri`` (every path relative to it).

    Raises:
        StorageError: When fsspec has no implementation of the scheme installed.
    """
    import fsspec
    from fsspec.implementations.dirfs import DirFileSystem

    protocol, base = split_uri(uri)
    kwargs: dict[str, Any] = {"skip_instance_cache": True}
    if protocol in ("file", "local"):
        kwargs["auto_mkdir"] = True  # object stores have no directories; a local mirror creates them
    if protocol in ("s3", "s3a"):
        kwargs["use_listings_cache"] = False
        endpoint = endpoint_url()
        if endpoint:
            kwargs["client_kwargs"] = {"endpoint_url": endpoint}
    try:
        underlying = fsspec.filesystem(protocol, **kwargs)
    except (ImportError, ValueError) as exc:
        raise StorageError(
            "StorageError", uri, f"no fsspec implementation for {protocol}:// is installed ({exc})"
        ) from None
    return DirFileSystem(path=base, fs=underlying)


def _client_error(exc: BaseException) -> tuple[str, str] | None:
    """``(code, message)`` of the botocore ClientError behind ``exc`` (s3fs keeps it as ``__cause__``)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        response = getattr(cur, "response", None)
        if isinstance(response, dict) and isinstance(response.get("Error"), dict):
            err = response["Error"]
            return str(err.get("Code") or ""), str(err.get("Message") or cur)
        cur = cur.__cause__ or cur.__context__
    return None


def _names(exc: BaseException) -> set[str]:
    out: set[str] = set()
    cur: BaseException | None = exc
    while cur is not None and len(out) < 50:
        out.update(c.__name__ for c in type(cur).__mro__)
        cur = cur.__cause__ or cur.__context__
    return out


def storage_error(exc: BaseException, uri: str) -> StorageError:
    """Classify an exception raised by a store into a :class:`StorageError` (the store's message kept)."""
    if isinstance(exc, StorageError):
        return exc
    client = _client_error(exc)
    text = " ".join(str(exc).split()) or type(exc).__name__
    if client is not None:
        code, message = client
        detail = f"{code}: {message}" if code else message
        if code in _CREDENTIAL_CODES:
            return StorageError("StorageCredentialsInvalid", uri, detail)
        if code == "NoSuchBucket":
            return StorageError("StorageBucketNotFound", uri, detail)
        if code in ("AccessDenied", "AllAccessDisabled", "403"):
            return StorageError("StorageAccessDenied", uri, detail)
        if code in ("NoSuchKey", "404"):
            return StorageError("StorageObjectNotFound", uri, detail)
        return StorageError("StorageError", uri, detail)
    names = _names(exc)
    if "NoCredentialsError" in names or "PartialCredentialsError" in names:
        return StorageError("StorageCredentialsInvalid", uri, f"no credentials: {text}")
    if names & {"EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError", "ConnectionError"}:
        return StorageError("StorageUnavailable", uri, text)
    if isinstance(exc, PermissionError):
        return StorageError("StorageAccessDenied", uri, text)
    if isinstance(exc, FileNotFoundError):
        return StorageError("StorageObjectNotFound", uri, text)
    return StorageError("StorageError", uri, f"{type(exc).__name__}: {text}")


def check_access(uri: str, *, write: bool) -> None:
    """Fail fast (before any training) when ``uri`` cannot be listed, or written when ``write``.

    For ``s3://`` the bucket is listed with the store's API so that a missing bucket and bad credentials
    are told apart by the store's own error codes; a write check puts and deletes a probe object.

    Raises:
        StorageError: With the store's reason and message.
    """
    fs = filesystem(uri)
    protocol, base = split_uri(uri)
    try:
        if protocol in ("s3", "s3a"):
            bucket, _, prefix = base.partition("/")
            fs.fs.call_s3("list_objects_v2", Bucket=bucket, Prefix=prefix, MaxKeys=1)
        elif write:
            fs.fs.makedirs(base, exist_ok=True)  # filesystems with directories (file://, ...)
        if write:
            probe = f".training-hub-access-probe-{uuid.uuid4().hex}"
            fs.pipe_file(probe, b"ok")
            fs.rm_file(probe)
    except Exception as exc:  # noqa: BLE001 (every store failure becomes a StorageError)
        raise storage_error(exc, uri) from None
