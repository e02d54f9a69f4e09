"""Reward functions of upstream training_hub's GRPO API (``training_hub.algorithms.rewards`` of 0.11.2).

They score a model's answer and need nothing but the standard library, so they work here although GRPO
training itself does not (see :func:`training_hub.lora_grpo`): use them to score tool-calling outputs of
any model, e.g. in an evaluation script. Same semantics as upstream's.
"""

from __future__ import annotations

import json
from typing import Any

#: Tolerance of :func:`binary_reward`'s threshold comparison (upstream's).
_EPSILON = 1e-6


def tool_call_reward(model_response: Any, expected_name: str, expected_args: dict[str, Any]) -> float:
    """Score a tool call against the expected function name and arguments.

    Args:
        model_response: An OpenAI ``Choice``, a chat message object (``tool_calls`` or legacy
            ``function_call``), or the same as a dict.
        expected_name: The function the model should call. Names match exactly, when one ends with the
            other, or after lower-casing with ``-`` and ``.`` read as ``_``.
        expected_args: The arguments it should pass (a dict or its JSON text). String values that read as
            numbers compare as numbers; others compare stripped.

    Returns:
        1.0 for the right name and arguments, 0.5 for the right name with other arguments, 0.0 for another
        name or no tool call.
    """
    name, args = _first_tool_call(model_response)
    if name is None or not _same_name(name, expected_name):
        return 0.0
    return 1.0 if _same_args(args, expected_args) else 0.5


def binary_reward(reward_value: float, threshold: float = 1.0) -> float:
    """1.0 when ``reward_value`` reaches ``threshold`` (within 1e-6), else 0.0."""
    return 1.0 if reward_value >= threshold - _EPSILON else 0.0


def _field(obj: Any, key: str) -> Any:
    """``obj[key]`` for dicts, ``obj.key`` otherwise (``None`` when absent)."""
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _first_tool_call(response: Any) -> tuple[str | None, Any]:
    """The name and arguments of the response's first tool call (``(None, {})`` when it has none)."""
    message = _field(response, "message")
    if message is not None and not isinstance(response, dict):
        response = message  # an OpenAI Choice
    calls = _field(response, "tool_calls")
    call = _field(calls[0], "function") if calls else _field(response, "function_call")
    if not call:
        return None, {}
    return _field(call, "name"), _parse_args(_field(call, "arguments"))


def _parse_args(raw: Any) -> Any:
    """Arguments as a dict (JSON text parsed; unparsable text or nothing: ``{}``)."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return {}
    return raw or {}


def _same_name(predicted: str, expected: str) -> bool:
    def canonical(name: str) -> str:
        return name.lower().replace("-", "_").replace(".", "_")

    for a, b in ((predicted, expected), (canonical(predicted), canonical(expected))):
        if a == b or a.endswith(b) or b.endswith(a):
            return True
    return False


def _same_args(predicted: Any, expected: Any) -> bool:
    predicted, expected = _as_mapping(predicted), _as_mapping(expected)
    if predicted is None or expected is None:
        return False
    if not predicted or not expected:
        return not predicted and not expected
    try:
        return _canonical_args(predicted) == _canonical_args(expected)
    except (TypeError, ValueError, AttributeError):
        return False


def _as_mapping(value: Any) -> Any:
    """JSON text parsed; ``None`` when it does not parse."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


def _canonical_args(args: dict[str, Any]) -> str:
    """Arguments as sorted JSON, string values that read as numbers turned into numbers."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if isinstance(value, str):
            value = _number_or_text(value)
        out[key] = value
    return json.dumps(out, sort_keys=True)


def _number_or_text(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()
