"""Reading a JSON or YAML file the user named, with a clear :class:`~training_hub.errors.InvalidInputError`
(which file, what it is, what is wrong) instead of a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from training_hub.errors import InvalidInputError


def read_structured(
    path: str | Path, what: str, language: Literal["JSON", "YAML"], *, documents: bool = False
) -> Any:
    """The parsed content of ``path``.

    Args:
        path: The file.
        what: What the file is, for the messages (``"model config"``); empty: the path alone.
        language: ``JSON`` or ``YAML`` (PyYAML's ``safe_load``).
        documents: YAML only: every document of the file, as a list.

    Raises:
        InvalidInputError: The file cannot be read, or is not valid ``language``.
    """
    file = Path(path)
    label = f"{what} {file}" if what else str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidInputError(f"cannot read {label}: {err.strerror or err}") from None
    if language == "JSON":
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise InvalidInputError(f"{label} is not valid JSON: {err}") from None
    import yaml

    try:
        return list(yaml.safe_load_all(text)) if documents else yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InvalidInputError(f"{label} is not valid YAML: {err}") from None
