"""Step output: a live progress bar on a terminal, one plain line per step otherwise (pod logs, files).

Plain lines are the engine's documented format (grep-able, one per step)::

    [training_hub] step 3/24 epoch 0 loss 5.1234 lr 3.000e-03 grad_norm 2.113 samples 48 tokens 492 (20000 tok/s)

On a TTY the same numbers update one line in place (``\\r``), with a bar, the percentage and the ETA; the
final state stays on screen. ``TRAINING_HUB_PROGRESS_BAR`` forces it (``on``) or plain lines (``off``);
``TRAINING_HUB_LOG_EVERY=N`` prints only every N-th plain line (and the last), for very long runs.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from training_hub.contracts.pod_env import read_switch
from training_hub.timefmt import format_duration


def step_line(row: Mapping[str, Any]) -> str:
    """The plain log line of a metrics row."""
    gn = row.get("grad_norm")
    return (
        f"[training_hub] step {row['step']}/{row['total_steps']} epoch {row['epoch']} "
        f"loss {row['loss']:.4f} lr {row['lr']:.3e} grad_norm {'inf' if gn is None else f'{gn:.3f}'} "
        f"samples {row['samples_seen']} tokens {row['tokens']} ({row['tokens_per_second']:.0f} tok/s)"
    )


def bar_line(row: Mapping[str, Any], eta_seconds: float | None, width: int = 28) -> str:
    """The progress-bar line of a metrics row (no trailing newline)."""
    step, total = int(row["step"]), max(1, int(row["total_steps"]))
    frac = min(1.0, step / total)
    filled = int(frac * width)
    partial = " ▏▎▍▌▋▊▉"[int((frac * width - filled) * 8)] if filled < width else ""
    bar = "█" * filled + partial
    eta = f" eta {format_duration(eta_seconds)}" if eta_seconds is not None and step < total else ""
    return (
        f"[{bar:<{width}}] {100 * frac:5.1f}% {step}/{total} loss {row['loss']:.4f} "
        f"lr {row['lr']:.2e} {row['tokens_per_second']:.0f} tok/s{eta}"
    )


class StepPrinter:
    """Prints steps as a bar on a terminal, as plain lines elsewhere.

    Args:
        stream: Where to print (default ``sys.stdout``).
        bar: Force the bar (True) or plain lines (False); default: from ``TRAINING_HUB_PROGRESS_BAR``, else
            whether ``stream`` is a TTY.
        every: Print every N-th plain line (and the last step); default ``TRAINING_HUB_LOG_EVERY`` or 1.
    """

    def __init__(
        self, stream: TextIO | None = None, bar: bool | None = None, every: int | None = None
    ) -> None:
        self.stream = stream or sys.stdout
        if bar is None:
            bar = read_switch("TRAINING_HUB_PROGRESS_BAR")
            if bar is None:
                isatty = getattr(self.stream, "isatty", None)
                bar = bool(isatty and isatty()) and os.environ.get("TERM", "") != "dumb"
        self.bar = bar
        if every is None:
            raw = os.environ.get("TRAINING_HUB_LOG_EVERY", "1").strip()
            every = int(raw) if raw.isdigit() and int(raw) > 0 else 1
        self.every = every
        self._start: tuple[int, float] | None = None
        self._open_line = False

    def step(self, row: Mapping[str, Any]) -> None:
        """Print one step."""
        step, total = int(row["step"]), int(row["total_steps"])
        now = time.monotonic()
        if self._start is None:
            self._start = (step, now)
        if not self.bar:
            if step % self.every == 0 or step >= total or step == self._start[0]:
                print(step_line(row), file=self.stream, flush=True)
            return
        first_step, t0 = self._start
        eta = None
        if step > first_step and now > t0:
            eta = (now - t0) / (step - first_step) * max(0, total - step)
        self.stream.write("\r\x1b[2K" + bar_line(row, eta))
        self._open_line = True
        if step >= total:
            self.stream.write("\n")
            self._open_line = False
        self.stream.flush()

    def message(self, text: str) -> None:
        """Print a line of text without breaking the bar (it is redrawn on the next step)."""
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
        print(text, file=self.stream, flush=True)
