"""argparse flags generated from the pydantic parameter models (the single source of parameter names).

Every field becomes ``--field-name`` (``--field_name`` is accepted too, see :func:`normalize_argv`) with the field's description as
help and its default shown; booleans are ``--flag`` / ``--no-flag``; list fields take comma-separated
values and may be repeated; ``Literal`` fields list their choices. Unset flags are absent from the parsed
namespace, so that a YAML config can fill them and explicit flags override it.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from training_hub.algorithms.validation import suggest
from training_hub.errors import InvalidInputError
from training_hub.structured_files import read_structured


def flag_name(field: str) -> str:
    """``learning_rate`` -> ``--learning-rate``."""
    return "--" + field.replace("_", "-")


def _members(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def split_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: a comma-separated flag value (empty parts dropped)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _int_or_str(text: str) -> int | str:
    stripped = text.strip()
    return int(stripped) if stripped.isdigit() else stripped


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    default = info.default
    if default is None:
        return "default: not set"
    if isinstance(default, bool):
        return f"default: {'on' if default else 'off'}"
    if isinstance(default, list):
        return f"default: {','.join(map(str, default))}"
    return f"default: {default}"


def _help(info: FieldInfo) -> str:
    text = (info.description or "").replace("%", "%%")
    return f"{text} ({_default_text(info)})"


def normalize_argv(argv: list[str]) -> list[str]:
    """Accept ``--field_name`` for ``--field-name`` (also ``--no_flag`` and ``--field_name=value``)."""
    result = []
    for arg in argv:
        if arg.startswith("--") and "_" in arg.split("=", 1)[0]:
            name, sep, value = arg.partition("=")
            arg = name.replace("_", "-") + sep + value
        result.append(arg)
    return result


def add_model_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    model: type[BaseModel],
    skip: tuple[str, ...] = (),
) -> None:
    """Add one flag per field of ``model`` (values land under the field name; unset flags are absent)."""
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        names = [flag_name(name)]
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": _help(info)}
        members = _members(info.annotation)
        first = members[0]
        if all(m is bool for m in members):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(first) is list:
            kwargs.update(action="extend", type=split_list, metavar="A,B")
        elif typing.get_origin(first) is Literal:
            kwargs.update(
                choices=list(typing.get_args(first)), metavar="{" + ",".join(typing.get_args(first)) + "}"
            )
        elif set(members) == {int, str}:
            kwargs.update(type=_int_or_str, metavar="VALUE")
        elif first is int:
            kwargs.update(type=int, metavar="N")
        elif first is float:
            kwargs.update(type=float, metavar="X")
        else:
            kwargs.update(type=str, metavar="TEXT")
        parser.add_argument(*names, **kwargs)


def given_flags(args: argparse.Namespace, model: type[BaseModel]) -> dict[str, Any]:
    """The model fields set on the command line."""
    return {name: getattr(args, name) for name in model.model_fields if hasattr(args, name)}


def load_config(path: str | Path, model: type[BaseModel], what: str) -> dict[str, Any]:
    """Read a YAML config of parameters (keys with ``-`` or ``_``); unknown keys are an error.

    Raises:
        InvalidInputError: When the file is missing, not a mapping, or has unknown keys.
    """
    file = Path(path)
    data = read_structured(file, "config", "YAML")
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"config {file} must be a mapping of parameter names to values")
    values = {str(k).replace("-", "_"): v for k, v in data.items()}
    known = set(model.model_fields)
    unknown = sorted(set(values) - known)
    if unknown:
        lines = []
        for key in unknown:
            close = suggest(key, known)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            lines.append(f"  - {key!r} is not a parameter of {what}{hint}")
        raise InvalidInputError(f"config {file} has unknown keys:\n" + "\n".join(lines))
    return values
