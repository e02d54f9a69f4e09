"""Check the objects the operator would create against Kubernetes' own validation rules, before any create.

A rendered object the API server would refuse (422) must never reach it: the operator would otherwise
create the run's Service, fail on a Job, and retry forever. :func:`check_objects` applies
the rules of ``k8s.io/apimachinery`` (v0.20, the API server's version in the tests):

* names: ``metadata.name`` a DNS-1123 subdomain (``IsDNS1123Subdomain``: at most 253 characters of
  ``[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*``), Services a DNS-1035 label
  (``IsDNS1035Label``: at most 63 characters of ``[a-z]([-a-z0-9]*[a-z0-9])?``), container names a DNS-1123
  label;
* label keys and annotation keys: qualified names (``IsQualifiedName``: an optional DNS-1123 subdomain
  prefix of at most 253 characters and ``/``, then at most 63 characters of
  ``([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]``); label values (``IsValidLabelValue``): empty or at most 63
  characters of the same pattern; all annotations of an object together at most 256 KiB
  (``TotalAnnotationSizeLimitB``); node selectors follow the label rules;
* quantities in ``resources.limits``/``requests`` and ``emptyDir.sizeLimit``: ``resource.ParseQuantity``
  (``^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$`` with the suffixes it knows);
* environment variable names (``IsEnvVarName``: ``[-._a-zA-Z][-._a-zA-Z0-9]*``).

Messages follow the API server's form: ``<field>: Invalid value: "<value>": <rule>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from training_hub_operator.api.patterns import DNS_LABEL, DNS_LABEL_PATTERN, ENV_NAME_PATTERN

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
QUALIFIED_NAME_MAX = 63
LABEL_VALUE_MAX = 63
TOTAL_ANNOTATION_SIZE = 256 * 1024

# The formats the CRD schema shares (api/patterns.py) are those of apimachinery; the others are only here.
DNS1123_LABEL = re.compile(DNS_LABEL_PATTERN)
DNS1123_SUBDOMAIN = re.compile(rf"^{DNS_LABEL}(\.{DNS_LABEL})*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
ENV_VAR_NAME = re.compile(ENV_NAME_PATTERN)
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_SUFFIXES = {"", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}


def _show(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else f"{value[:limit]}... ({len(value)} characters)"


def _invalid(path: str, value: str, rule: str) -> str:
    return f'{path}: Invalid value: "{_show(value)}": {rule}'


def _name_rule(value: str, limit: int, pattern: re.Pattern[str], rule: str) -> str | None:
    """The rule ``value`` breaks: longer than ``limit`` or not matching ``pattern`` (None when valid)."""
    if len(value) > limit:
        return f"must be no more than {limit} characters"
    return None if pattern.match(value) else rule


# (length limit, pattern, message) per name rule, messages as apimachinery 0.20's validation returns them.
_SUBDOMAIN_RULE = (
    DNS1123_SUBDOMAIN_MAX,
    DNS1123_SUBDOMAIN,
    "a DNS-1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character",
)
_LABEL_RULE = (
    DNS1123_LABEL_MAX,
    DNS1123_LABEL,
    "a DNS-1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character",
)
_DNS1035_RULE = (
    DNS1123_LABEL_MAX,
    DNS1035_LABEL,
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character",
)


def dns1123_subdomain(value: str) -> str | None:
    """The rule a name breaks as a DNS-1123 subdomain (None when valid)."""
    return _name_rule(value, *_SUBDOMAIN_RULE)


def dns1123_label(value: str) -> str | None:
    """The rule a name breaks as a DNS-1123 label (None when valid)."""
    return _name_rule(value, *_LABEL_RULE)


def dns1035_label(value: str) -> str | None:
    """The rule a name breaks as a DNS-1035 label (Service names; None when valid)."""
    return _name_rule(value, *_DNS1035_RULE)


def qualified_name(value: str) -> str | None:
    """The rule a label or annotation key breaks (None when valid)."""
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return "prefix part must be non-empty"
        if (err := dns1123_subdomain(prefix)) is not None:
            return f"prefix part {err}"
    else:
        return (
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and "
            "end with an alphanumeric character, with an optional DNS subdomain prefix and '/'"
        )
    if not name:
        return "name part must be non-empty"
    if len(name) > QUALIFIED_NAME_MAX:
        return f"name part must be no more than {QUALIFIED_NAME_MAX} characters"
    if not _QUALIFIED.match(name):
        return (
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
            "with an alphanumeric character"
        )
    return None


def label_value(value: str) -> str | None:
    """The rule a label value breaks (None when valid)."""
    if len(value) > LABEL_VALUE_MAX:
        return f"must be no more than {LABEL_VALUE_MAX} characters"
    if value and not _QUALIFIED.match(value):
        return (
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character"
        )
    return None


def quantity(value: Any) -> str | None:
    """The rule a resource quantity breaks (None when it parses as ``resource.ParseQuantity`` does)."""
    if isinstance(value, bool):
        return "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    if isinstance(value, int | float):
        return None
    text = str(value)
    m = _QUANTITY.match(text)
    ok = m is not None and m.group(1).count(".") <= 1 and m.group(1).strip("+-.") != ""
    if ok and m is not None:
        suffix = m.group(2)
        ok = suffix in _SUFFIXES or re.fullmatch(r"[eE][-+]?[0-9]+", suffix) is not None
    if not ok:
        return "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    return None


def _check_labels(labels: Any, path: str) -> Iterator[str]:
    if not isinstance(labels, dict):
        return
    for key, value in labels.items():
        if (err := qualified_name(str(key))) is not None:
            yield _invalid(path, str(key), err)
        if not isinstance(value, str):
            yield f"{path}[{key}]: Invalid value: must be a string"
        elif (err := label_value(value)) is not None:
            yield _invalid(f"{path}[{key}]", value, err)


def _check_annotations(annotations: Any, path: str) -> Iterator[str]:
    if not isinstance(annotations, dict):
        return
    total = 0
    for key, value in annotations.items():
        if (err := qualified_name(str(key).lower())) is not None:
            yield _invalid(path, str(key), err)
        total += len(str(key)) + len(str(value))
    if total > TOTAL_ANNOTATION_SIZE:
        yield f"{path}: Too long: must have at most {TOTAL_ANNOTATION_SIZE} bytes"


def _check_meta(meta: Any, path: str) -> Iterator[str]:
    if not isinstance(meta, dict):
        return
    yield from _check_labels(meta.get("labels"), f"{path}.labels")
    yield from _check_annotations(meta.get("annotations"), f"{path}.annotations")


def _check_pod_spec(spec: dict[str, Any], path: str) -> Iterator[str]:
    yield from _check_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    for group in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(group) or []):
            where = f"{path}.{group}[{i}]"
            name = str(container.get("name") or "")
            if (err := dns1123_label(name)) is not None:
                yield _invalid(f"{where}.name", name, err)
            for kind in ("limits", "requests"):
                for res, value in ((container.get("resources") or {}).get(kind) or {}).items():
                    if (err := quantity(value)) is not None:
                        yield _invalid(f"{where}.resources.{kind}[{res}]", str(value), err)
            for j, env in enumerate(container.get("env") or []):
                env_name = str(env.get("name") or "")
                if not ENV_VAR_NAME.match(env_name):
                    yield _invalid(
                        f"{where}.env[{j}].name",
                        env_name,
                        "a valid environment variable name must consist of alphabetic characters, digits, "
                        "'_', '-', or '.', and must not start with a digit",
                    )
    for i, vol in enumerate(spec.get("volumes") or []):
        size = (vol.get("emptyDir") or {}).get("sizeLimit")
        if size is not None and (err := quantity(size)) is not None:
            yield _invalid(f"{path}.volumes[{i}].emptyDir.sizeLimit", str(size), err)


def _walk(node: Any, path: str) -> Iterator[str]:
    """Every metadata and pod spec nested in an object (Job templates, Kubeflow replica specs...)."""
    if isinstance(node, dict):
        if "metadata" in node and path:
            yield from _check_meta(node["metadata"], f"{path}.metadata")
        if isinstance(node.get("containers"), list):
            yield from _check_pod_spec(node, path)
        for key, value in node.items():
            if key == "metadata":
                continue
            yield from _walk(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, f"{path}[{i}]")


def check_object(obj: dict[str, Any]) -> list[str]:
    """What the API server would refuse in one object (empty when nothing)."""
    meta = obj.get("metadata") or {}
    problems: list[str] = []
    name = str(meta.get("name") or "")
    rule = dns1035_label if obj.get("kind") == "Service" else dns1123_subdomain
    if (err := rule(name)) is not None:
        problems.append(_invalid("metadata.name", name, err))
    problems.extend(_check_meta(meta, "metadata"))
    problems.extend(_walk({k: v for k, v in obj.items() if k != "metadata"}, ""))
    return problems


def check_objects(objects: list[dict[str, Any]]) -> str | None:
    """One message naming every object the API server would refuse, and why (None when all are valid)."""
    parts = []
    for obj in objects:
        problems = check_object(obj)
        if problems:
            what = f"{obj.get('kind')} {(obj.get('metadata') or {}).get('name')}"
            shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            parts.append(f"{what} is invalid: {shown}")
    return " | ".join(parts) if parts else None


class CreateRefused(Exception):
    """The API server refused a create in a way retrying cannot fix (400 Bad Request, 422 Invalid).

    Attributes:
        kind: Kind of the refused object.
        name: Its name.
        api_message: The API server's message.
        created: ``(ResourceKind, name)`` of the children created before it in the same pass (to delete).
    """

    def __init__(self, kind: str, name: str, api_message: str, created: list[tuple[Any, str]]) -> None:
        super().__init__(f"{kind} {name}: {api_message}")
        self.kind = kind
        self.name = name
        self.api_message = api_message
        self.created = created


#: HTTP statuses of a create that the same request can never pass (the object itself is wrong).
PERMANENT_CREATE_STATUSES = frozenset({400, 422})
