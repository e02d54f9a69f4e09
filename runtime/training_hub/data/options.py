"""The data options of a run's parameters, upstream training_hub's keywords included.

One place turns the parameters into :func:`~training_hub.data.dataset.prepare_dataset`'s options:
``data_format`` (or upstream's LoRA ``dataset_type``), ``unmask_roles`` (or upstream's OSFT
``unmask_messages``: every role but system) and the file's key names (``document_column_name``,
``field_messages``, ``field_instruction``, ``field_input``, ``field_output``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from training_hub.data.formats import ROLES
from training_hub.errors import InvalidInputError

#: Upstream keyword -> the default key it renames (``formats.DEFAULT_KEYS``).
KEY_PARAMS: dict[str, str] = {
    "document_column_name": "document",
    "field_messages": "messages",
    "field_instruction": "instruction",
    "field_input": "input",
    "field_output": "output",
}
#: Upstream LoRA ``dataset_type`` -> our ``data_format`` (``passthrough`` has no equivalent here).
DATASET_TYPES: dict[str, str] = {"chat_template": "messages", "alpaca": "alpaca"}


def data_keys(params: Mapping[str, Any]) -> dict[str, str]:
    """Default key -> the file's key, for the key names the parameters set."""
    return {default: params[name] for name, default in KEY_PARAMS.items() if params.get(name)}


def data_format(params: Mapping[str, Any]) -> str:
    """``data_format``, or the one upstream's ``dataset_type`` names.

    Raises:
        InvalidInputError: The two disagree, or ``dataset_type`` has no equivalent here.
    """
    fmt = str(params.get("data_format") or "auto")
    kind = params.get("dataset_type")
    if kind is None:
        return fmt
    if kind not in DATASET_TYPES:
        raise InvalidInputError(
            f"dataset_type={kind!r}: the native engine reads chat_template (messages) or alpaca data; "
            "use backend='unsloth' for passthrough"
        )
    mapped = DATASET_TYPES[kind]
    if fmt not in ("auto", mapped):
        raise InvalidInputError(f"dataset_type={kind!r} and data_format={fmt!r} disagree: set one of them")
    return mapped


def unmask_roles(params: Mapping[str, Any]) -> list[str] | None:
    """``unmask_roles``, or every role but system with upstream's ``unmask_messages=True``.

    Raises:
        InvalidInputError: Both are set.
    """
    roles = params.get("unmask_roles")
    if not params.get("unmask_messages"):
        return list(roles) if roles else None
    if roles:
        raise InvalidInputError("unmask_messages and unmask_roles both choose the trained roles: set one")
    return sorted(ROLES - {"system"})


def data_options(params: Mapping[str, Any], algorithm: str = "sft") -> dict[str, Any]:
    """``data_format``, ``unmask_roles``, ``keys`` and ``alpaca_as_text`` for ``prepare_dataset``.

    ``lora_sft`` trains as upstream's LoRA backend does: alpaca samples as one text in upstream's template,
    ``messages`` samples as the whole text the chat template renders (system prompt and role headers
    included), every token, unless ``unmask_roles`` / ``unmask_messages`` choose roles; ``sft``/``osft``
    train the assistant turns of a user/assistant exchange.
    """
    roles = unmask_roles(params)
    return {
        "data_format": data_format(params),
        "unmask_roles": roles,
        "keys": data_keys(params),
        "alpaca_as_text": algorithm == "lora_sft",
        "messages_as_text": algorithm == "lora_sft" and not roles,
    }
