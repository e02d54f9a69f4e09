"""From the engine's per-step metrics to ``TrainingRun.status.progress`` (pure, no I/O).

The wire form is the CRD's (camelCase): ``step``, ``totalSteps``, ``percent``, ``epoch`` (fractional),
``samplesSeen``, ``loss``, ``evalLoss`` and ``evalStep`` (the latest eval loss and its step, with eval
data), ``tokensPerSecond``, ``eta`` (RFC 3339), ``lastCheckpoint``, ``lastStepTime``
(RFC 3339, what the operator's stall check reads), ``startTime`` (first step of this process),
``elapsedSeconds`` (training time, continued across resumes), ``predictedSeconds`` (the first stable
prediction of the whole run's training time, kept to compare with the actual time), ``resumedFromStep``
and ``lossHistory`` (``{"steps": [...], "losses": [...]}``, at most :data:`HISTORY_POINTS` points, for
sparklines and plots); for ``dpo``, ``rewards`` (``chosen``, ``rejected``, ``accuracy``, ``margin``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any, TypeGuard

from training_hub.contracts.progress import Progress
from training_hub.pod.mounts import mount_root
from training_hub.storage.uri import mirrored_uri, user_location
from training_hub.timefmt import rfc3339

#: DPO's metrics-row keys -> ``status.progress.rewards`` keys.
REWARD_KEYS: dict[str, str] = {
    "rewards/chosen": "chosen",
    "rewards/rejected": "rejected",
    "rewards/accuracies": "accuracy",
    "rewards/margins": "margin",
}

#: Points kept in ``lossHistory`` (the status object stays small: ~2 KB).
HISTORY_POINTS = 96
#: Fraction of the steps after which the run-time prediction is frozen (the throughput has settled).
PREDICTION_FRACTION = 0.05
#: Steps that must be done before any ETA or prediction (the first steps include warm-up costs).
MIN_STEPS_FOR_ETA = 3


def checkpoint_uri(path: str, env: Mapping[str, str] | None = None) -> str:
    """The user-facing location of a checkpoint: ``/mnt/pvc/claim/x`` -> ``pvc://claim/x``.

    Paths under the local executor's mount root are mapped back first; other paths are returned as is.
    """
    environ = os.environ if env is None else env
    p = str(path)
    mirrored = mirrored_uri(p, environ)
    if mirrored:
        return mirrored
    root = mount_root(environ)
    if root and p.startswith(root.rstrip("/") + "/"):
        p = p[len(root.rstrip("/")) :]
    return user_location(p)


class LossHistory:
    """A bounded loss curve: every ``stride``-th step, the stride doubling whenever the buffer is full.

    The points stay evenly spread over the whole run whatever its length, and the last step is always
    present (:meth:`points` appends it).
    """

    def __init__(self, capacity: int = HISTORY_POINTS) -> None:
        if capacity < 4:
            raise ValueError("capacity must be at least 4")
        self.capacity = capacity
        self.stride = 1
        self._points: list[tuple[int, float]] = []
        self._last: tuple[int, float] | None = None

    def add(self, step: int, loss: float) -> None:
        """Record the loss of a step (non-finite losses are skipped)."""
        if not math.isfinite(loss):
            return
        self._last = (step, loss)
        if step % self.stride:
            return
        self._points.append((step, loss))
        if len(self._points) >= self.capacity:
            self.stride *= 2
            self._points = [p for p in self._points if p[0] % self.stride == 0]

    def points(self) -> list[tuple[int, float]]:
        """The kept ``(step, loss)`` points, ending with the latest step."""
        out = list(self._points)
        if self._last is not None and (not out or out[-1][0] != self._last[0]):
            out.append(self._last)
        return out

    def wire(self) -> dict[str, list[Any]]:
        """``{"steps": [...], "losses": [...]}`` (losses rounded to 5 significant digits)."""
        pts = self.points()
        return {"steps": [s for s, _ in pts], "losses": [float(f"{v:.5g}") for _, v in pts]}


class ProgressTracker:
    """Builds ``status.progress`` (:class:`~training_hub.contracts.progress.Progress`) from ``on_step`` rows
    and ``on_checkpoint`` calls; each method returns the wire form.

    Args:
        steps_per_epoch: Optimizer steps in one epoch, when known (makes ``epoch`` fractional); the
            engine puts it in its metrics rows as ``steps_per_epoch``.
        env: Environment (mount root, for checkpoint locations).
    """

    def __init__(self, steps_per_epoch: int | None = None, env: Mapping[str, str] | None = None) -> None:
        self.steps_per_epoch = steps_per_epoch
        self.env = dict(os.environ if env is None else env)
        self.history = LossHistory()
        self.current: Progress | None = None
        self.first_step: int | None = None
        self.first_time: float | None = None
        self.resumed_from_step: int | None = None
        self.predicted_seconds: float | None = None
        self.last_checkpoint: str | None = None
        self.last_checkpoint_time: float | None = None
        self.checkpoints = 0
        self.eval_loss: tuple[int, float] | None = None

    @property
    def progress(self) -> dict[str, Any]:
        """The latest progress in its wire form (empty before the first step)."""
        return self.current.wire() if self.current is not None else {}

    def on_step(self, row: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Update from one metrics row (see ``docs/training-engine.md``); return the progress."""
        step = int(row["step"])
        total = int(row.get("total_steps") or 0) or None
        loss = row.get("loss")
        elapsed = float(row.get("elapsed") or 0.0)
        if self.first_step is None:
            self.first_step, self.first_time = step, now
            if step > 1:
                self.resumed_from_step = step - 1
        spe = int(row.get("steps_per_epoch") or 0) or self.steps_per_epoch
        epoch = round(step / spe, 4) if spe else float(row.get("epoch") or 0)
        p: dict[str, Any] = {
            "step": step,
            "epoch": epoch,
            "samples_seen": int(row.get("samples_seen") or 0),
            "last_step_time": rfc3339(now),
            "elapsed_seconds": round(elapsed, 1),
        }
        if total:
            p["total_steps"] = total
            p["percent"] = _percent(step, total)
        if _finite(loss):
            p["loss"] = _round(loss)
            self.history.add(step, float(loss))
        eval_loss = row.get("eval_loss")
        if _finite(eval_loss):
            self.eval_loss = (step, float(eval_loss))
        if self.eval_loss is not None:
            p["eval_step"], p["eval_loss"] = self.eval_loss[0], _round(self.eval_loss[1])
        p["rewards"] = preference_rewards(row) or None
        tps = row.get("tokens_per_second")
        if _finite(tps) and tps >= 0:
            p["tokens_per_second"] = round(float(tps), 1)
        if self.first_time is not None:
            p["start_time"] = rfc3339(self.first_time)
        eta = self._eta(step, total, now, elapsed)
        if eta is not None:
            p["eta"] = rfc3339(eta)
        if self.predicted_seconds is not None:
            p["predicted_seconds"] = round(self.predicted_seconds, 1)
        p["resumed_from_step"] = self.resumed_from_step
        p["last_checkpoint"] = self.last_checkpoint
        p["loss_history"] = self.history.wire()
        self.current = Progress.model_validate(p)
        return self.progress

    def _eta(self, step: int, total: int | None, now: float, elapsed: float) -> float | None:
        """Seconds-since-epoch estimate of the end, from this process's own pace (not the resumed part)."""
        if not total or self.first_step is None or self.first_time is None:
            return None
        done_here = step - self.first_step
        if done_here < MIN_STEPS_FOR_ETA or now <= self.first_time:
            return None if step < total else now
        per_step = (now - self.first_time) / done_here
        remaining = max(0, total - step) * per_step
        if self.predicted_seconds is None and step >= max(MIN_STEPS_FOR_ETA, PREDICTION_FRACTION * total):
            self.predicted_seconds = elapsed + remaining
        return now + remaining

    def on_checkpoint(self, path: str, kind: str, now: float) -> dict[str, Any]:
        """Record a complete checkpoint (``hf``/``final`` are models users can load; ``full_state`` is for
        resuming: it is counted but does not replace ``lastCheckpoint``)."""
        self.checkpoints += 1
        self.last_checkpoint_time = now
        if kind in ("hf", "final"):
            self.last_checkpoint = checkpoint_uri(path, self.env)
            if self.current is not None:
                self.current = self.current.model_copy(update={"last_checkpoint": self.last_checkpoint})
        return self.progress

    def on_train_end(self, summary: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Final progress: 100 % when every step ran, the final loss, the final model."""
        p = self.current.model_dump(exclude_none=True) if self.current is not None else {}
        steps = int(summary.get("steps") or p.get("step") or 0)
        total = int(summary.get("total_steps") or p.get("total_steps") or 0)
        p["step"] = steps
        if total:
            p["total_steps"] = total
            p["percent"] = _percent(steps, total)
        loss = summary.get("final_loss")
        if _finite(loss):
            p["loss"] = _round(loss)
        if summary.get("samples_seen") is not None:
            p["samples_seen"] = int(summary["samples_seen"])
        out_path = summary.get("output_model_path")
        if out_path:
            p["last_checkpoint"] = checkpoint_uri(str(out_path), self.env)
        p["eta"] = rfc3339(now)
        p["loss_history"] = self.history.wire()
        self.current = Progress.model_validate(p)
        return self.progress


def _finite(value: object) -> TypeGuard[int | float]:
    """Whether a metrics value is a finite number."""
    return isinstance(value, int | float) and math.isfinite(value)


def _round(value: float) -> float:
    """A loss or reward as reported: 6 significant digits."""
    return float(f"{value:.6g}")


def _percent(step: int, total: int) -> int:
    return max(0, min(100, int(100 * step // total)))


def preference_rewards(row: Mapping[str, Any]) -> dict[str, float]:
    """``status.progress.rewards`` of a DPO metrics row (empty for other algorithms)."""
    out = {}
    for key, name in REWARD_KEYS.items():
        value = row.get(key)
        if _finite(value):
            out[name] = _round(value)
    return out
