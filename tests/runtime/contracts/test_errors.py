"""``training_hub.contracts.errors``: a pydantic error as lines naming the field, the one formatter."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from training_hub.contracts.errors import location, problems, validation_lines, validation_message

pytestmark = pytest.mark.unit


class _Var(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Z_]+$")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int
    env: list[_Var] = []
    rate: float = 1.0

    @field_validator("rate")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be > 0")
        return value


def _error(data: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        _Spec.model_validate(data)
    return info.value


def test_location_writes_indexes_after_their_field() -> None:
    assert location(("env", 2, "name"), "spec") == "spec.env[2].name"
    assert location((0, "x")) == "[0].x"
    assert location((), root="(root)") == "(root)"


def test_each_kind_of_problem_reads_as_words() -> None:
    exc = _error({"env": [{"name": "ok"}], "rate": -1, "colour": "red"})
    by_location = {p.location: p for p in problems(exc, prefix="spec", pattern_help={r"^[A-Z_]+$": "NAME"})}
    assert by_location["spec.size"].message == "required field is missing"
    assert by_location["spec.colour"].message == "unknown field"
    assert by_location["spec.rate"].message == "must be > 0"  # pydantic's "Value error, " is gone
    assert by_location["spec.rate"].input == -1
    assert by_location["spec.env[0].name"].message == "'ok' is not NAME"


def test_renderings() -> None:
    exc = _error({"size": "x"})
    assert validation_lines(exc, "spec") == [
        "spec.size: Input should be a valid integer, unable to parse string as an integer"
    ]
    assert (
        validation_message(exc)
        == "size: Input should be a valid integer, unable to parse string as an integer"
    )
    with pytest.raises(ValidationError) as info:
        _Spec.model_validate("not a mapping")
    assert validation_message(info.value).startswith("(root): ")
    assert validation_lines(info.value, "spec")[0].startswith("Input should be")  # no location to name
