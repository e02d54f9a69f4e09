"""The base of every parameter group: unknown names are errors, never silently ignored.

This package imports only pydantic (and :mod:`training_hub.storage.uri`): the operator imports it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictParams(BaseModel):
    """Base for parameter groups: unknown names are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)
