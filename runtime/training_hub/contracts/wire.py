"""The base of every model that travels to and from the Kubernetes API: camelCase, unknown fields refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """Base of every API model: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, validate_assignment=False
    )

    def wire(self) -> dict[str, object]:
        """The wire form: camelCase keys, unset (None) fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True)
