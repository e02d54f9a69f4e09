"""Validation of a whole TrainingRun spec with messages a user can act on.

The API server already enforced the structural schema; this adds what the schema cannot say (the CRD has
no CEL rules on Kubernetes 1.20): the hyperparameters must belong to the chosen algorithm and be valid for
it, reserved environment names, resource bounds across fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from training_hub.contracts.errors import validation_lines
from training_hub.params import HYPERPARAMETER_MODELS
from training_hub_operator.api import patterns
from training_hub_operator.api.spec import TrainingRunSpec

#: Human descriptions of the patterns the schema uses, for error messages.
_PATTERN_HELP: dict[str, str] = {
    patterns.QUANTITY_PATTERN: "a Kubernetes quantity such as 80Gi, 500m or 4",
    patterns.DNS_SUBDOMAIN_PATTERN: "a lowercase DNS name (a-z, 0-9, '-', '.')",
    patterns.DNS_LABEL_PATTERN: "a lowercase DNS label (a-z, 0-9, '-')",
    patterns.ENV_NAME_PATTERN: "a valid environment variable name",
}


@dataclass(frozen=True)
class ValidatedSpec:
    """A spec that passed every rule."""

    spec: TrainingRunSpec
    hyperparameters: BaseModel

    def hyperparameters_set(self) -> dict[str, Any]:
        """Only the hyperparameters the user set (the runtime applies its own defaults to the rest)."""
        return self.hyperparameters.model_dump(exclude_unset=True)


class SpecError(ValueError):
    """A spec that cannot be accepted; ``str()`` is the message for the ``Accepted`` condition."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


def format_validation_error(exc: ValidationError, prefix: str = "spec") -> list[str]:
    """Turn a pydantic error into one line per problem, naming the field path."""
    return validation_lines(exc, prefix, pattern_help=_PATTERN_HELP)


def validate_spec(spec: dict[str, Any]) -> ValidatedSpec:
    """Validate a ``TrainingRun.spec`` given as its wire dict.

    Args:
        spec: The spec as stored by the API server.

    Returns:
        The parsed spec and the algorithm's hyperparameter model.

    Raises:
        SpecError: With one message per problem.
    """
    try:
        parsed = TrainingRunSpec.model_validate(spec)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc)) from None
    model = HYPERPARAMETER_MODELS[parsed.algorithm]
    allowed = set(model.model_fields)
    foreign = sorted(k for k in parsed.hyperparameters if k not in allowed)
    errors: list[str] = []
    if foreign:
        other = {
            k: [a for a, m in HYPERPARAMETER_MODELS.items() if k in m.model_fields and a != parsed.algorithm]
            for k in foreign
        }
        for k in foreign:
            where = f" (a parameter of {', '.join(other[k])})" if other[k] else ""
            errors.append(
                f"spec.hyperparameters.{k}: not a parameter of algorithm {parsed.algorithm}{where}; remove it"
            )
    given = {k: v for k, v in parsed.hyperparameters.items() if k in allowed}
    try:
        hp = model.model_validate(given)
    except ValidationError as exc:
        errors.extend(format_validation_error(exc, prefix="spec.hyperparameters"))
        hp = None
    if errors or hp is None:
        raise SpecError(errors)
    return ValidatedSpec(spec=parsed, hyperparameters=hp)
