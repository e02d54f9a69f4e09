"""What the operator derives from the training pod's ``status.progress``: summary, ``Ready``, final progress.

The training pod's rank 0 writes ``status.progress`` itself (see ``docs/observability.md``); the operator
phrases conditions from it (:func:`progress_summary`, :func:`ready_condition`) and completes it when the
run succeeded (:func:`final_progress`). Stall detection is in :mod:`~training_hub_operator.stall`, usage in
:mod:`~training_hub_operator.usage`, failure reasons in :mod:`~training_hub_operator.failures`.
Nothing here calls the API.
"""

from __future__ import annotations

from typing import Any


def progress_summary(progress: dict[str, Any] | None) -> str:
    """One line: ``step 120/400 (30%), loss 1.234, 5120 tok/s, eta 2026-01-01T10:00:00Z``."""
    p = progress or {}
    if p.get("step") is None:
        return "no step yet"
    parts = [f"step {p['step']}/{p['totalSteps']}" if p.get("totalSteps") else f"step {p['step']}"]
    if p.get("percent") is not None:
        parts[0] += f" ({p['percent']}%)"
    if isinstance(p.get("loss"), int | float):
        parts.append(f"loss {p['loss']:.4g}")
    if isinstance(p.get("tokensPerSecond"), int | float):
        parts.append(f"{p['tokensPerSecond']:.0f} tok/s")
    if p.get("eta") and p.get("percent") != 100:
        parts.append(f"eta {p['eta']}")
    return ", ".join(parts)


def ready_condition(status: dict[str, Any]) -> tuple[str, str, str]:
    """The ``Ready`` condition ``(status, reason, message)``: True once the trained model is there.

    ``Ready`` summarises for tools that only look at one condition: ``True`` (``Succeeded``) when the run
    finished and its model is written; ``False`` with the current state's reason otherwise.
    """
    phase = status.get("phase") or "Pending"
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    model = ((status.get("outputs") or {}).get("modelUri")) or (status.get("progress") or {}).get(
        "lastCheckpoint"
    )
    if phase == "Succeeded":
        return (
            "True",
            "Succeeded",
            f"training finished; the model is at {model}" if model else "training finished",
        )
    if phase == "Failed":
        failed = conds.get("Failed") or {}
        return "False", str(failed.get("reason") or "Failed"), str(failed.get("message") or "the run failed")
    stalled = conds.get("Stalled") or {}
    if stalled.get("status") == "True":
        return "False", str(stalled.get("reason") or "Stalled"), str(stalled.get("message") or "")
    if phase == "Running":
        return "False", "Training", progress_summary(status.get("progress"))
    return "False", phase, f"the run is {phase.lower()}"


def final_progress(progress: dict[str, Any] | None, phase: str) -> dict[str, Any] | None:
    """Progress of an ended run: a succeeded run is at 100 % with no ETA pending (None: unchanged)."""
    if phase != "Succeeded" or not progress:
        return None
    out = dict(progress)
    if out.get("totalSteps"):
        out["step"] = max(int(out.get("step") or 0), int(out["totalSteps"]))
    out["percent"] = 100
    return out if out != progress else None
