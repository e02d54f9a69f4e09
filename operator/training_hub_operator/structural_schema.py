"""A pydantic JSON schema as a Kubernetes *structural* OpenAPI v3 schema: ``$ref`` inlined, ``Optional``
unions flattened (``nullable`` where null means something), ``Literal`` as ``enum``, numeric exclusive bounds
in the OpenAPI 3.0 form, free-form dicts marked ``x-kubernetes-preserve-unknown-fields``."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

_DROP_KEYS = {"title", "examples"}


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        merged = {**copy.deepcopy(defs[name]), **{k: v for k, v in schema.items() if k != "$ref"}}
        return _resolve(merged, defs)
    return schema


def to_structural(
    schema: dict[str, Any], defs: dict[str, Any], *, keep_defaults: bool = True
) -> dict[str, Any]:
    """Convert one pydantic JSON-schema node to a structural OpenAPI v3 node (recursively)."""
    schema = _resolve(copy.deepcopy(schema), defs)
    out: dict[str, Any] = {}
    nullable = False
    if "anyOf" in schema:
        options = [_resolve(o, defs) for o in schema.pop("anyOf")]
        non_null = [o for o in options if o.get("type") != "null"]
        nullable = len(non_null) != len(options)
        if len(non_null) == 1:
            base = non_null[0]
            schema = {**base, **schema}
        else:
            types = {o.get("type") for o in non_null}
            if types <= {"integer", "string"}:
                schema = {**schema, "x-kubernetes-int-or-string": True}
            else:  # pragma: no cover (no such field in the API)
                raise ValueError(f"cannot express union {types} in a structural schema")
    if "allOf" in schema and len(schema["allOf"]) == 1:
        schema = {**_resolve(schema.pop("allOf")[0], defs), **schema}
    if "const" in schema:
        schema["enum"] = [schema.pop("const")]
    for key, value in schema.items():
        if key in _DROP_KEYS or key in ("properties", "items", "additionalProperties", "required"):
            continue
        if key == "default" and not keep_defaults:
            continue
        if key == "exclusiveMinimum":
            out["minimum"] = value
            out["exclusiveMinimum"] = True
        elif key == "exclusiveMaximum":
            out["maximum"] = value
            out["exclusiveMaximum"] = True
        elif key == "default" and value is None:
            continue
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if nullable and out.get("default", "x") is None:
        out.pop("default")
    if nullable and schema.get("default") is not None:
        # Only where null means something other than "unset" (e.g. max_grad_norm: null = no clipping):
        # kube-apiserver publishes nullable fields without a type, so `kubectl explain` shows them as <>.
        out["nullable"] = True
    typ = out.get("type")
    if typ == "object" or "properties" in schema:
        out["type"] = "object"
        props = schema.get("properties")
        if props:
            out["properties"] = {
                name: to_structural(sub, defs, keep_defaults=keep_defaults) for name, sub in props.items()
            }
            if schema.get("required"):
                out["required"] = list(schema["required"])
        addl = schema.get("additionalProperties")
        if isinstance(addl, dict) and addl:
            if _resolve(addl, defs).get("type") in (None, "object") and not _resolve(addl, defs).get(
                "properties"
            ):
                out["x-kubernetes-preserve-unknown-fields"] = True
            else:
                out["additionalProperties"] = to_structural(addl, defs, keep_defaults=keep_defaults)
        elif not props:
            out["x-kubernetes-preserve-unknown-fields"] = True
    elif typ == "array":
        items = schema.get("items") or {}
        out["items"] = (
            to_structural(items, defs, keep_defaults=keep_defaults)
            if items
            else {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
            }
        )
    elif typ is None and "x-kubernetes-int-or-string" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def model_schema(model: type[BaseModel], *, keep_defaults: bool = True) -> dict[str, Any]:
    """The structural schema of a pydantic model (wire names)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    schema = to_structural(raw, defs, keep_defaults=keep_defaults)
    if model.__doc__:
        schema["description"] = " ".join(model.__doc__.strip().split("\n\n")[0].split())
    return schema


def default_text(v: Any) -> str:
    """A default value as the CRD descriptions and the reference page write it (``null``, ``true``)."""
    return "null" if v is None else (str(v).lower() if isinstance(v, bool) else str(v))


def strip_nullable(schema: dict[str, Any]) -> None:
    """Drop ``nullable`` from a schema and every nested property and item schema."""
    schema.pop("nullable", None)
    for sub in schema.get("properties", {}).values():
        strip_nullable(sub)
    if isinstance(schema.get("items"), dict):
        strip_nullable(schema["items"])
