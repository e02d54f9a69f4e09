"""Kubeflow's and Kubernetes' own API definitions as the tests' oracle.

* ``kubeflow-trainer-api`` (PyPI, the models generated from kubeflow/trainer's Go types: v2.3.0 here) for
  ``TrainJob``, ``ClusterTrainingRuntime`` and ``JobSet``;
* ``kubeflow-training`` (PyPI, Training Operator v1 SDK: 1.9.4 here) for ``PyTorchJob``;
* ``kubernetes-validate`` (the OpenAPI schemas of every Kubernetes release, strict: unknown fields fail) for
  built-in objects.

:func:`dropped_by_official_model` round-trips an object through its official model and lists every key
the model does not keep (what a real API server of that release would prune). :func:`structural_crd`
builds a CustomResourceDefinition whose structural schema is derived from the official model's JSON
schema, so that a local API server prunes exactly those fields (generated at test time, never copied).
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

#: Kubernetes versions built-in objects are validated against (``kubernetes-validate`` ships 1.25..1.37).
KUBERNETES_VERSIONS: tuple[str, ...] = ("1.29.0", "1.31.0", "1.33.0", "1.35.0", "1.37.0")
BUILTIN_KINDS = frozenset({"ConfigMap", "Service", "Job", "Pod", "Secret"})


def _trainer_model(kind: str) -> Any:
    from kubeflow_trainer_api import models

    return {
        "TrainJob": models.TrainerV1alpha1TrainJob,
        "ClusterTrainingRuntime": models.TrainerV1alpha1ClusterTrainingRuntime,
        "TrainingRuntime": models.TrainerV1alpha1TrainingRuntime,
        "JobSet": models.JobsetV1alpha2JobSet,
    }[kind]


def _roundtrip_pytorchjob(obj: dict[str, Any]) -> dict[str, Any]:
    from kubeflow.training import ApiClient, models

    client = ApiClient()

    class _Response:
        data = json.dumps(obj)

    model = client.deserialize(_Response(), models.KubeflowOrgV1PyTorchJob)
    return client.sanitize_for_serialization(model)  # type: ignore[no-any-return]


def roundtrip(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as its official model reads and writes it back."""
    kind = obj.get("kind")
    if kind == "PyTorchJob":
        return _roundtrip_pytorchjob(obj)
    return _trainer_model(str(kind)).from_dict(obj).to_dict()  # type: ignore[no-any-return]


def dropped_keys(sent: Any, kept: Any, path: str = "") -> list[str]:
    """Every key (with its path) in ``sent`` that ``kept`` lacks, and every value it changed."""
    out: list[str] = []
    if isinstance(sent, dict):
        if not isinstance(kept, dict):
            return [f"{path or '.'}: {type(kept).__name__} instead of an object"]
        for key, value in sent.items():
            if key not in kept:
                out.append(f"{path}.{key}")
            else:
                out.extend(dropped_keys(value, kept[key], f"{path}.{key}"))
    elif isinstance(sent, list):
        if not isinstance(kept, list) or len(kept) != len(sent):
            return [f"{path}: list of {len(sent)} kept as {kept!r}"]
        for i, (a, b) in enumerate(zip(sent, kept, strict=True)):
            out.extend(dropped_keys(a, b, f"{path}[{i}]"))
    elif str(sent) != str(kept):  # quantities and int-or-strings may come back as strings
        out.append(f"{path}: {sent!r} kept as {kept!r}")
    return out


def dropped_by_official_model(obj: dict[str, Any]) -> list[str]:
    """Paths of the keys of a Kubeflow object that its official model does not keep."""
    return dropped_keys(obj, roundtrip(obj))


def validate_builtin(obj: dict[str, Any], version: str) -> None:
    """Validate a built-in object strictly (unknown fields fail) against Kubernetes ``version``.

    Raises:
        kubernetes_validate.ValidationError: If the object does not conform.
    """
    import kubernetes_validate

    kubernetes_validate.validate(obj, version, strict=True)


# ------------------------------------------------------------------------------- structural CRD schemas
#: Fields of an embedded ``ObjectMeta`` that controller-gen keeps with ``generateEmbeddedObjectMeta=true``
#: (kubeflow/trainer v2.3.0 Makefile ``manifests`` target).
EMBEDDED_METADATA = ("labels", "annotations", "name", "namespace", "finalizers")
OBJECT_META = "IoK8sApimachineryPkgApisMetaV1ObjectMeta"
INT_OR_STRING = {"IoK8sApimachineryPkgUtilIntstrIntOrString", "IoK8sApimachineryPkgApiResourceQuantity"}


def _structural(node: dict[str, Any], defs: dict[str, Any], depth: int, top: bool = False) -> dict[str, Any]:
    """Turn a pydantic JSON schema node into a structural OpenAPI v3 schema (every node typed, no $ref)."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in INT_OR_STRING:
            return {"x-kubernetes-int-or-string": True}
        if name == OBJECT_META:
            if top:
                return {"type": "object"}
            str_map = {"type": "object", "additionalProperties": {"type": "string"}}
            return {
                "type": "object",
                "properties": {
                    "labels": str_map,
                    "annotations": str_map,
                    "name": {"type": "string"},
                    "namespace": {"type": "string"},
                    "finalizers": {"type": "array", "items": {"type": "string"}},
                },
            }
        if depth > 40:  # recursive types (JSONSchemaProps): keep the rest
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        return _structural(defs[name], defs, depth + 1)
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in node:
            options = [o for o in node[combinator] if o.get("type") != "null"]
            if len(options) == 1:
                return _structural(options[0], defs, depth)
            kinds = {o.get("type") for o in options}
            if kinds <= {"integer", "string"}:
                return {"x-kubernetes-int-or-string": True}
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    kind = node.get("type")
    if kind == "object" or "properties" in node or "additionalProperties" in node:
        out: dict[str, Any] = {"type": "object"}
        if "properties" in node:
            out["properties"] = {
                key: _structural(value, defs, depth + 1) for key, value in node["properties"].items()
            }
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            out["additionalProperties"] = _structural(extra, defs, depth + 1)
        elif extra is True or ("properties" not in node and extra is None):
            out["x-kubernetes-preserve-unknown-fields"] = True
        return out
    if kind == "array":
        return {"type": "array", "items": _structural(node.get("items") or {}, defs, depth + 1)}
    if kind in ("string", "integer", "number", "boolean"):
        out = {"type": kind}
        if node.get("format") == "date-time":
            out["format"] = "date-time"
        return out
    # No type at all (a free-form value): keep it as the API server would with an empty schema.
    return {"x-kubernetes-preserve-unknown-fields": True}


@cache
def openapi_schema(kind: str) -> dict[str, Any]:
    """The structural schema of a Kubeflow kind, derived from its official model's JSON schema."""
    if kind == "PyTorchJob":
        return _pytorchjob_schema()
    schema = _trainer_model(kind).model_json_schema(by_alias=True)
    defs = schema.get("$defs") or {}
    props = {key: _structural(value, defs, 0) for key, value in (schema.get("properties") or {}).items()}
    props["metadata"] = {"type": "object"}
    return {"type": "object", "properties": props}


def _openapi_types_schema(cls: Any, depth: int = 0) -> dict[str, Any]:
    """Structural schema of an openapi-generator (swagger) model class of ``kubeflow-training``/``kubernetes``
    from its ``openapi_types``."""
    from kubeflow.training import models as kf_models
    from kubernetes import client as k8s

    props: dict[str, Any] = {}
    for attr, type_name in cls.openapi_types.items():
        props[cls.attribute_map[attr]] = _type_schema(type_name, depth + 1, k8s, kf_models)
    return {"type": "object", "properties": props}


def _type_schema(type_name: str, depth: int, k8s: Any, kf_models: Any) -> dict[str, Any]:
    if type_name.startswith("list["):
        return {"type": "array", "items": _type_schema(type_name[5:-1], depth, k8s, kf_models)}
    if type_name.startswith("dict("):
        value = type_name[5:-1].split(", ", 1)[1]
        return {"type": "object", "additionalProperties": _type_schema(value, depth, k8s, kf_models)}
    simple = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "datetime": "string"}
    if type_name in simple:
        return {"type": simple[type_name]}
    if type_name in ("object", "Quantity"):  # IntOrString and Quantity in the swagger models
        return {"x-kubernetes-int-or-string": True}
    if type_name == "V1ObjectMeta":
        return {"type": "object"} if depth <= 1 else _openapi_types_schema(k8s.V1ObjectMeta, depth)
    cls = getattr(kf_models, type_name, None) or getattr(k8s, type_name, None)
    if cls is None:  # K8sIoApiAutoscalingV2MetricSpec -> the kubernetes client's V2MetricSpec
        match = re.search(r"V\d+(?:alpha\d+|beta\d+)?[A-Z]\w*$", type_name)
        cls = getattr(k8s, match.group(0)) if match else None
    if cls is None:
        raise LookupError(f"no model {type_name} in kubeflow-training or the kubernetes client")
    if depth > 40:
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return _openapi_types_schema(cls, depth)


def _pytorchjob_schema() -> dict[str, Any]:
    from kubeflow.training import models

    schema = _openapi_types_schema(models.KubeflowOrgV1PyTorchJob)
    schema["properties"]["metadata"] = {"type": "object"}
    return schema


#: Names of the Kubeflow CRDs the tests install: kind -> (group, version, plural, list kind, scope).
CRDS: dict[str, tuple[str, str, str, str]] = {
    "TrainJob": ("trainer.kubeflow.org", "v1alpha1", "trainjobs", "Namespaced"),
    "ClusterTrainingRuntime": ("trainer.kubeflow.org", "v1alpha1", "clustertrainingruntimes", "Cluster"),
    "PyTorchJob": ("kubeflow.org", "v1", "pytorchjobs", "Namespaced"),
}


def structural_crd(kind: str) -> dict[str, Any]:
    """A CustomResourceDefinition of a Kubeflow kind whose schema comes from the official model (no field
    is kept that the model does not define), with the status subresource."""
    group, version, plural, scope = CRDS[kind]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
            },
            "scope": scope,
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": copy.deepcopy(openapi_schema(kind))},
                    "subresources": {"status": {}},
                }
            ],
        },
    }


def write_crds(directory: Path, *kinds: str) -> list[Path]:
    """Write :func:`structural_crd` of each kind as a YAML file in ``directory`` (for ``install_crds``)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in kinds:
        crd = structural_crd(kind)
        path = directory / f"{crd['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(crd, sort_keys=False))
        paths.append(path)
    return paths
