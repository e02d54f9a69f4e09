"""A pydantic validation error as messages a user can act on: one line per problem, naming the field.

Every place that turns a :class:`pydantic.ValidationError` into a message (the operator's ``Accepted``
condition, the pod entrypoint, the engine, the CLI, the Python API) goes through :func:`problems`;
:func:`validation_lines` and :func:`validation_message` are its plain renderings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True)
class Problem:
    """One problem of a validation error.

    Attributes:
        loc: pydantic's location (field names and list indexes).
        location: The location written out (``spec.runtime.env[2].name``); the root's name when empty.
        message: What is wrong, in words (pydantic's message, cleaned up).
        kind: pydantic's error type (``missing``, ``extra_forbidden``, ``string_pattern_mismatch``...).
        input: The value given (None when pydantic reports none).
        has_input: Whether pydantic reports the value given.
    """

    loc: tuple[Any, ...]
    location: str
    message: str
    kind: str
    input: Any = None
    has_input: bool = False


def location(loc: tuple[Any, ...], prefix: str = "", root: str = "") -> str:
    """``("env", 2, "name")`` with prefix ``spec`` -> ``spec.env[2].name``; ``root`` when nothing is left."""
    parts = [prefix] if prefix else []
    for p in loc:
        if isinstance(p, int):
            if parts:
                parts[-1] = f"{parts[-1]}[{p}]"
            else:
                parts.append(f"[{p}]")
        else:
            parts.append(str(p))
    return ".".join(parts) or root


def problems(
    exc: ValidationError, prefix: str = "", root: str = "", pattern_help: Mapping[str, str] | None = None
) -> list[Problem]:
    """The problems of a validation error.

    Args:
        exc: The pydantic error.
        prefix: Written before every location (``spec``, ``spec.hyperparameters``).
        root: The location of a problem of the whole object (no field).
        pattern_help: Regex pattern -> what it means, for ``string_pattern_mismatch`` messages.
    """
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        kind = str(err.get("type", ""))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            msg = "unknown field"
        elif kind == "missing":
            msg = "required field is missing"
        elif kind == "string_pattern_mismatch":
            pattern = str((err.get("ctx") or {}).get("pattern", ""))
            meaning = (pattern_help or {}).get(pattern, "of the expected form: " + pattern)
            msg = f"{err.get('input')!r} is not {meaning}"
        out.append(Problem(loc, location(loc, prefix, root), msg, kind, err.get("input"), "input" in err))
    return out


def validation_lines(
    exc: ValidationError, prefix: str = "", root: str = "", pattern_help: Mapping[str, str] | None = None
) -> list[str]:
    """``location: message`` per problem (only the message for a problem of the root or the prefix)."""
    return [
        f"{p.location}: {p.message}" if p.location and p.location not in (prefix, root) else p.message
        for p in problems(exc, prefix, root, pattern_help)
    ]


def validation_message(exc: ValidationError, root: str = "(root)") -> str:
    """All problems on one line: ``a.b: message; c: message``."""
    return "; ".join(f"{p.location}: {p.message}" for p in problems(exc, root=root))
