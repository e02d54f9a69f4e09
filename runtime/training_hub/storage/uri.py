"""Storage locations: the one parser of every URI a run names.

=================================  ===========================================================================
location                           meaning
=================================  ===========================================================================
``pvc://claim[/path]``             a PersistentVolumeClaim in the run's namespace, mounted at ``/mnt/pvc/claim``
``hf://org/model``                 a Hugging Face Hub id (models only; the pod downloads it)
``tiny://<family|format>[?opts]``  a demo model or data set built inside the pod (:mod:`training_hub.pod.demo`)
``s3://bucket[/key]``              an object in S3 or an S3-compatible store (staged into the pod)
``/absolute/path``                 a path inside the pod
=================================  ===========================================================================

The operator's API models, the pod entrypoint, the local runner and the progress reporter all parse
locations here. This module imports only the standard library (the operator imports it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from training_hub.contracts import pod_env
from training_hub.engine.checkpoint import FINAL_MODEL_SUBDIR

#: Where a ``pvc://claim/path`` location is mounted inside a pod: ``/mnt/pvc/<claim>``.
PVC_MOUNT_ROOT = "/mnt/pvc"

LocationKind = Literal["pvc", "hf", "tiny", "s3", "path"]

#: ``pvc://claim[/path]``: the claim is a DNS subdomain.
PVC_URI = r"pvc://(?P<claim>[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)(?P<pvcpath>/[^\s]*)?"
#: ``hf://org/model``: a Hugging Face Hub id.
HF_URI = r"hf://(?P<repo>[A-Za-z0-9][-A-Za-z0-9_.]*(/[-A-Za-z0-9_.]+)?)"
#: ``tiny://llama?hidden_size=32`` / ``tiny://messages``.
TINY_URI = r"tiny://[a-z0-9]+(\?[-A-Za-z0-9_=&]*)?"
#: ``s3://bucket[/key]``: bucket names as S3 allows them (3-63 characters, lowercase, digits, ``.``, ``-``).
S3_URI = r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?P<key>/[^\s]*)?"
ABS_PATH = r"/[^\s]*"

_PATTERNS: dict[LocationKind, re.Pattern[str]] = {
    "pvc": re.compile(f"^{PVC_URI}$"),
    "hf": re.compile(f"^{HF_URI}$"),
    "tiny": re.compile(f"^{TINY_URI}$"),
    "s3": re.compile(f"^{S3_URI}$"),
    "path": re.compile(f"^{ABS_PATH}$"),
}

#: How each kind is written, for messages that list the accepted forms.
FORMS: dict[LocationKind, str] = {
    "pvc": "pvc://claim/path",
    "hf": "hf://org/model",
    "s3": "s3://bucket/prefix",
    "tiny": "tiny://<name>",
    "path": "an absolute path",
}

#: The kinds each location of a run accepts.
MODEL_KINDS: tuple[LocationKind, ...] = ("pvc", "hf", "s3", "tiny", "path")
DATA_KINDS: tuple[LocationKind, ...] = ("pvc", "s3", "tiny", "path")
OUTPUT_KINDS: tuple[LocationKind, ...] = ("pvc", "s3", "path")


@dataclass(frozen=True)
class Location:
    """A parsed location.

    Attributes:
        kind: ``pvc``, ``hf``, ``tiny``, ``s3`` or ``path``.
        uri: The location as written.
        root: The claim (pvc), the bucket (s3), the hub id (hf); empty for tiny and paths.
        path: The part below the root without leading or trailing ``/`` (pvc sub-path, s3 key prefix).
    """

    kind: LocationKind
    uri: str
    root: str = ""
    path: str = ""

    @property
    def is_object_store(self) -> bool:
        """Whether the location is in an object store (staged into the pod, mirrored out of it)."""
        return self.kind == "s3"


def accepted_forms(kinds: tuple[LocationKind, ...]) -> str:
    """``pvc://claim/path, s3://bucket/prefix or an absolute path``."""
    forms = [FORMS[k] for k in kinds]
    return ", ".join(forms[:-1]) + " or " + forms[-1] if len(forms) > 1 else forms[0]


def parse_location(uri: str, kinds: tuple[LocationKind, ...] = MODEL_KINDS) -> Location:
    """Parse a location of one of ``kinds``.

    Args:
        uri: The location as written by the user.
        kinds: The kinds accepted here.

    Returns:
        The parsed location.

    Raises:
        ValueError: If ``uri`` is none of ``kinds``; the message lists the accepted forms.
    """
    for kind in kinds:
        m = _PATTERNS[kind].match(uri)
        if not m:
            continue
        groups = m.groupdict()
        if kind == "pvc":
            return Location("pvc", uri, groups["claim"], (groups["pvcpath"] or "").strip("/"))
        if kind == "s3":
            return Location("s3", uri, groups["bucket"], (groups["key"] or "").strip("/"))
        if kind == "hf":
            return Location("hf", uri, groups["repo"])
        return Location(kind, uri)
    raise ValueError(f"{uri!r} is not {accepted_forms(kinds)}")


def kind_of(uri: str) -> LocationKind | None:
    """The kind of a well-formed location, else None."""
    try:
        return parse_location(uri, MODEL_KINDS).kind
    except ValueError:
        return None


def pvc_claim(uri: str) -> str | None:
    """The claim of a ``pvc://`` location, else None."""
    m = _PATTERNS["pvc"].match(uri)
    return m.group("claim") if m else None


def location_in_pod(uri: str) -> str:
    """Where a location is inside a pod.

    ``pvc://claim/sub/path`` -> ``/mnt/pvc/claim/sub/path``; ``hf://org/model`` -> ``org/model`` (a hub id
    the pod downloads); ``s3://``, ``tiny://`` and absolute paths are unchanged (the pod stages or builds
    them).
    """
    kind = kind_of(uri)
    if kind == "pvc":
        loc = parse_location(uri, ("pvc",))
        return f"{PVC_MOUNT_ROOT}/{loc.root}" + (f"/{loc.path}" if loc.path else "")
    if kind == "hf":
        return uri[len("hf://") :]
    return uri


def user_location(path: str) -> str:
    """The inverse of :func:`location_in_pod` for claims: ``/mnt/pvc/claim/x`` -> ``pvc://claim/x``."""
    prefix = PVC_MOUNT_ROOT.rstrip("/") + "/"
    if path.startswith(prefix):
        return "pvc://" + path[len(prefix) :]
    return path


def scheme(value: str) -> str:
    """The scheme of a URI (``s3``, ``tiny``, ``gs``...), empty for a path or a hub id."""
    head, sep, _ = value.partition("://")
    return head if sep else ""


def has_scheme(value: str) -> bool:
    """Whether ``value`` is written as a URI (``<scheme>://...``: any fsspec location, ``tiny://``...)."""
    return bool(scheme(value))


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> ``("s3", "bucket/prefix")``.

    Raises:
        ValueError: If ``uri`` has no scheme or no path.
    """
    protocol, sep, path = uri.partition("://")
    if not sep or not protocol or not path.strip("/"):
        raise ValueError(f"expected '<scheme>://bucket/prefix', got {uri!r}")
    return protocol, path.rstrip("/")


def join(uri: str, *parts: str) -> str:
    """``join("s3://b/run", "hf_format/final")`` -> ``s3://b/run/hf_format/final`` (any location)."""
    out = uri.rstrip("/")
    for part in parts:
        part = part.strip("/")
        if part:
            out = f"{out}/{part}"
    return out


#: Env var ``<local dir>=<uri>``: a local output directory the pod mirrors to an object store (set by the
#: pod entrypoint for an ``s3://`` output, so progress and status name the bucket, not the scratch volume).
MIRROR_ENV = pod_env.OUTPUT_MIRROR


def mirrored_uri(path: str, env: Mapping[str, str]) -> str | None:
    """The object-store URI of a path below the mirrored output directory (:data:`MIRROR_ENV`), else None."""
    local, sep, uri = env.get(MIRROR_ENV, "").partition("=")
    local = local.rstrip("/")
    if not sep or not local or not uri:
        return None
    if path == local:
        return uri
    if path.startswith(local + "/"):
        return join(uri, path[len(local) + 1 :])
    return None


def final_model_uri(output_uri: str) -> str:
    """Where a run that wrote to ``output_uri`` keeps its final model (LoRA: the adapter)."""
    return join(output_uri, FINAL_MODEL_SUBDIR)
