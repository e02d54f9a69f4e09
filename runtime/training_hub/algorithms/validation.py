"""Keyword checking and readable validation errors for the algorithm functions and the CLI.

The pydantic models of :mod:`training_hub.params` are the single source of truth; this module only turns
their errors into messages a user can act on (which field, why, what was given, which names are close).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ValidationError

from training_hub.contracts.errors import Problem, problems
from training_hub.errors import InvalidInputError
from training_hub.params import param_model, validate_params

#: Engine keyword names (instructlab-training, mini-trainer) spelled differently here, suggested in the
#: error message. Upstream training_hub's own names (``beta1``...) are accepted: ``params.UPSTREAM_RENAMES``.
UPSTREAM_NAMES: dict[str, str] = {
    "use_liger_kernels": "use_liger",
    "random_seed": "seed",
    "max_batch_len": "max_tokens_per_gpu",
    "num_warmup_steps": "warmup_steps",
    "osft_unfreeze_rank_ratio": "unfreeze_rank_ratio",
    "osft_target_patterns": "target_patterns",
    "max_epochs": "num_epochs",
    "batch_size": "effective_batch_size",
    "output_dir": "ckpt_output_dir",
    "keep_last_checkpoint_only": "keep_last_checkpoints",
}


def suggest(name: str, known: Iterable[str]) -> list[str]:
    """Known names close to ``name`` (upstream spellings first)."""
    names = list(known)
    found: list[str] = []
    if name in UPSTREAM_NAMES and UPSTREAM_NAMES[name] in names:
        found.append(UPSTREAM_NAMES[name])
    for match in difflib.get_close_matches(name, names, n=3, cutoff=0.6):
        if match not in found:
            found.append(match)
    return found


def unknown_keywords_message(what: str, unknown: Iterable[str], known: Iterable[str]) -> str:
    """A message naming each unknown keyword with its close matches."""
    known_list = sorted(known)
    lines = []
    for name in sorted(unknown):
        close = suggest(name, known_list)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        lines.append(f"  - {name!r} is not a parameter of {what}{hint}")
    return "unknown parameter(s):\n" + "\n".join(lines)


def check_keywords(algorithm: str, names: Iterable[str], extra: Iterable[str] = ()) -> None:
    """Raise :class:`InvalidInputError` if a name is not a parameter of ``algorithm``.

    Args:
        algorithm: Algorithm name.
        names: Keyword names given by the user.
        extra: Names accepted besides the model's fields (e.g. ``callbacks``).
    """
    known = set(param_model(algorithm).model_fields) | set(extra)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInputError(unknown_keywords_message(f"{algorithm}()", unknown, known))


def format_validation_error(error: ValidationError, what: str, flag_style: bool = False) -> str:
    """Render a pydantic error as one line per problem: field, reason, given value.

    Args:
        error: The pydantic error.
        what: What was validated, e.g. ``"sft()"``.
        flag_style: Name fields as CLI flags (``--learning-rate``).
    """
    known = _fields_of(what)
    lines: list[str] = []
    unions: dict[str, list[str]] = {}
    items: list[Problem] = []
    for item in problems(error, root="(parameters)"):
        loc = item.loc
        # A union field reports one error per member type (loc = (field, "int")): merge them into one line.
        if len(loc) >= 2 and isinstance(loc[1], str) and str(loc[0]) in known:
            unions.setdefault(str(loc[0]), []).append(item.message.removeprefix("Input should be "))
            if len(unions[str(loc[0])]) == 1:
                items.append(replace(item, loc=(loc[0],), location=str(loc[0]), kind="union"))
            continue
        items.append(item)
    for item in items:
        loc = item.loc
        shown = (
            f"{item.location} (--{item.location.replace('_', '-')})" if flag_style and loc else item.location
        )
        if item.kind == "union":
            field = str(loc[0])
            lines.append(f"  - {shown}: should be {' or '.join(unions[field])} (got {item.input!r})")
        elif item.kind == "extra_forbidden":
            close = suggest(str(loc[-1]), known) if loc else []
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            lines.append(f"  - {shown}: unknown parameter{hint}")
        elif item.kind == "missing":
            lines.append(f"  - {shown}: required, but not given")
        elif loc and item.has_input:
            lines.append(f"  - {shown}: {item.message} (got {item.input!r})")
        else:
            lines.append(f"  - {shown}: {item.message}")
    return f"invalid parameters for {what}:\n" + "\n".join(lines)


def _fields_of(what: str) -> set[str]:
    name = what.removesuffix("()").replace("-", "_")
    try:
        return set(param_model(name).model_fields)
    except ValueError:
        return set()


def validate(algorithm: str, values: Mapping[str, Any]) -> BaseModel:
    """Validate an algorithm's keywords (``None`` means "not set").

    Raises:
        InvalidInputError: With a readable message naming each bad field.
    """
    return validated(algorithm, values).model


class ValidatedParams(dict[str, Any]):
    """An algorithm's keywords, validated once at the edge (the public functions, the CLI, the pod).

    As a dict it holds the keywords the user set (``None`` dropped), by the names the user gave: what
    upstream hands a backend's ``execute_training``, so a backend written for upstream sees what it
    expects. Our backends and the engine read :attr:`model` (typed, defaults filled in) and never validate
    again; a plain dict passed to them directly is validated where it enters (:func:`validated`).

    Attributes:
        algorithm: The algorithm the keywords were validated for.
        model: The validated parameter model.
    """

    def __init__(self, algorithm: str, given: Mapping[str, Any], model: BaseModel) -> None:
        super().__init__(given)
        self.algorithm = algorithm
        #: Typed ``Any``: its class is ``param_model(algorithm)``, which each backend knows.
        self.model: Any = model

    @property
    def explicit(self) -> frozenset[str]:
        """The names the user set (a value the user asked for, as opposed to a default)."""
        return frozenset(self)


def validated(algorithm: str, values: Mapping[str, Any]) -> ValidatedParams:
    """``values`` validated for ``algorithm``: returned as is when it already is (no second validation).

    Args:
        algorithm: Algorithm name.
        values: Keywords (``None`` means "not set"), or the :class:`ValidatedParams` of an earlier call.

    Raises:
        InvalidInputError: With a readable message naming each bad field.
    """
    if isinstance(values, ValidatedParams) and values.algorithm == algorithm:
        return values
    check_keywords(algorithm, values)
    try:
        model = validate_params(algorithm, dict(values))
    except ValidationError as err:
        raise InvalidInputError(format_validation_error(err, f"{algorithm}()")) from None
    return ValidatedParams(algorithm, given_params(values), model)


def given_params(values: Mapping[str, Any]) -> dict[str, Any]:
    """The keywords that are set (not ``None``), as upstream hands them to the backend."""
    return {k: v for k, v in values.items() if v is not None}
