"""Helpers for standard conditions held as plain dicts (the wire form in ``status.conditions``)."""

from __future__ import annotations

import copy
from typing import Any

from training_hub.timefmt import now_rfc3339
from training_hub_operator.api.status import CONDITION_TYPES


def get_condition(conditions: list[dict[str, Any]] | None, type_: str) -> dict[str, Any] | None:
    """Return the condition of a type, or None."""
    for c in conditions or []:
        if c.get("type") == type_:
            return c
    return None


def is_true(conditions: list[dict[str, Any]] | None, type_: str) -> bool:
    """Whether the condition of a type exists with status True."""
    c = get_condition(conditions, type_)
    return bool(c and c.get("status") == "True")


def set_condition(
    conditions: list[dict[str, Any]] | None,
    type_: str,
    status: bool | str,
    reason: str,
    message: str = "",
    *,
    generation: int | None = None,
    now: str | None = None,
) -> list[dict[str, Any]]:
    """Return a copy of ``conditions`` with one condition set.

    ``lastTransitionTime`` changes only when the status changes, so setting the same condition twice gives
    an equal list (and no status patch).

    Args:
        conditions: Current conditions.
        type_: Condition type.
        status: True/False or ``"True"``/``"False"``/``"Unknown"``.
        reason: CamelCase reason.
        message: Human-readable detail.
        generation: The spec generation this reflects.
        now: Timestamp to use for a transition (default: now).

    Returns:
        The new list, ordered by :data:`CONDITION_TYPES` then by type.
    """
    status_s = ("True" if status else "False") if isinstance(status, bool) else status
    out = [copy.deepcopy(c) for c in conditions or [] if c.get("type") != type_]
    old = get_condition(conditions, type_)
    ltt = old.get("lastTransitionTime") if old and old.get("status") == status_s else None
    new: dict[str, Any] = {
        "type": type_,
        "status": status_s,
        "reason": reason,
        "message": message,
        "lastTransitionTime": ltt or now or now_rfc3339(),
    }
    if generation is not None:
        new["observedGeneration"] = generation
    out.append(new)
    order = {t: i for i, t in enumerate(CONDITION_TYPES)}
    out.sort(key=lambda c: (order.get(c.get("type", ""), len(order)), c.get("type", "")))
    return out


def remove_condition(conditions: list[dict[str, Any]] | None, type_: str) -> list[dict[str, Any]]:
    """Return a copy of ``conditions`` without the condition of a type."""
    return [copy.deepcopy(c) for c in conditions or [] if c.get("type") != type_]
